"""A policy file served to the router from a confined process, never in the router's own process.

The router holds the views (``views.py``) and calls ``schedule()`` as before; ``ConfinedPolicy`` stands in for the
policy object: each call sends the policy's process what changed since the previous one (new requests, each
replica's queues and estimated KV use, requests whose state changed: ``hardened.py``'s protocol, which the
simulator's hardened mode drives the same way) and gets back (replica id, request id) pairs and the policy's queue.
The policy's process is a hardened seed's policy process (``sandbox.PolicyWorker``): forked from the clean server,
confined (no writes, no network, no processes, reads of the Python installation only), its file's bytes read here
before anything ran. What it prints is logged as text.

Failures keep the router serving: an error of the policy is a ``PolicyViolation`` (the router routes that call
itself, as before); a call that takes longer than ``call_timeout_s``, or a process that dies (its memory cap, a
crash), is killed and started again with a fresh policy, up to ``max_restarts`` times, after which every call is
routed by the router's fallback and ``status`` says so.
"""

from __future__ import annotations

import logging
from dataclasses import astuple

from glia.graph.serving.views import ServedReplica, ServedRequest
from glia.simulator.harness.hardened import reply_pairs
from glia.simulator.harness.sandbox import PolicyWorker, WorkerError
from glia.simulator.policy.loader import PolicySource, read_policy
from glia.simulator.request import PolicyViolation

log = logging.getLogger("glia.router")

MAX_RESTARTS = 3


class ConfinedPolicy:
    """The router's policy object for a policy file (see the module docstring)."""

    def __init__(self, source: PolicySource, cluster: dict, replicas: dict[int, ServedReplica], now,
                 call_timeout_s: float = 2.0, max_restarts: int = MAX_RESTARTS, allow_unconfined: bool = False):
        self.source, self.cluster, self.now = source, cluster, now
        self.all = dict(replicas)                      # every replica ever shown, by id
        self.call_timeout_s, self.max_restarts = call_timeout_s, max_restarts
        self.allow_unconfined = allow_unconfined
        self._request_queue: list[ServedRequest] = []  # the router's copy (it appends, filters and resets it)
        self.serving = tuple(sorted(replicas))
        self.restarts = 0
        self.disabled: str | None = None               # why the policy is no longer asked
        self.worker: PolicyWorker | None = None
        self._start()

    @property
    def isolation(self) -> str:
        return self.worker.isolation if self.worker else ""

    def _start(self) -> None:
        self.worker = PolicyWorker({"router": self.source}, call_timeout_s=self.call_timeout_s,
                                   allow_unconfined=self.allow_unconfined)
        self.sent_reqs: dict[int, tuple] = {}     # request id -> the state the process has
        self.sent_reps: dict[int, tuple] = {}     # replica id -> (alloc, pending ids, active ids) it has
        self.mirror: list[int] = []               # the policy's queue, as the process last reported it
        self.stale = False                        # a call failed: the process's queue must be stated again
        self.sent_serving = self.serving
        self.worker.ask(("init_served", self.cluster, 0, None))
        self.worker.ask(("router", *self._changes(), self.serving))

    def _changes(self) -> tuple:
        """(now, new replicas, replica changes, request changes) since the previous message."""
        new = [(rid, astuple(rep._config)) for rid, rep in self.all.items() if rid not in self.sent_reps]
        reqs: list[tuple] = []

        def note(r: ServedRequest) -> None:
            n = r._r_processed()
            st = (int(r._r_prompt), n, n, r._r_generated > 0, int(r._r_restarts), float(r._r_t_sched),
                  int(r._r_replica_id), int(r._r_replica_id) if r._r_replica_id >= 0 else -1)
            if self.sent_reqs.get(r._r_id) != st:
                reqs.append((r._r_id, float(r._r_arr), *st))
                self.sent_reqs[r._r_id] = st

        for r in self._request_queue:
            note(r)
        reps = []
        for rid, rep in self.all.items():
            for r in rep.pending:
                note(r)
            for r in rep.active:
                note(r)
            pend, act = tuple(r._r_id for r in rep.pending), tuple(r._r_id for r in rep.active)
            alloc = int(rep.num_allocated_blocks)
            last = self.sent_reps.get(rid)
            if last != (alloc, pend, act):
                reps.append((rid, 0, alloc, pend if not last or last[1] != pend else None,
                             act if not last or last[2] != act else None))
                self.sent_reps[rid] = (alloc, pend, act)
        # requests that ended leave the process's memory (the router forgets them too)
        live = {r._r_id for r in self._request_queue} | {r._r_id for rep in self.all.values()
                                                        for r in (*rep.pending, *rep.active)}
        for rid in [i for i in self.sent_reqs if i not in live]:
            del self.sent_reqs[rid]
        return float(self.now()), new, reps, reqs

    def _set_replicas(self, serving: dict[int, ServedReplica]) -> None:
        self.all.update(serving)
        self.serving = tuple(sorted(serving))

    def schedule(self) -> list[tuple[int, ServedRequest]]:
        if self.disabled:
            raise PolicyViolation("policy_disabled", self.disabled)
        if self.worker is None:
            self._restart("")
        try:
            return self._call()
        except WorkerError as exc:
            self._restart(f"{exc.kind}: {exc}")
            raise PolicyViolation(exc.kind, f"{exc} (the policy process was started again)") from None
        finally:
            out = self.worker.take_output() if self.worker else ""
            if out:
                log.warning("policy %s printed (as text): %s", self.source.spec, out)

    def _restart(self, why: str) -> None:
        if self.worker is not None:
            self.worker.close()
            self.worker = None
        if self.restarts >= self.max_restarts:
            self.disabled = (f"the policy process failed {self.restarts + 1} times (last: {why}); the router routes "
                             "by least-loaded-queue from now on")
            return
        self.restarts += 1
        log.warning("policy %s: %s; starting its process again (%d of %d)", self.source.spec, why, self.restarts,
                    self.max_restarts)
        try:
            self._start()
        except (WorkerError, PolicyViolation) as exc:
            self.worker = None
            self.disabled = f"the policy process could not be started again: {exc}"

    def _call(self) -> list[tuple[int, ServedRequest]]:
        worker = self.worker
        by_id = {r._r_id: r for r in self._request_queue}
        kept = [i for i in self.mirror if i in by_id]
        if kept != self.mirror or self.stale:  # the router took requests out (routed them itself, timed out)
            worker.ask(("set_queue", kept))
            self.mirror, self.stale = kept, False
        queued = set(self.mirror)
        arrivals = [r._r_id for r in self._request_queue if r._r_id not in queued]
        serving = self.serving if self.serving != self.sent_serving else None
        try:
            reply = worker.ask(("call", *self._changes(), arrivals, serving))
        except PolicyViolation:
            # the process's queue is unknown after a failed call: the next call states it
            self.mirror = self.mirror + [i for i in arrivals if i not in self.mirror]
            self.stale = True
            raise
        self.sent_serving = self.serving
        if "queue" in reply:
            ids = reply["queue"]
            if not isinstance(ids, list) or not all(isinstance(i, int) for i in ids):
                raise PolicyViolation("bad_return", "the policy process sent a malformed queue")
            self.mirror = ids
        else:
            self.mirror = self.mirror + arrivals
        pairs = reply_pairs(reply)
        if pairs is None:
            return None
        out = []
        for rid, req in pairs:
            r = by_id.get(req)
            if r is None:
                raise PolicyViolation("bad_return", f"schedule() returned request {req}, which is not waiting")
            if not isinstance(rid, int):
                raise PolicyViolation("invalid_replica", f"schedule() routed request {req} to replica {rid}; "
                                      f"valid replica ids now: {list(self.serving)}")
            out.append((rid, r))
        return out

    def close(self) -> None:
        if self.worker is not None:
            out = self.worker.take_output()
            if out:
                log.warning("policy %s printed (as text): %s", self.source.spec, out)
            self.worker.close()
            self.worker = None


def served_policy(spec: str, cluster: dict, replicas: dict[int, ServedReplica], now, call_timeout_s: float = 2.0,
                  allow_unconfined: bool = False) -> ConfinedPolicy:
    """The policy file ``spec`` (``PATH.py[:Class]``) served from a confined process; a ``ValueError`` saying why
    when it cannot start (its file, its load, its ``__init__``, a machine that cannot confine it)."""
    try:
        source = read_policy(spec)
        return ConfinedPolicy(source, cluster, replicas, now, call_timeout_s, allow_unconfined=allow_unconfined)
    except (WorkerError, PolicyViolation) as exc:
        raise ValueError(f"the policy failed to start: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - a load error names the file and line
        raise ValueError(f"the policy failed to start: {exc}") from None
