"""The hardened mode: the policies in a confined process of their own, driven by the trusted simulator over a pipe.

The policy process serves every layer whose policy is a file (router, batch policy, autoscaler) and holds nothing but
what it is sent: views of the waiting requests and of each replica (the documented API; no decode length anywhere),
and the autoscaler's plain ``ClusterView``. At each ``schedule()`` or ``next_index()`` call the simulator sends what
changed since the previous call (new arrivals, queue membership, each replica's iteration counter and KV use,
requests whose state changed), and receives JSON: (replica id, request id) pairs or an index, the ids of the
router's queue when it changed, and which replicas the policy read time-dependent state of. View objects are kept
across calls, so a policy that caches per-request state works unchanged.

Results equal the normal mode's seed for seed: views show what the engine's objects would (``ReplicaScheduler.peek``
computes it without side effects), and the replicas the policy read are brought up to date afterwards
(``_sync_now``), exactly as a read in the normal mode does. The simulator's side never unpickles what the policy
process sends.
"""

from __future__ import annotations

import json
import math
import sys
import types
from dataclasses import asdict, astuple
from types import SimpleNamespace

import numpy as np

from glia.simulator.autoscaling import AutoscalingConfig
from glia.simulator.config import ClusterConfig
from glia.simulator.policy import guard
from glia.simulator.policy.autoscaler import BaseAutoscaler, ClusterView, ReplicaLoad
from glia.simulator.policy.batch import BaseBatchPolicy
from glia.simulator.policy.contract import (
    CheckedBatchPolicy,
    call_policy,
    call_schedule,
    checked_replica_count,
    policy_exception,
    route_pairs,
)
from glia.simulator.policy.loader import PolicyLoadError, PolicySource, load_policy
from glia.simulator.policy.router import BaseGlobalScheduler
from glia.simulator.replica import ReplicaAPI, ReplicaConfig
from glia.simulator.request import PolicyViolation, Request, read_only_surface

MAX_REPLY = 64 << 20
_TOUCHED: set[int] = set()   # (policy process) replicas whose time-dependent state the policy read in this call
_NOW = [0.0]                 # (policy process) the simulated time of the current call
_TOKEN = object()


class PolicyProcessDied(PolicyViolation):
    """The policy's process ended during the run (its exit code says how)."""

    def __init__(self):
        super().__init__("policy_process_died", "the policy process ended during the run")


# -- the policy process's view of the cluster -----------------------------------------------------------------------
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
read_only_surface(RequestView, _VIEW_FIELDS)


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

    @property
    def now(self) -> float:
        return _NOW[0]


def _encode_rid(rid) -> object:
    if isinstance(rid, (int, np.integer)) and not isinstance(rid, bool):
        return int(rid)
    return {"repr": repr(rid)[:200]}


def _reply(conn, **fields) -> None:
    conn.send_bytes(json.dumps(fields).encode())


def _error(exc: BaseException, where: str = "__init__") -> dict:
    if isinstance(exc, PolicyViolation):
        return {"kind": exc.kind, "message": str(exc)}
    if isinstance(exc, PolicyLoadError):
        return {"kind": "load_error", "message": str(exc)}
    if isinstance(exc, MemoryError):
        return {"kind": "memory", "message": "the simulation ran out of memory (memory cap reached; MemoryError)"}
    return {"kind": "exception", "message": str(policy_exception(exc, where))}


class _Served:
    """The policy process's state: the views, and the policies of the layers it serves."""

    def __init__(self, classes: dict[str, type]):
        self.classes = classes
        self.requests: dict[int, RequestView] = {}
        self.replicas: dict[int, ReplicaView] = {}
        self.config = None
        self.sched = None
        self.batch: list = []      # replica id -> its batch policy (one per replica, created in the engine's order)
        self.scaler = None
        self.queue_sent: list[int] = []
        self.where = "__init__"

    def sync(self, now: float, new_replicas: list, rep_changes: list, req_changes: list) -> None:
        """Apply what changed since the previous call."""
        _NOW[0] = now
        for rid, config in new_replicas:
            self.replicas[rid] = ReplicaView(rid, ReplicaConfig(*config))
        for rid, arrived, prompt, n, base, dec, restarts, sched_at, replica, rep in req_changes:
            v = self.requests.get(rid)
            if v is None:
                v = self.requests[rid] = RequestView(_TOKEN, rid, arrived)
            v._v_prompt, v._v_n, v._v_base, v._v_dec, v._v_restarts = prompt, n, base, dec, restarts
            v._v_sched, v._v_replica, v._v_rep = sched_at, replica, self.replicas.get(rep)
        for rid, epoch, alloc, pending, active in rep_changes:
            view = self.replicas[rid]
            view._v_epoch, view._v_alloc = epoch, alloc
            if pending is not None:
                view._v_pending = [self.requests[i] for i in pending]
            if active is not None:
                view._v_active = [self.requests[i] for i in active]

    def handle(self, msg: tuple) -> dict:
        kind = msg[0]
        _TOUCHED.clear()
        if kind in ("init", "init_served"):
            _, cluster, seed, autoscaling = msg
            # a live router's cluster is described, not simulated: its fields as given
            self.config = SimpleNamespace(cluster=ClusterConfig(**cluster) if kind == "init" else
                                          SimpleNamespace(**cluster), seed=seed)
            if "autoscaler" in self.classes:
                a = AutoscalingConfig(**autoscaling)
                ns = SimpleNamespace(cluster=self.config.cluster, autoscaling=a, seed=seed)
                cls = self.classes["autoscaler"]
                self.scaler = call_policy(lambda: cls(ns, **a.params), "__init__")
            return {"ok": True}
        if kind == "batch_new":
            cls, config = self.classes["batch"], self.config
            self.batch.append(CheckedBatchPolicy(call_policy(lambda: cls(config), "__init__")))
            return {"ok": True}
        if kind == "scale":
            self.where = "desired_replicas"
            data = dict(msg[1])
            view = ClusterView(**{**data, "replicas": tuple(ReplicaLoad(**r) for r in data["replicas"])})
            scaler = self.scaler
            return {"want": checked_replica_count(call_policy(lambda: scaler.desired_replicas(view),
                                                              "desired_replicas"))}
        if kind == "set_queue":  # the live router routed the queue itself (the policy failed): what is left
            self.sched._request_queue[:] = [self.requests[i] for i in msg[1] if i in self.requests]
            self.queue_sent = list(msg[1])
            return {"ok": True}
        self.sync(*msg[1:5])
        if kind == "batch":
            self.where = "next_index"
            rep = self.replicas[msg[5]]
            i = self.batch[msg[5]].next_index(rep._v_pending, rep)
            return {"index": i, "touched": sorted(_TOUCHED)}
        if kind == "router":
            cls, config = self.classes["router"], self.config
            self.sched = call_policy(lambda: cls(config, {rid: self.replicas[rid] for rid in msg[5]}), "__init__")
            self.queue_sent = []
            return {"ok": True}
        self.where = "schedule"
        arrivals, serving = msg[5], msg[6]
        requests, sched = self.requests, self.sched
        if serving is not None:
            sched._set_replicas({rid: self.replicas[rid] for rid in serving})
        for rid in arrivals:
            sched._request_queue.append(requests[rid])
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
        if ids != self.queue_sent:
            reply["queue"] = self.queue_sent = ids
        reply["touched"] = sorted(_TOUCHED)
        return reply


def serve_policy(conn, srcs: dict[str, PolicySource], keep_going: bool = False) -> None:
    """The policy process: load the policies of the layers it serves against views, then answer their calls until
    told to stop. ``keep_going`` (a live router): a call that fails is answered with its error and the next call is
    served (the router routes that call's requests itself); otherwise the first error ends the process."""
    api = guard.api_modules(RequestView, BaseGlobalScheduler, ReplicaView)
    try:
        served = _Served({layer: load_policy(src, api=api) for layer, src in srcs.items()})
    except (PolicyLoadError, PolicyViolation) as exc:
        _reply(conn, error=_error(exc))
        return
    if keep_going:
        _reply(conn, ok=True)
    while True:
        try:
            msg = conn.recv()
        except EOFError:
            return
        if msg[0] == "end":
            _flush()
            return
        try:
            _reply(conn, **served.handle(msg))
        except (PolicyViolation, MemoryError, Exception) as exc:
            _reply(conn, error=_error(exc, served.where))
            if not keep_going:
                return
        if keep_going:  # what the policy printed reaches the router's log now, not when the process ends
            _flush()


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 - the policy may have replaced or closed the stream
            pass


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


class Link:
    """The simulator's end of the pipe to the policy process, shared by every layer it serves (``layers``): what
    that process knows of the replicas and requests, so that each call sends only what changed."""

    def __init__(self, conn, layers: set[str], config, seed: int):
        self.conn, self.layers, self.config, self.seed = conn, layers, config, seed
        self.started = False
        self.all: dict[int, object] = {}        # replica id -> replica, every replica the process was told of
        self.rep_sent: dict[int, tuple] = {}    # replica id -> (epoch, alloc, signature, pending ids, active ids)
        self.req_sent: dict[int, tuple] = {}    # request id -> last state sent
        self.given: dict[int, Request] = {}     # every request the process was told of

    def remote_layers(self) -> dict[str, type]:
        """The engine's classes for the batch policy and the autoscaler, when this process serves them."""
        out: dict[str, type] = {}
        if "batch" in self.layers:
            out["batch"] = types.new_class("RemoteBatch", (RemoteBatchPolicy,), exec_body=lambda ns: ns.update(
                link=self))
        if "autoscaler" in self.layers:
            out["autoscaler"] = types.new_class("RemoteAutoscaling", (RemoteAutoscaler,),
                                                exec_body=lambda ns: ns.update(link=self))
        return out

    def start(self) -> None:
        """The first message (sent when the engine builds the first policy it serves): the settings."""
        if not self.started:
            self.started = True
            a = self.config.autoscaler
            self.ask(("init", _plain(asdict(self.config.cluster)), int(self.seed),
                      _plain(asdict(a)) if a is not None else None))

    def ask(self, msg: tuple) -> dict:
        try:
            self.conn.send(msg)
            data = self.conn.recv_bytes(MAX_REPLY)
        except (EOFError, OSError):
            raise PolicyProcessDied() from None
        return parse_reply(data)

    def note(self, r: Request, changes: list) -> None:
        """Add ``r``'s state to ``changes`` if it differs from what the policy process has."""
        self.given[r._r_id] = r
        rep = r._r_rep
        # plain Python numbers (the engine may hold numpy scalars): the policy process unpickles builtins only
        st = (int(r._r_prompt), int(r._r_n), int(r._r_base), bool(r._r_decoding), int(r._r_restarts),
              float(r._r_t_sched), int(r._r_replica_id), rep.replica_id if rep is not None else -1)
        if self.req_sent.get(r._r_id) != st:
            changes.append((r._r_id, float(r._r_arr), *st))
            self.req_sent[r._r_id] = st

    def changes(self, replicas: dict[int, object], requests: list[Request] = ()) -> tuple:
        """(now, new replicas, replica changes, request changes) for a call that may read ``replicas`` (and the
        requests on them) and ``requests``."""
        new_reps = [(rid, _plain(astuple(rep._config))) for rid, rep in replicas.items() if rid not in self.all]
        self.all.update(replicas)
        req_changes: list[tuple] = []
        for r in requests:
            self.note(r, req_changes)
        rep_changes = []
        for rid, rep in self.all.items():
            epoch, alloc = (int(v) for v in rep.peek())
            last = self.rep_sent.get(rid)
            # a replica's requests change only when it plans a new segment (version) or a request is routed to it
            sig = (rep.version, len(rep.pending), len(rep.active))
            if last is not None and last[2] == sig:
                if last[:2] != (epoch, alloc):
                    rep_changes.append((rid, epoch, alloc, None, None))
                    self.rep_sent[rid] = (epoch, alloc, *last[2:])
                continue
            pend, act = tuple(r._r_id for r in rep.pending), tuple(r._r_id for r in rep.active)
            for r in rep.pending:
                self.note(r, req_changes)
            for r in rep.active:
                self.note(r, req_changes)
            if last is not None:  # requests that left it (completed): their final state
                for i in set(last[3]).union(last[4]).difference(pend, act):
                    self.note(self.given[i], req_changes)
            rep_changes.append((rid, epoch, alloc, pend if not last or last[3] != pend else None,
                                act if not last or last[4] != act else None))
            self.rep_sent[rid] = (epoch, alloc, sig, pend, act)
        now = float(next(iter(self.all.values()))._clock.now) if self.all else 0.0
        return now, new_reps, rep_changes, req_changes

    def touched(self, reply: dict) -> None:
        for rid in reply.get("touched", []):
            rep = self.all.get(rid) if isinstance(rid, int) else None
            if rep is not None:
                rep._sync_now()  # what the policy's read did in the normal mode


class RemoteScheduler(BaseGlobalScheduler):
    """Stands in for the router in the trusted simulator: each call sends what changed and applies the answer."""

    link: Link = None

    def __init__(self, config=None, replicas: dict | None = None):
        super().__init__(config, replicas)
        self._given: set[int] = set()   # the requests the router was given
        link = self.link
        link.start()
        reps = {rid: h._rep for rid, h in self._replica_schedulers.items()}
        self._serving_sent = tuple(sorted(reps))
        link.ask(("router", *link.changes(reps), self._serving_sent))

    def schedule(self):
        link = self.link
        reps = {rid: h._rep for rid, h in self._replica_schedulers.items()}
        serving = tuple(sorted(reps))
        arrivals = [r for r in self._request_queue if r._r_id not in self._given]
        self._given.update(r._r_id for r in arrivals)
        sync = link.changes(reps, arrivals)
        reply = link.ask(("call", *sync, [r._r_id for r in arrivals],
                          serving if serving != self._serving_sent else None))
        self._serving_sent = serving
        link.touched(reply)
        if "queue" in reply:
            ids = reply["queue"]
            if not isinstance(ids, list) or not all(isinstance(i, int) for i in ids):
                raise PolicyViolation("bad_return", "the policy process sent a malformed queue")
            self._request_queue[:] = [self._by_id(i) for i in ids]
        pairs = reply_pairs(reply)
        if pairs is None:
            return None
        out = []
        for rid, req in pairs:
            out.append((rid if isinstance(rid, int) else _Repr(rid), self._by_id(req)))
        return out

    def _by_id(self, rid: int):
        r = self.link.given.get(rid) if rid in self._given else None
        if r is None:
            raise PolicyViolation("bad_return", f"the policy process named request {rid}, which it was not given")
        return r


class RemoteBatchPolicy(BaseBatchPolicy):
    """Stands in for a replica's batch policy: the policy process holds one instance per replica, created in the
    same order as the engine creates replicas (so replica k's is the k-th)."""

    link: Link = None

    def __init__(self, config=None):
        super().__init__(config)
        self.link.start()
        self.link.ask(("batch_new",))

    def next_index(self, pending, replica):
        rep = replica._rep
        link = self.link
        reply = link.ask(("batch", *link.changes({rep.replica_id: rep}), rep.replica_id))
        link.touched(reply)
        i = reply.get("index")
        if i is not None and not (isinstance(i, int) and 0 <= i < len(pending)):
            raise PolicyViolation("bad_return", "the policy process sent a malformed index")
        return i


class RemoteAutoscaler(BaseAutoscaler):
    """Stands in for the autoscaler: the view it is given is plain data, sent whole."""

    link: Link = None

    def __init__(self, config=None, **_params):
        super().__init__(config)
        self.link.start()

    def desired_replicas(self, view: ClusterView) -> int:
        want = self.link.ask(("scale", _plain(asdict(view)))).get("want")
        if not isinstance(want, int) or isinstance(want, bool):
            raise PolicyViolation("bad_return", "the policy process sent a malformed replica count")
        return want


def parse_reply(data: bytes) -> dict:
    """A policy process's reply (JSON, never unpickled): the fields, or its error as a ``PolicyViolation``."""
    try:
        reply = json.loads(data)
    except ValueError:
        raise PolicyViolation("bad_return", "the policy process sent a malformed reply") from None
    if not isinstance(reply, dict):
        raise PolicyViolation("bad_return", "the policy process sent a malformed reply")
    err = reply.get("error")
    if err is not None:
        kind = err.get("kind") if isinstance(err, dict) else None
        message = err.get("message", err) if isinstance(err, dict) else err
        raise PolicyViolation(kind[:40] if isinstance(kind, str) else "exception",
                              "".join(c if c.isprintable() or c == "\n" else "?" for c in str(message)[:4000]))
    return reply


def reply_pairs(reply: dict) -> list[tuple[int | str, int]] | None:
    """The (replica id, request id) pairs of a ``call`` reply, checked for shape (a replica id that is not an
    integer comes back as the text the policy's object showed); None when ``schedule()`` returned None."""
    pairs = reply.get("pairs")
    if pairs is None:
        return None
    out = []
    for p in pairs if isinstance(pairs, list) else [None]:
        if not (isinstance(p, list) and len(p) == 2 and isinstance(p[1], int) and not isinstance(p[1], bool)):
            raise PolicyViolation("bad_return", "the policy process sent a malformed pair")
        rid = p[0]
        if not isinstance(rid, int) or isinstance(rid, bool):
            rid = str(rid.get("repr", "?")) if isinstance(rid, dict) else "?"
        out.append((rid, p[1]))
    return out


def _plain(value):
    """``value`` with numpy scalars as Python numbers (what the policy process may unpickle: builtins only)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    return value.item() if isinstance(value, np.generic) else value


def remote_policy(link: Link) -> type[RemoteScheduler]:
    """A scheduler class the engine can instantiate, talking to the policy process over ``link``."""
    return types.new_class("RemotePolicy", (RemoteScheduler,), exec_body=lambda ns: ns.update(link=link))


def end(conn, wait_s: float = 1.0) -> None:
    """Tell the policy process to stop, and give it ``wait_s`` to flush what it printed and exit."""
    try:
        conn.send(("end",))
        if conn.poll(wait_s):
            conn.recv_bytes(1 << 16)
    except (OSError, EOFError):
        pass
