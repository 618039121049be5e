"""The hardened mode: the policy in a confined process of its own, driven by the trusted simulator over a pipe.

The policy process holds nothing but what it is sent: views of the waiting requests and of each replica (the
documented API; no decode length anywhere). At each ``schedule()`` call the simulator sends what changed since the
previous call (new arrivals, queue membership, each replica's iteration counter and KV use, requests whose state
changed), and receives JSON: (replica id, request id) pairs, the ids of its queue when it changed, and which
replicas the policy read time-dependent state of. View objects are kept across calls, so a policy that caches
per-request state works unchanged.

Results equal the normal mode's seed for seed: views show what the engine's objects would (``ReplicaScheduler.peek``
computes it without side effects), and the replicas the policy read are brought up to date afterwards
(``_sync_now``), exactly as a read in the normal mode does. The simulator's side never unpickles what the policy
process sends.
"""

from __future__ import annotations

import json
import math
import types
from dataclasses import asdict, astuple
from types import SimpleNamespace

import numpy as np

from . import guard
from .config import ClusterConfig
from .contract import call_policy, call_schedule, policy_exception, route_pairs
from .global_scheduler import BaseGlobalScheduler
from .loader import PolicyLoadError, PolicySource, load_policy
from .replica import ReplicaAPI, ReplicaConfig
from .request import HIDDEN_FIELDS, PolicyViolation, Request

MAX_REPLY = 64 << 20
_TOUCHED: set[int] = set()   # (policy process) replicas whose time-dependent state the policy read in this call
_TOKEN = object()


class PolicyProcessDied(PolicyViolation):
    """The policy's process ended during the run (its exit code says how)."""

    def __init__(self):
        super().__init__("policy_process_died", "the policy process ended during the run")


# -- the policy process's view of the cluster -----------------------------------------------------------------------
def _refuse(name: str):
    def write(self, value):
        raise PolicyViolation("mutated_request", f"policy assigned request.{name}; request state is read-only")
    return write


def _hidden(name: str) -> property:
    def read(self):
        raise PolicyViolation(
            "hidden_field", f"policy read request.{name}: the decode length is unknown to a scheduler until the "
            "request completes; use num_prefill_tokens, num_processed_tokens and arrived_at")
    return property(read, _refuse(name))


class RequestView:
    """A request as the policy process knows it (the documented read-only fields)."""

    __slots__ = ("_v_id", "_v_arr", "_v_prompt", "_v_n", "_v_base", "_v_dec", "_v_restarts", "_v_sched",
                 "_v_replica", "_v_rep")

    def __init__(self, token, rid: int, arrived_at: float):
        if token is not _TOKEN:
            raise PolicyViolation("bad_return", "requests are created by the simulator, not by policies")
        self._v_id, self._v_arr = rid, arrived_at
        self._v_prompt = self._v_n = self._v_base = self._v_restarts = self._v_replica = 0
        self._v_dec, self._v_sched, self._v_rep = False, math.nan, None

    def _processed(self) -> int:
        if self._v_dec:
            _TOUCHED.add(self._v_rep._v_id)
            return self._v_base + self._v_rep._v_epoch
        return self._v_n

    def __repr__(self) -> str:
        return (f"Request(id={self._v_id}, arrived_at={self._v_arr:.3f}, num_prefill_tokens={self._v_prompt}, "
                f"num_processed_tokens={self._processed()}, num_restarts={self._v_restarts})")


_VIEW_FIELDS = {
    ("id", "_id"): lambda r: r._v_id,
    ("arrived_at", "_arrived_at"): lambda r: r._v_arr,
    ("num_prefill_tokens", "_num_prefill_tokens"): lambda r: r._v_prompt,
    ("num_processed_tokens", "_num_processed_tokens"): RequestView._processed,
    ("num_restarts", "_num_restarts"): lambda r: r._v_restarts,
    ("is_prefill_complete", "_is_prefill_complete"): lambda r: r._v_dec,
    ("scheduled", "_scheduled"): lambda r: not math.isnan(r._v_sched),
    ("scheduled_at", "_scheduled_at"): lambda r: r._v_sched,
    ("replica_id",): lambda r: r._v_replica,
}
for _names, _getter in _VIEW_FIELDS.items():
    for _name in _names:
        setattr(RequestView, _name, property(_getter, _refuse(_name)))
for _name in HIDDEN_FIELDS:
    setattr(RequestView, _name, _hidden(_name))
del _names, _getter, _name


class ReplicaView(ReplicaAPI):
    """A replica as the policy process knows it (the documented reads, as in the normal mode)."""

    __slots__ = ("_v_id", "_v_config", "_v_epoch", "_v_alloc", "_v_pending", "_v_active")

    def __init__(self, replica_id: int, config: ReplicaConfig):
        self._v_id, self._v_config = replica_id, config
        self._v_epoch = self._v_alloc = 0
        self._v_pending: list[RequestView] = []
        self._v_active: list[RequestView] = []

    def _state(self) -> tuple:
        return self._v_id, self._v_pending, self._v_active, self._v_config

    def _blocks(self) -> int:
        _TOUCHED.add(self._v_id)
        return self._v_alloc


def _encode_rid(rid) -> object:
    if isinstance(rid, (int, np.integer)) and not isinstance(rid, bool):
        return int(rid)
    return {"repr": repr(rid)[:200]}


def _reply(conn, **fields) -> None:
    conn.send_bytes(json.dumps(fields).encode())


def _error(exc: BaseException) -> dict:
    if isinstance(exc, PolicyViolation):
        return {"kind": exc.kind, "message": str(exc)}
    if isinstance(exc, PolicyLoadError):
        return {"kind": "load_error", "message": str(exc)}
    if isinstance(exc, MemoryError):
        return {"kind": "memory", "message": "the simulation ran out of memory (memory cap reached; MemoryError)"}
    return {"kind": "exception", "message": str(policy_exception(exc, "schedule"))}


def serve_policy(conn, src: PolicySource) -> None:
    """The policy process: load the policy against views, then answer ``schedule()`` calls until told to stop."""
    api = guard.api_modules(RequestView, BaseGlobalScheduler, ReplicaView)
    try:
        cls = load_policy(src, api=api)
    except (PolicyLoadError, PolicyViolation) as exc:
        _reply(conn, error=_error(exc))
        return
    requests: dict[int, RequestView] = {}
    replicas: dict[int, ReplicaView] = {}
    sched = None
    queue_sent: list[int] = []
    while True:
        msg = conn.recv()
        if msg[0] == "end":
            return
        try:
            if msg[0] == "init":
                _, cluster, seed, static = msg
                cluster = ClusterConfig(**cluster)
                for rid, config in static:
                    replicas[rid] = ReplicaView(rid, ReplicaConfig(*config))
                config = SimpleNamespace(cluster=cluster, seed=seed)
                sched = call_policy(lambda c=config: cls(c, dict(replicas)), "__init__")
                queue_sent = []
                _reply(conn, ok=True)
                continue
            _, arrivals, serving, new_replicas, rep_changes, req_changes = msg
            for rid, config in new_replicas:
                replicas[rid] = ReplicaView(rid, ReplicaConfig(*config))
            for rid, arrived in arrivals:
                requests[rid] = RequestView(_TOKEN, rid, arrived)
            for rid, prompt, n, base, dec, restarts, sched_at, replica, rep in req_changes:
                v = requests[rid]
                v._v_prompt, v._v_n, v._v_base, v._v_dec, v._v_restarts = prompt, n, base, dec, restarts
                v._v_sched, v._v_replica, v._v_rep = sched_at, replica, replicas.get(rep)
            for rid, epoch, alloc, pending, active in rep_changes:
                view = replicas[rid]
                view._v_epoch, view._v_alloc = epoch, alloc
                if pending is not None:
                    view._v_pending = [requests[i] for i in pending]
                if active is not None:
                    view._v_active = [requests[i] for i in active]
            if serving is not None:
                sched._set_replicas({rid: replicas[rid] for rid in serving})
            for rid, _ in arrivals:
                sched._request_queue.append(requests[rid])
            _TOUCHED.clear()
            pairs = call_schedule(sched)
            reply: dict = {}
            if pairs is None:
                reply["pairs"] = None
            elif not pairs:
                reply["pairs"] = []
            else:
                reply["pairs"], routed = _encode_pairs(pairs, requests)
                queue = sched._request_queue
                if any(isinstance(q, RequestView) and q._v_id in routed for q in queue):
                    queue[:] = [q for q in queue if not (isinstance(q, RequestView) and q._v_id in routed)]
            ids = [q._v_id if isinstance(q, RequestView) else -1 for q in sched._request_queue]
            if ids != queue_sent:
                reply["queue"] = queue_sent = ids
            reply["touched"] = sorted(_TOUCHED)
            _reply(conn, **reply)
        except (PolicyViolation, MemoryError, Exception) as exc:
            _reply(conn, error=_error(exc))
            return


def _encode_pairs(pairs: list, requests: dict[int, RequestView]) -> tuple[list, set[int]]:
    """The pairs as JSON (replica id, request id), refusing what the engine's contract refuses by shape."""
    out, routed = [], set()
    for rid, r in route_pairs(pairs, RequestView):
        if requests.get(r._v_id) is not r:
            raise PolicyViolation("bad_return", f"schedule() returned a request it was not given ({r!r})")
        out.append([_encode_rid(rid), r._v_id])
        routed.add(r._v_id)
    return out, routed


# -- the simulator's side --------------------------------------------------------------------------------------------
class _Repr:
    """A replica id the policy returned that is not an integer, shown as the policy's object was."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text

    __str__ = __repr__


class RemoteScheduler(BaseGlobalScheduler):
    """Stands in for the policy in the trusted simulator: each call sends what changed and applies the answer."""

    conn = None

    def __init__(self, config=None, replicas: dict | None = None):
        super().__init__(config, replicas)
        self._all: dict[int, object] = {rid: h._rep for rid, h in self._replica_schedulers.items()}  # ever serving
        self._rep_sent: dict[int, tuple] = {}  # replica id -> (epoch, alloc, signature, pending ids, active ids)
        self._req_sent: dict[int, tuple] = {}  # request id -> last state sent
        self._given: dict[int, Request] = {}   # every request the policy was given
        self._serving_sent = tuple(sorted(self._replica_schedulers))
        static = [(rid, astuple(rep._config)) for rid, rep in sorted(self._all.items())]
        self._ask(("init", asdict(config.cluster), config.seed, static))  # plain data: nothing to unpickle

    def _ask(self, msg: tuple) -> dict:
        try:
            self.conn.send(msg)
            data = self.conn.recv_bytes(MAX_REPLY)
        except (EOFError, OSError):
            raise PolicyProcessDied() from None
        try:
            reply = json.loads(data)
        except ValueError:
            raise PolicyViolation("bad_return", "the policy process sent a malformed reply") from None
        if not isinstance(reply, dict):
            raise PolicyViolation("bad_return", "the policy process sent a malformed reply")
        err = reply.get("error")
        if err is not None:
            kind = err.get("kind") if isinstance(err, dict) else None
            raise PolicyViolation(kind if isinstance(kind, str) else "exception", str(err.get("message", err))
                                  if isinstance(err, dict) else str(err))
        return reply

    def _note(self, r: Request, changes: list) -> None:
        """Add ``r``'s state to ``changes`` if it differs from what the policy process has."""
        rep = r._r_rep
        st = (r._r_prompt, r._r_n, r._r_base, r._r_decoding, r._r_restarts, r._r_t_sched, r._r_replica_id,
              rep.replica_id if rep is not None else -1)
        if self._req_sent.get(r._r_id) != st:
            changes.append((r._r_id, *st))
            self._req_sent[r._r_id] = st

    def schedule(self):
        new_reps = [(rid, astuple(h._rep._config)) for rid, h in self._replica_schedulers.items()
                    if rid not in self._all]
        self._all.update({rid: h._rep for rid, h in self._replica_schedulers.items()})
        serving = tuple(sorted(self._replica_schedulers))
        arrivals = [r for r in self._request_queue if r._r_id not in self._given]
        req_changes: list[tuple] = []
        for r in arrivals:
            self._given[r._r_id] = r
            self._note(r, req_changes)
        rep_changes = []
        for rid, rep in self._all.items():
            epoch, alloc = rep.peek()
            last = self._rep_sent.get(rid)
            # a replica's requests change only when it plans a new segment (version) or a request is routed to it
            sig = (rep.version, len(rep.pending), len(rep.active))
            if last is not None and last[2] == sig:
                if last[:2] != (epoch, alloc):
                    rep_changes.append((rid, epoch, alloc, None, None))
                    self._rep_sent[rid] = (epoch, alloc, *last[2:])
                continue
            pend, act = tuple(r._r_id for r in rep.pending), tuple(r._r_id for r in rep.active)
            for r in rep.pending:
                self._note(r, req_changes)
            for r in rep.active:
                self._note(r, req_changes)
            if last is not None:  # requests that left it (completed): their final state
                for i in set(last[3]).union(last[4]).difference(pend, act):
                    self._note(self._given[i], req_changes)
            rep_changes.append((rid, epoch, alloc, pend if not last or last[3] != pend else None,
                                act if not last or last[4] != act else None))
            self._rep_sent[rid] = (epoch, alloc, sig, pend, act)
        msg = ("call", [(r._r_id, r._r_arr) for r in arrivals],
               serving if serving != self._serving_sent else None, new_reps, rep_changes, req_changes)
        self._serving_sent = serving
        reply = self._ask(msg)
        for rid in reply.get("touched", []):
            rep = self._all.get(rid) if isinstance(rid, int) else None
            if rep is not None:
                rep._sync_now()  # what the policy's read did in the normal mode
        if "queue" in reply:
            ids = reply["queue"]
            if not isinstance(ids, list) or not all(isinstance(i, int) for i in ids):
                raise PolicyViolation("bad_return", "the policy process sent a malformed queue")
            self._request_queue[:] = [self._by_id(i) for i in ids]
        pairs = reply.get("pairs")
        if pairs is None:
            return None
        out = []
        for p in pairs:
            if not (isinstance(p, list) and len(p) == 2 and isinstance(p[1], int)):
                raise PolicyViolation("bad_return", "the policy process sent a malformed pair")
            rid = p[0] if isinstance(p[0], int) else _Repr(str(p[0].get("repr", "?")) if isinstance(p[0], dict)
                                                           else "?")
            out.append((rid, self._by_id(p[1])))
        return out

    def _by_id(self, rid: int):
        r = self._given.get(rid)
        if r is None:
            raise PolicyViolation("bad_return", f"the policy process named request {rid}, which it was not given")
        return r


def remote_policy(conn) -> type[RemoteScheduler]:
    """A scheduler class the engine can instantiate, talking to the policy process over ``conn``."""
    return types.new_class("RemotePolicy", (RemoteScheduler,), exec_body=lambda ns: ns.update(conn=conn))


def end(conn) -> None:
    try:
        conn.send(("end",))
    except OSError:
        pass
