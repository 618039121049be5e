"""The router's policy driver: the policy's queue and replica views, ``schedule()`` called and its return checked
by the simulator's contract (``contract.route_pairs``, plus the two checks only a live router needs: the replica is
serving, the request is waiting), the pairs routed, and the least-loaded-queue fallback when the policy fails. A part
of ``Router`` (``router.py``), whose state it shares; runs on the event loop, which is the lock."""

from __future__ import annotations

import logging
import math

from glia.graph.serving.jobs import Job
from glia.graph.serving.views import ServedReplica, ServedRequest
from glia.simulator.policy.builtin import LLQGlobalScheduler
from glia.simulator.policy.contract import policy_exception, route_pairs
from glia.simulator.request import PolicyViolation

log = logging.getLogger("glia.router")


def _policy_message(exc: BaseException) -> str:
    if not isinstance(exc, PolicyViolation):
        exc = policy_exception(exc, "schedule")
    return f"{exc.kind}: {exc}"


class PolicyDriver:
    """The policy's side of the router (see the module docstring)."""

    def _serving(self) -> dict[int, ServedReplica]:
        return {b.index: self.views[b.index] for b in self.backends if b.healthy}

    def schedule(self) -> None:
        """Call the policy once (synchronously: the event loop is the lock) and route what it returns."""
        serving = self._serving()
        if not serving:
            return  # requests wait until a backend is back (or their queue timeout)
        for b in self.backends:
            if b.healthy:
                self.views[b.index].arrange(int(b.last_scrape.waiting) if b.last_scrape.waiting else None)
        try:
            pairs = self.policy.schedule()
            self._route(self._checked(pairs, serving))
        except (Exception, MemoryError) as exc:  # noqa: B014 - a broken policy must not take the router down
            self._fallback(serving, _policy_message(exc))
        stalled = self.waiting and all(v.is_idle for v in serving.values())
        self._stalled_since = (self._stalled_since or self.now()) if stalled else None

    def _checked(self, pairs, serving: dict[int, ServedReplica]) -> list[tuple[int, ServedRequest]]:
        """The checks of ``simulator/policy/contract.py`` on schedule()'s return (``route_pairs``: its shape, the
        same kinds and messages as in the simulator), then the two only a live router makes: the replica is serving,
        the request is waiting and routed once. All made before anything is routed."""
        out, seen = [], set()
        for rid, r in route_pairs(pairs, ServedRequest):
            if isinstance(rid, bool) or not hasattr(rid, "__index__") or int(rid) not in serving:
                raise PolicyViolation("invalid_replica", f"schedule() routed request {r._r_id} to replica {rid!r}; "
                                      f"valid replica ids now: {sorted(serving)}")
            if r._r_id not in self.waiting or r._r_id in seen:
                raise PolicyViolation("routed_twice", f"request {r._r_id} was routed twice (first to replica "
                                      f"{r._r_replica_id}, again to replica {rid})")
            seen.add(r._r_id)
            out.append((int(rid), r))
        return out

    def _route(self, pairs: list[tuple[int, ServedRequest]]) -> None:
        now = self.now()
        for rid, r in pairs:
            job = self.waiting.pop(r._r_id)
            r._r_routed_at = now
            if math.isnan(job.first_routed_at):
                job.first_routed_at = now
            self.views[rid].add(r)
            self._busy_since.setdefault(rid, now)
            self._event(now, "route", r._r_id, rid, r._r_prompt)
            job.routed.set_result(rid)
        routed = {r._r_id for _, r in pairs}
        if routed:
            queue = self.policy._request_queue
            queue[:] = [q for q in queue if q._r_id not in routed]

    def _fallback(self, serving: dict[int, ServedReplica], message: str) -> None:
        """Route every waiting request by least-loaded-queue, this once, and say why."""
        self.policy_errors += 1
        self.last_policy_error = message
        log.error("policy %s: %s; routing %d waiting request(s) by least-loaded-queue", self.policy_name, message,
                  len(self.waiting))
        self._event(self.now(), "policy_error", -1, -1, len(self.waiting))
        held = sorted((j.view for j in self.waiting.values()), key=lambda r: (r._r_arr, r._r_id))
        self.policy._request_queue[:] = held
        fallback = LLQGlobalScheduler(None, serving)
        fallback._request_queue = list(held)
        pairs = fallback.schedule()
        self.fallback_routed += len(pairs)
        self._route(pairs)

    def _enqueue(self, job: Job) -> None:
        self.waiting[job.view._r_id] = job
        self.policy._request_queue.append(job.view)
        self.schedule()

    def _unqueue(self, job: Job) -> None:
        if self.waiting.pop(job.view._r_id, None) is not None:
            queue = self.policy._request_queue
            queue[:] = [q for q in queue if q is not job.view]

    def _idle_check(self, rid: int) -> None:
        if self.views[rid].is_idle and rid in self._busy_since:
            self.busy_s[rid] = self.busy_s.get(rid, 0.0) + self.now() - self._busy_since.pop(rid)

    def _event(self, t: float, kind: str, request_id: int, replica_id: int, value: int = 0) -> None:
        if self.recorder:
            self.recorder.event(t, kind, request_id, replica_id, value)
