"""What a routing policy sees of a real deployment: the simulator's request and replica surface, built from the
router's own bookkeeping, so that a policy file written for the simulator runs unchanged in front of real servers.

A request is *pending* on its backend from routing until the backend takes it up, then *active* until it completes.
A batching server (vLLM) answers with headers at once: that is taken as the start, and when it reports
``vllm:num_requests_waiting``, that many of the most recently routed requests without a first token are shown still
waiting. A server that runs one request at a time (llama-cpp-python) also answers at once but then waits for its
lock, so there a request is taken up at its first token (its prefill is spent shown pending).
Its processed-token count is 0 until the first token, then prompt + tokens streamed so far, as in the simulator
(where the prefill's last iteration samples the first token). A replica's allocated blocks are the router's
estimate: each active request holds the blocks of ``max(prompt, processed)`` tokens. What the backend reports of its
own cache is recorded beside it, never mixed in.
"""

from __future__ import annotations

import math

from glia.simulator.replica import ReplicaConfig
from glia.simulator.request import read_only_surface


class ServedRequest:
    """One request in the router, with the simulator ``Request``'s read-only surface. The router owns the slots;
    ``_r_arr`` and ``_r_id`` keep the simulator's names because ``BaseGlobalScheduler.sort_requests`` reads them."""

    __slots__ = ("_r_arr", "_r_generated", "_r_id", "_r_prompt", "_r_replica_id", "_r_restarts", "_r_routed_at",
                 "_r_started", "_r_t_first", "_r_t_sched")

    def __init__(self, rid: int, arrived_at: float, num_prefill_tokens: int):
        self._r_id = rid
        self._r_arr = float(arrived_at)
        self._r_prompt = max(1, int(num_prefill_tokens))
        self._r_generated = 0
        self._r_restarts = 0
        self._r_replica_id = -1
        self._r_started = False
        self._r_routed_at = self._r_t_sched = self._r_t_first = math.nan

    def _r_processed(self) -> int:
        return self._r_prompt + self._r_generated if self._r_generated else 0

    def __repr__(self) -> str:
        return (f"Request(id={self._r_id}, arrived_at={self._r_arr:.3f}, num_prefill_tokens={self._r_prompt}, "
                f"num_processed_tokens={self._r_processed()}, num_restarts={self._r_restarts})")


_READABLE = {
    ("id", "_id"): lambda r: r._r_id,
    ("arrived_at", "_arrived_at"): lambda r: r._r_arr,
    ("num_prefill_tokens", "_num_prefill_tokens"): lambda r: r._r_prompt,
    ("num_processed_tokens", "_num_processed_tokens"): ServedRequest._r_processed,
    ("num_restarts", "_num_restarts"): lambda r: r._r_restarts,
    ("is_prefill_complete", "_is_prefill_complete"): lambda r: r._r_generated > 0,
    ("scheduled", "_scheduled"): lambda r: r._r_t_sched == r._r_t_sched,
    ("scheduled_at", "_scheduled_at"): lambda r: r._r_t_sched,
    ("replica_id",): lambda r: r._r_replica_id,
}
read_only_surface(ServedRequest, _READABLE)


class ServedReplica:
    """One backend as the simulator's ``ReplicaScheduler`` shows a replica to a global scheduler."""

    def __init__(self, replica_id: int, config: ReplicaConfig):
        self.replica_id = replica_id
        self._config = config
        self.pending: list[ServedRequest] = []
        self.active: list[ServedRequest] = []
        self.accepting = True

    @property
    def _request_queue(self) -> list[ServedRequest]:
        return self.pending

    @property
    def pending_queue(self) -> list[ServedRequest]:
        return self.pending

    @property
    def active_queue(self) -> list[ServedRequest]:
        return self.active

    _active_queue = active_queue

    @property
    def num_pending_requests(self) -> int:
        return len(self.pending)

    @property
    def num_active_requests(self) -> int:
        return len(self.active)

    @property
    def num_blocks(self) -> int:
        return self._config.num_blocks

    @property
    def block_size(self) -> int:
        return self._config.block_size

    @property
    def num_allocated_blocks(self) -> int:
        bs = self._config.block_size
        return sum(-(-max(r._r_prompt, r._r_processed()) // bs) for r in self.active)

    _num_allocated_blocks = num_allocated_blocks

    @property
    def memory_usage_percent(self) -> float:
        return 100.0 * self.num_allocated_blocks / self._config.num_blocks

    @property
    def free_blocks(self) -> int:
        return self._config.num_blocks - self.num_allocated_blocks

    @property
    def is_idle(self) -> bool:
        return not self.pending and not self.active

    # -- router side ----------------------------------------------------------------------------------------
    def add(self, request: ServedRequest) -> None:
        request._r_replica_id = self.replica_id
        self.pending.append(request)

    def remove(self, request: ServedRequest) -> None:
        for queue in (self.pending, self.active):
            if request in queue:
                queue.remove(request)

    def arrange(self, waiting_reported: int | None) -> None:
        """Split the requests between the two queues: started ones are active, except that when the backend reports
        ``waiting_reported`` requests still waiting, the youngest not-yet-producing ones are shown pending."""
        everyone = sorted(self.pending + self.active, key=lambda r: (r._r_routed_at, r._r_id))
        unstarted = [r for r in everyone if not r._r_started]
        silent = [r for r in everyone if r._r_started and not r._r_generated]
        extra = max(0, (waiting_reported or 0) - len(unstarted))
        chosen = {id(r) for r in unstarted + (silent[-extra:] if extra else [])}
        self.pending[:] = [r for r in everyone if id(r) in chosen]
        self.active[:] = sorted((r for r in everyone if id(r) not in chosen), key=lambda r: (r._r_arr, r._r_id))
