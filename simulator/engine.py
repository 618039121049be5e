"""The cluster simulation: a discrete-event loop over arrivals, replica iterations and control ticks."""

from __future__ import annotations

import heapq
import itertools
import math
import random
import traceback
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np

from .autoscaler import ClusterView, make_autoscaler
from .batch_policies import get_batch_policy
from .config import SimulationConfig
from .global_scheduler import BaseGlobalScheduler
from .replica import Clock, Log, ReplicaScheduler
from .request import PolicyViolation, Request
from .workloads import ClosedLoop, Trace

# event priorities at equal times: iterations end before arrivals are routed, then control ticks
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
    """Runs one seed of a benchmark under one routing policy."""

    def __init__(self, config: SimulationConfig, policy: type[BaseGlobalScheduler], seed: int = 0, fast: bool = True):
        self.config = config
        self.policy = policy
        self.seed = seed
        self.fast = fast

    def run(self) -> RunResult:
        cfg, cluster = self.config, self.config.cluster
        random.seed(self.seed)
        np.random.seed(self.seed % 2**32)
        self.clock = clock = Clock()
        self.log = Log(cfg.record_events)
        self.model = cluster.execution_model()
        self.rcfg = cluster.replica_config(self.model)
        workload = cfg.workload.generate(self.seed)
        self._check_fits(workload)
        self._last_arrival = float(workload.arrived_at[-1]) if isinstance(workload, Trace) and len(workload) else 0.0
        self.autoscaler = make_autoscaler(cfg.autoscaler)
        self.all_replicas: dict[int, ReplicaScheduler] = {}
        self.serving: dict[int, ReplicaScheduler] = {}
        self.life: dict[int, list[float]] = {}
        self.scaling: list[tuple] = []
        for _ in range(cluster.num_replicas):
            self._new_replica(0.0)
            self.serving[max(self.all_replicas)] = self.all_replicas[max(self.all_replicas)]
        self.heap: list[tuple] = []
        self.seq = itertools.count()
        self.requests: list[Request] = []
        self.outstanding = 0
        self.samples: list[tuple] = []
        self.window_tokens = 0
        try:
            self.sched = self.policy(SimpleNamespace(cluster=cluster, seed=self.seed), dict(self.serving))
        except (PolicyViolation, MemoryError):
            raise
        except Exception as exc:
            raise _policy_exception(exc, "__init__") from None
        if isinstance(workload, ClosedLoop):
            self._closed = workload
            self._closed_next = 0
            for u in range(workload.users):
                self._push(u * 1e-3, _ARRIVAL, self._closed_request(u * 1e-3))
            arr_t: list[float] = []
        else:
            self._closed = None
            arr_t = workload.arrived_at.tolist()
            arr_p = workload.prefill.tolist()
            arr_d = workload.decode.tolist()
        if cfg.sample_interval_s > 0:
            self._push(0.0, _SAMPLE, None)
        if self.autoscaler:
            self._push(self.autoscaler.interval_s, _AUTOSCALE, None)
        heap, n_arr, i = self.heap, len(arr_t), 0
        while True:
            ta = arr_t[i] if i < n_arr else math.inf
            if heap and heap[0][0] <= ta:
                t, prio, _, obj, ver = heapq.heappop(heap)
                clock.now = t
                if prio == _ITER:
                    if ver == obj.version:
                        self._on_iteration_end(obj)
                elif prio == _ARRIVAL:
                    self._arrive(obj)
                elif prio == _SAMPLE:
                    self._sample(t)
                elif prio == _AUTOSCALE:
                    self._autoscale(t)
                else:
                    self._ready(obj, t)
                continue
            if i >= n_arr:
                break
            clock.now = ta
            r = Request(len(self.requests), ta, arr_p[i], arr_d[i])
            i += 1
            self.requests.append(r)
            self.outstanding += 1
            self._enqueue(r)
            self._schedule()
        unrouted = [r._r_id for r in self.requests if r._r_routed_at != r._r_routed_at]
        if unrouted:
            raise PolicyViolation("never_routed", f"{len(unrouted)} request(s) were never routed (ids "
                                  f"{', '.join(map(str, unrouted[:10]))}{', ...' if len(unrouted) > 10 else ''}); "
                                  "schedule() must eventually route every request it holds")
        return self._result()

    # -- events ---------------------------------------------------------------------------------------------
    def _push(self, t: float, prio: int, obj, version: int = 0) -> None:
        heapq.heappush(self.heap, (t, prio, next(self.seq), obj, version))

    def _push_replica(self, rep: ReplicaScheduler) -> None:
        if not rep.is_idle:
            heapq.heappush(self.heap, (rep.next_event_time, _ITER, next(self.seq), rep, rep.version))

    def _on_iteration_end(self, rep: ReplicaScheduler) -> None:
        done = rep.on_segment_end()
        self._push_replica(rep)
        if not rep.accepting and rep.is_idle and not rep.pending:
            self._release(rep, self.clock.now)
        if done:
            for r in done:
                self.outstanding -= 1
                self.window_tokens += r._r_total() - r._r_orig_prompt
                if self._closed is not None:
                    think = self._closed.think[r._r_id % len(self._closed.think)]
                    t = self.clock.now + think
                    if t < self._closed.duration_s:
                        self._push(t, _ARRIVAL, self._closed_request(t))
            self._schedule()

    def _closed_request(self, t: float) -> Request:
        k = self._closed_next % len(self._closed.prefill)
        self._closed_next += 1
        return Request(-1, t, int(self._closed.prefill[k]), int(self._closed.decode[k]))

    def _arrive(self, r: Request) -> None:
        r._r_id = len(self.requests)
        self.requests.append(r)
        self.outstanding += 1
        self._enqueue(r)
        self._schedule()

    def _enqueue(self, r: Request) -> None:
        self.sched._request_queue.append(r)

    def _schedule(self) -> None:
        sched = self.sched
        try:
            pairs = sched.schedule()
        except (PolicyViolation, MemoryError):
            raise
        except Exception as exc:
            raise _policy_exception(exc, "schedule") from None
        if not pairs:
            if pairs is None:
                raise PolicyViolation("bad_return", "schedule() returned None; it must return a list of "
                                      "(replica_id, request) pairs (an empty list to route nothing)")
            return
        now = self.clock.now
        routed = set()
        for pair in pairs:
            try:
                rid, r = pair
            except (TypeError, ValueError):
                raise PolicyViolation("bad_return", f"schedule() returned {pair!r}; expected (replica_id, request)"
                                      ) from None
            if type(r) is not Request:
                raise PolicyViolation("bad_return", f"schedule() returned {type(r).__name__} {r!r} in place of a "
                                      "request")
            rep = self.serving.get(rid) if isinstance(rid, (int, np.integer)) and not isinstance(rid, bool) else None
            if rep is None:
                raise PolicyViolation("invalid_replica", f"schedule() routed request {r._r_id} to replica {rid!r}; "
                                      f"valid replica ids now: {sorted(self.serving)}")
            if r._r_routed_at == r._r_routed_at:
                raise PolicyViolation("routed_twice", f"request {r._r_id} was routed twice (first to replica "
                                      f"{r._r_replica_id} at t={r._r_routed_at:.3f}s, again to replica {rid} at "
                                      f"t={now:.3f}s)")
            if r._r_prompt != r._r_orig_prompt or r._r_n or r._r_restarts:
                raise PolicyViolation("mutated_request", f"request {r._r_id} was modified by the policy")
            r._r_routed_at = now
            routed.add(r._r_id)
            self.log.add(now, "route", r._r_id, int(rid), r._r_prompt)
            if rep.enqueue(r, now):
                self._push_replica(rep)
        queue = sched._request_queue
        if any(q._r_id in routed for q in queue):
            queue[:] = [q for q in queue if q._r_id not in routed]

    def _sample(self, t: float) -> None:
        qlen = len(self.sched._request_queue)
        for rid, rep in self.all_replicas.items():
            if self.life[rid][1] == math.inf:
                self.samples.append((t, rid, len(rep.pending), len(rep.active), rep.num_allocated_blocks,
                                     rep.num_blocks, qlen))
        if self._more_to_come():
            self._push(t + self.config.sample_interval_s, _SAMPLE, None)

    def _more_to_come(self) -> bool:
        """Whether anything can still happen: a request yet to arrive, a replica working or starting. Control ticks
        stop otherwise, so that requests a policy holds forever end the run (as never routed) instead of ticking
        on."""
        if self.clock.now < self._last_arrival or any(not r.is_idle for r in self.all_replicas.values()):
            return True
        return any(p in (_ARRIVAL, _READY) for _, p, *_ in self.heap)

    # -- autoscaling ----------------------------------------------------------------------------------------
    def _new_replica(self, now: float) -> ReplicaScheduler:
        rid = len(self.all_replicas)
        rep = ReplicaScheduler(rid, self.rcfg, self.model, get_batch_policy(self.config.cluster.batch_policy),
                               self.clock, self.log, fast=self.fast)
        self.all_replicas[rid] = rep
        self.life[rid] = [now, math.inf]
        return rep

    def _release(self, rep: ReplicaScheduler, now: float) -> None:
        if self.life[rep.replica_id][1] == math.inf:
            self.life[rep.replica_id][1] = now
            self.scaling.append((now, "release", rep.replica_id))

    def _ready(self, rep: ReplicaScheduler, t: float) -> None:
        if not rep.accepting:
            return  # cancelled during its cold start
        self.serving[rep.replica_id] = rep
        self.sched._set_replicas(self.serving)
        self.scaling.append((t, "ready", rep.replica_id))
        self._schedule()

    def _autoscale(self, t: float) -> None:
        a = self.autoscaler
        starting = [r for r in self.all_replicas.values()
                    if r.accepting and r.replica_id not in self.serving and self.life[r.replica_id][1] == math.inf]
        draining = [r for r in self.all_replicas.values() if not r.accepting and self.life[r.replica_id][1] == math.inf]
        serving = list(self.serving.values())
        blocks = sum(r.num_blocks for r in serving) or 1
        view = ClusterView(
            now=t, serving=len(serving), starting=len(starting), draining=len(draining),
            waiting=len(self.sched._request_queue) + sum(len(r.pending) for r in serving),
            running=sum(len(r.active) for r in serving),
            kv_utilisation=sum(r.num_allocated_blocks for r in serving) / blocks,
            decode_tokens_per_s=self.window_tokens / a.interval_s / max(len(serving), 1))
        self.window_tokens = 0
        want = a.desired_replicas(view)
        current = len(serving) + len(starting)
        for _ in range(max(0, want - current)):
            rep = self._new_replica(t)
            self.scaling.append((t, "start", rep.replica_id))
            self._push(t + a.cold_start_s, _READY, rep)
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
            self.sched._set_replicas(self.serving)
            self.scaling.append((t, "drain", rep.replica_id))
            if rep.is_idle and not rep.pending:
                self._release(rep, t)
        if self._more_to_come():
            self._push(t + a.interval_s, _AUTOSCALE, None)

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
        end = max((r._r_t_done for r in reqs), default=0.0)
        for rid, (start, stop) in self.life.items():
            if stop == math.inf:
                self.life[rid][1] = max(end, start)
        lifetimes = sum(stop - start for start, stop in self.life.values())
        tp = self.config.cluster.tensor_parallel
        cols = {
            "request_id": [r._r_id for r in reqs], "arrived_at": [r._r_arr for r in reqs],
            "num_prefill_tokens": [r._r_orig_prompt for r in reqs],
            "num_decode_tokens": [r._r_total() - r._r_orig_prompt for r in reqs],
            "routed_at": [r._r_routed_at for r in reqs], "replica_id": [r._r_replica_id for r in reqs],
            "scheduled_at": [r._r_t_sched for r in reqs], "first_token_at": [r._r_t_first for r in reqs],
            "completed_at": [r._r_t_done for r in reqs], "num_restarts": [r._r_restarts for r in reqs],
            "wasted_tokens": [r._r_wasted for r in reqs],
        }
        arrays = {k: np.asarray(v) for k, v in cols.items()}
        return RunResult(
            seed=self.seed, requests=arrays, makespan_s=end, gpu_hours=lifetimes * tp / 3600.0,
            busy_s=sum(r.busy_time for r in self.all_replicas.values()), replica_seconds=lifetimes,
            num_preemptions=sum(r.num_preemptions for r in self.all_replicas.values()),
            samples=self.samples, events=self.log.events, scaling=self.scaling)


def _policy_exception(exc: BaseException, where: str) -> PolicyViolation:
    frames = traceback.extract_tb(exc.__traceback__)
    policy_frames = [f for f in frames if "/simulator/" not in f.filename.replace("\\", "/")] or frames
    loc = f" at {policy_frames[-1].filename}:{policy_frames[-1].lineno}" if policy_frames else ""
    return PolicyViolation("exception", f"policy raised {type(exc).__name__} in {where}(){loc}: {exc}")
