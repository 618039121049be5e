"""The cluster simulation: a discrete-event loop over arrivals, replica iterations and control ticks.

``Simulation`` builds everything in its constructor (the replicas, the workload, the policy, the event heap) and
``run()`` processes events in time order; the routing contract lives in ``contract.py``. The clock and the event log
the engine shares with its replicas are in ``clock.py``.
"""

from __future__ import annotations

import heapq
import itertools
import math
from dataclasses import dataclass, field
from operator import attrgetter
from types import SimpleNamespace

import numpy as np

from glia.simulator.clock import Clock, Log
from glia.simulator.config import SimulationConfig
from glia.simulator.policy.autoscaler import BaseAutoscaler, ClusterView, ReplicaLoad
from glia.simulator.policy.builtin.autoscalers import make_builtin_autoscaler
from glia.simulator.policy.contract import (
    CheckedBatchPolicy,
    call_policy,
    call_schedule,
    check_all_admitted,
    check_all_routed,
    checked_replica_count,
    checked_routes,
)
from glia.simulator.policy.loader import is_builtin, load_policy
from glia.simulator.policy.router import BaseGlobalScheduler
from glia.simulator.replica import ReplicaHandle, ReplicaScheduler
from glia.simulator.request import Request
from glia.simulator.workloads import ClosedLoop, Trace

# event kinds, which are also their priorities at equal times: iterations end before arrivals are routed, then
# replicas become ready, then control ticks
_ITER, _ARRIVAL, _READY, _AUTOSCALE, _SAMPLE = range(5)


@dataclass
class RunResult:
    """Everything one seed of one benchmark produced."""

    seed: int
    requests: dict[str, np.ndarray]
    makespan_s: float
    gpu_hours: float
    busy_s: float
    replica_seconds: float
    num_preemptions: int
    samples: list[tuple] = field(default_factory=list)   # (t, replica, pending, active, allocated, blocks, queue)
    events: list[tuple] = field(default_factory=list)    # (t, kind, request, replica, value)
    scaling: list[tuple] = field(default_factory=list)   # (t, action, replica)


class Simulation:
    """One seed of a benchmark under one routing policy, with the batch policy and the autoscaling its configuration
    names (built-ins or policy files, loaded here)."""

    def __init__(self, config: SimulationConfig, policy: type[BaseGlobalScheduler], seed: int = 0, fast: bool = True,
                 workload: Trace | ClosedLoop | None = None, layers: dict[str, type] | None = None):
        cluster = config.cluster
        self.config, self.seed, self.fast = config, seed, fast
        self.clock = Clock()
        self.log = Log(config.record_events)
        self.model = cluster.execution_model()
        self.rcfg = cluster.replica_config(self.model)
        workload = config.workload.generate(seed) if workload is None else workload  # given: generated before confining
        self._check_fits(workload)
        layers = layers or {}  # classes the caller loaded (a confined process loads them from sources read earlier)
        self._batch_cls = layers.get("batch") or load_policy(cluster.batch_policy, "batch")
        self._batch_checked = not is_builtin(cluster.batch_policy, "batch")
        self.scaling_config = config.autoscaler
        self.autoscaler = self._make_autoscaler(seed, layers.get("autoscaler"))
        self._recommendations: list[tuple[float, int]] = []  # (tick, replicas wanted), for scale-down stabilisation
        self.all_replicas: dict[int, ReplicaScheduler] = {}
        # the replicas requested and not released yet (serving, starting, draining), in id order: what control ticks
        # walk, so that their cost follows the cluster's size, not the number of replicas an autoscaler ever started
        self.live: dict[int, ReplicaScheduler] = {}
        self.handles: dict[int, ReplicaHandle] = {}          # what the policy gets of each replica
        self.serving: dict[int, ReplicaScheduler] = {}
        self.life: dict[int, list[float]] = {}            # replica id -> [requested at, released at]
        self.scaling: list[tuple] = []
        self.requests: list[Request] = []
        self.totals: list[int] = []                       # request id -> prompt + decode: the hidden length
        for _ in range(cluster.num_replicas):
            rep = self._new_replica(0.0)
            self.serving[rep.replica_id] = rep
        self.samples: list[tuple] = []
        self.window_tokens = 0                            # output tokens completed since the last control tick
        self.window_arrivals = 0                          # requests arrived since the last control tick
        self.window_completions = 0                       # requests completed since the last control tick
        self.heap: list[tuple] = []                       # (time, kind, sequence, object, version)
        self._seq = itertools.count()
        self.sched = call_policy(lambda: policy(SimpleNamespace(cluster=cluster, seed=seed), self._handles()),
                                 "__init__")
        # open-loop arrivals stay in arrays beside the heap (they are most events); a closed loop's are on the heap
        self._closed = workload if isinstance(workload, ClosedLoop) else None
        self._closed_next = 0
        if self._closed is not None:
            self._arrivals: tuple[list, list, list] = ([], [], [])
            self._last_arrival = 0.0
            for u in range(workload.users):
                self._push(u * 1e-3, _ARRIVAL, self._closed_request(u * 1e-3))
        else:
            self._arrivals = (workload.arrived_at.tolist(), workload.prefill.tolist(), workload.decode.tolist())
            self._last_arrival = self._arrivals[0][-1] if len(workload) else 0.0
        if config.sample_interval_s > 0:
            self._push(0.0, _SAMPLE, None)
        if self.autoscaler:
            self._push(self.scaling_config.interval_s, _AUTOSCALE, None)

    def _make_autoscaler(self, seed: int, cls: type | None) -> BaseAutoscaler | None:
        a = self.scaling_config
        if a is None:
            return None
        ns = SimpleNamespace(cluster=self.config.cluster, autoscaling=a, seed=seed)
        if is_builtin(a.policy, "autoscaler"):
            return make_builtin_autoscaler(a.policy, a.params, ns)
        cls = cls or load_policy(a.policy, "autoscaler")
        return call_policy(lambda: cls(ns, **a.params), "__init__")

    def run(self) -> RunResult:
        """Process events in time order until none is left; every request must have been routed by then."""
        handlers = (self._on_iteration_end, self._on_arrival, self._ready, self._autoscale, self._sample)
        heap, clock, pop = self.heap, self.clock, heapq.heappop
        times, prefill, decode = self._arrivals
        i, n = 0, len(times)
        while heap or i < n:
            if heap and (i >= n or heap[0][0] <= times[i]):
                t, kind, _, obj, version = pop(heap)
                if kind == _ITER and version != obj.version:
                    continue  # superseded: the replica replanned since this event was pushed
                clock.now = t
                handlers[kind](obj, version)
            else:
                clock.now = t = times[i]
                self._arrive(Request(-1, t, prefill[i]), decode[i])
                i += 1
        check_all_routed(self.requests)
        check_all_admitted(self.requests)
        return self._result()

    # -- events ---------------------------------------------------------------------------------------------
    def _push(self, t: float, kind: int, obj, version: int = 0) -> None:
        heapq.heappush(self.heap, (t, kind, next(self._seq), obj, version))

    def _push_replica(self, rep: ReplicaScheduler) -> None:
        if not rep.is_idle:
            heapq.heappush(self.heap, (rep.next_event_time, _ITER, next(self._seq), rep, rep.version))

    def _on_iteration_end(self, rep: ReplicaScheduler, _version: int) -> None:
        """The replica's iteration (or run) ends now (``run`` has dropped the events it superseded)."""
        done = rep.on_segment_end()
        if rep.is_idle:
            if not rep.accepting and not rep.pending:
                self._release(rep, self.clock.now)
        else:
            heapq.heappush(self.heap, (rep.next_event_time, _ITER, next(self._seq), rep, rep.version))
        if done:
            self.window_completions += len(done)
            for r in done:
                self.window_tokens += self.totals[r._r_id] - r._r_orig_prompt
                if self._closed is not None:
                    think = self._closed.think.item(r._r_id % len(self._closed.think))  # a float, not numpy's
                    t = self.clock.now + think
                    if t < self._closed.duration_s:
                        self._push(t, _ARRIVAL, self._closed_request(t))
            self._schedule()

    def _closed_request(self, t: float) -> tuple[Request, int]:
        k = self._closed_next % len(self._closed.prefill)
        self._closed_next += 1
        return Request(-1, t, self._closed.prefill.item(k)), self._closed.decode.item(k)

    def _on_arrival(self, arrival: tuple[Request, int], _version: int) -> None:
        self._arrive(*arrival)

    def _arrive(self, r: Request, decode: int) -> None:
        if decode < 1:
            raise ValueError(f"request {len(self.requests)}: the decode length must be >= 1, got {decode}")
        self.window_arrivals += 1
        r._r_id = len(self.requests)
        self.requests.append(r)
        self.totals.append(r._r_prompt + int(decode))
        self.sched._request_queue.append(r)
        self._schedule()

    def _schedule(self) -> None:
        """Ask the policy for routes, check them against the contract, hand the requests to their replicas."""
        sched = self.sched
        pairs = call_schedule(sched)
        if not pairs and pairs is not None:
            return
        now = self.clock.now
        routes = checked_routes(pairs, self.serving, self.requests, now)
        for rep, r in routes:
            self.log.add(now, "route", r._r_id, rep.replica_id, r._r_prompt)
            if rep.enqueue(r, now):
                self._push_replica(rep)
        queue = sched._request_queue
        if queue:  # a router that returned requests it left in its queue: they are routed, out of the queue
            routed = {r._r_id for _, r in routes}
            if any(q._r_id in routed for q in queue):
                queue[:] = [q for q in queue if q._r_id not in routed]

    def _sample(self, _obj, _version: int) -> None:
        t = self.clock.now
        qlen = len(self.sched._request_queue)
        for rid, rep in self.live.items():
            self.samples.append((t, rid, len(rep.pending), len(rep.active), rep.num_allocated_blocks,
                                 rep.num_blocks, qlen))
        if self._more_to_come():
            self._push(t + self.config.sample_interval_s, _SAMPLE, None)

    def _more_to_come(self) -> bool:
        """Whether anything can still happen: a request yet to arrive, a replica working or starting (one whose
        start was cancelled does not count). Control ticks stop otherwise, so that requests a policy holds forever
        end the run (as never routed) instead of ticking on, and an autoscaler that keeps starting and cancelling
        replicas cannot keep a finished run alive."""
        if self.clock.now < self._last_arrival or any(not r.is_idle for r in self.live.values()):  # (released: idle)
            return True
        return any(p == _ARRIVAL or (p == _READY and obj.accepting) for _, p, _, obj, _ in self.heap)

    def _handles(self) -> dict[int, ReplicaHandle]:
        """The serving replicas as the policy sees them (the documented reads only)."""
        return {rid: self.handles[rid] for rid in self.serving}

    # -- autoscaling ----------------------------------------------------------------------------------------
    def _new_replica(self, now: float) -> ReplicaScheduler:
        rid = len(self.all_replicas)
        cls, ns = self._batch_cls, SimpleNamespace(cluster=self.config.cluster, seed=self.seed)
        batch = call_policy(lambda: cls(ns), "__init__")
        if self._batch_checked:
            batch = CheckedBatchPolicy(batch)
        rep = ReplicaScheduler(rid, self.rcfg, self.model, batch, self.clock, self.log, self.totals, fast=self.fast)
        self.all_replicas[rid] = self.live[rid] = rep
        self.handles[rid] = rep.handle
        self.life[rid] = [now, math.inf]
        return rep

    def _release(self, rep: ReplicaScheduler, now: float) -> None:
        if self.life[rep.replica_id][1] == math.inf:
            self.life[rep.replica_id][1] = now
            del self.live[rep.replica_id]
            self.scaling.append((now, "release", rep.replica_id))

    def _ready(self, rep: ReplicaScheduler, _version: int) -> None:
        t = self.clock.now
        if not rep.accepting:
            return  # cancelled during its cold start
        self.serving[rep.replica_id] = rep
        self.sched._set_replicas(self._handles())
        self.scaling.append((t, "ready", rep.replica_id))
        self._schedule()

    def _autoscale(self, _obj, _version: int) -> None:
        t, a, cfg = self.clock.now, self.autoscaler, self.scaling_config
        starting = [r for r in self.live.values() if r.accepting and r.replica_id not in self.serving]
        draining = [r for r in self.live.values() if not r.accepting]
        serving = list(self.serving.values())
        blocks = sum(r.num_blocks for r in serving) or 1
        view = ClusterView(
            now=t, serving=len(serving), starting=len(starting), draining=len(draining),
            waiting=len(self.sched._request_queue) + sum(len(r.pending) for r in serving),
            running=sum(len(r.active) for r in serving),
            kv_utilisation=sum(r.num_allocated_blocks for r in serving) / blocks,
            decode_tokens_per_s=self.window_tokens / cfg.interval_s / max(len(serving), 1),
            arrivals_per_s=self.window_arrivals / cfg.interval_s,
            completions_per_s=self.window_completions / cfg.interval_s,
            min_replicas=cfg.min_replicas, max_replicas=cfg.max_replicas, interval_s=cfg.interval_s,
            cold_start_s=cfg.cold_start_s,
            replicas=tuple(ReplicaLoad(r.replica_id, len(r.pending), len(r.active), r.num_allocated_blocks,
                                       r.num_blocks) for r in serving))
        self.window_tokens = self.window_arrivals = self.window_completions = 0
        want = checked_replica_count(call_policy(lambda: a.desired_replicas(view), "desired_replicas"))
        want = max(cfg.min_replicas, min(cfg.max_replicas, want))
        current = len(serving) + len(starting)
        want = self._stabilised(t, want, current)
        for _ in range(max(0, want - current)):
            rep = self._new_replica(t)
            self.scaling.append((t, "start", rep.replica_id))
            self._push(t + cfg.cold_start_s, _READY, rep)
        for _ in range(max(0, current - want)):
            if starting:
                rep = starting.pop()
                rep.accepting = False
                self._release(rep, t)
                continue
            if len(self.serving) <= 1:
                break
            rep = min(self.serving.values(), key=lambda r: len(r.pending) + len(r.active))
            rep.accepting = False
            del self.serving[rep.replica_id]
            self.sched._set_replicas(self._handles())
            self.scaling.append((t, "drain", rep.replica_id))
            if rep.is_idle and not rep.pending:
                self._release(rep, t)
        if self._more_to_come():
            self._push(t + cfg.interval_s, _AUTOSCALE, None)

    def _stabilised(self, t: float, want: int, current: int) -> int:
        """HPA's scale-down stabilisation: scale down only to the highest count recommended within the window."""
        window = self.scaling_config.scale_down_stabilisation_s
        if window <= 0:
            return want
        recs = self._recommendations
        recs.append((t, want))
        while recs and recs[0][0] < t - window:
            recs.pop(0)
        return want if want >= current else min(current, max(w for _, w in recs))

    # -- checks and results ---------------------------------------------------------------------------------
    def _check_fits(self, workload: Trace | ClosedLoop) -> None:
        total = (workload.prefill + workload.decode).max() if len(workload.prefill) else 0
        blocks = -(-int(total) // self.rcfg.block_size)
        if blocks + self.rcfg.watermark_blocks > self.rcfg.num_blocks:
            raise ValueError(f"a request of {int(total)} tokens needs {blocks} KV blocks but a replica has "
                             f"{self.rcfg.num_blocks} (less a {self.rcfg.watermark_blocks}-block watermark): it could "
                             "never complete; cap the lengths or use a larger device")

    def _result(self) -> RunResult:
        reqs = self.requests

        def column(name: str) -> list:
            return list(map(attrgetter(name), reqs))
        end = max(column("_r_t_done"), default=0.0)
        for rid, (start, stop) in self.life.items():
            if stop == math.inf:
                self.life[rid][1] = max(end, start)
        lifetimes = sum(stop - start for start, stop in self.life.values())
        tp = self.config.cluster.tensor_parallel
        prompts = column("_r_orig_prompt")
        cols = {
            "request_id": column("_r_id"), "arrived_at": column("_r_arr"), "num_prefill_tokens": prompts,
            "num_decode_tokens": [t - p for t, p in zip(self.totals, prompts, strict=True)],
            "routed_at": column("_r_routed_at"), "replica_id": column("_r_replica_id"),
            "scheduled_at": column("_r_t_sched"), "first_token_at": column("_r_t_first"),
            "completed_at": column("_r_t_done"), "num_restarts": column("_r_restarts"),
            "wasted_tokens": column("_r_wasted"),
        }
        arrays = {k: np.asarray(v) for k, v in cols.items()}
        return RunResult(
            seed=self.seed, requests=arrays, makespan_s=end, gpu_hours=lifetimes * tp / 3600.0,
            busy_s=sum(r.busy_time for r in self.all_replicas.values()), replica_seconds=lifetimes,
            num_preemptions=sum(r.num_preemptions for r in self.all_replicas.values()),
            samples=self.samples, events=self.log.events, scaling=self.scaling)
