"""The figures of a seed, computed by the harness from raw records it has first checked against what it knows
independently of the process that produced them.

Checked: the workload (regenerated from the seed: request count, arrival times, prompt and decode lengths), the
bookkeeping (each request routed once, to a replica that existed, completed once; consistent totals) and the physics
of the execution model: no request completes faster than it would alone on an idle replica, no timestamp precedes
the one before it (arrival, routing, first admission, first token, completion), the KV blocks and the batch-size cap
are never exceeded. A record that fails is a ``TamperedRecords`` error naming what failed, and no figure is computed.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from glia.simulator.clock import Clock, Log
from glia.simulator.config import SimulationConfig
from glia.simulator.engine import RunResult
from glia.simulator.metrics import request_metrics, run_summary
from glia.simulator.policy.loader import is_builtin, load_policy
from glia.simulator.replica import ReplicaScheduler
from glia.simulator.request import Request
from glia.simulator.rows import columns
from glia.simulator.workloads import ClosedLoop, Trace

TOLERANCE = 1e-9  # relative, for times the harness recomputes (float rounding only)


class TamperedRecords(Exception):
    """The records contradict what the harness knows; the message says what."""

    kind = "tampered_records"


def _first(bad: np.ndarray) -> int:
    return int(np.flatnonzero(bad)[0])


def _events(run: RunResult) -> tuple[np.ndarray, ...]:
    """The scheduling events as columns: times, kinds (names), request ids, replica ids, values."""
    t, kind, rid, rep, val = columns(run.events, 5)
    return (t.astype(float), kind.astype(str), rid.astype(np.int64), rep.astype(np.int64), val.astype(np.int64))


def _started(run: RunResult) -> int:
    """How many replicas the autoscaler started."""
    return int((columns(run.scaling, 3)[1] == "start").sum()) if len(run.scaling) else 0


def _check_workload(workload: Trace | ClosedLoop, req: dict[str, np.ndarray]) -> None:
    n = len(req["request_id"])
    if not np.array_equal(req["request_id"], np.arange(n)):
        raise TamperedRecords("the request ids are not 0, 1, 2, ... in arrival order")
    if isinstance(workload, ClosedLoop):
        k = np.arange(n) % len(workload.prefill)
        want = sorted(zip(workload.prefill[k].tolist(), workload.decode[k].tolist(), strict=True))
        if sorted(zip(req["num_prefill_tokens"].tolist(), req["num_decode_tokens"].tolist(), strict=True)) != want:
            raise TamperedRecords("the prompt and decode lengths are not those the workload draws")
        done, think = req["completed_at"], workload.think[np.arange(n) % len(workload.think)]
        follow = done + think
        arrivals = np.concatenate([np.arange(workload.users) * 1e-3, follow[follow < workload.duration_s]])
        if len(arrivals) != n or not np.array_equal(np.sort(arrivals), np.sort(req["arrived_at"])):
            raise TamperedRecords("the arrival times are not those of the closed loop (each user's next request a "
                                  "think time after the previous one completed)")
        return
    if n != len(workload):
        raise TamperedRecords(f"{n} requests recorded, but the workload has {len(workload)}")
    for col, want, what in (("arrived_at", workload.arrived_at, "arrived at"),
                            ("num_prefill_tokens", workload.prefill, "has a prompt of"),
                            ("num_decode_tokens", workload.decode, "has a decode length of")):
        bad = req[col] != want
        if bad.any():
            i = _first(bad)
            raise TamperedRecords(f"request {i} {what} {req[col][i]} in the records but {want[i]} in the workload")


def _check_bookkeeping(config: SimulationConfig, run: RunResult, req: dict[str, np.ndarray]) -> None:
    n = len(req["request_id"])
    for col in ("routed_at", "scheduled_at", "first_token_at", "completed_at"):
        bad = ~np.isfinite(req[col])
        if bad.any():
            raise TamperedRecords(f"request {_first(bad)} has no {col.replace('_', ' ')} time")
    order = ("arrived_at", "routed_at", "scheduled_at", "first_token_at", "completed_at")
    for a, b in zip(order, order[1:], strict=False):
        bad = req[b] < req[a]
        if bad.any():
            i = _first(bad)
            raise TamperedRecords(f"request {i} has {b} {req[b][i]:.6f} s before its {a} {req[a][i]:.6f} s")
    if (req["num_restarts"] < 0).any() or (req["wasted_tokens"] < 0).any():
        raise TamperedRecords("a request has a negative restart count or wasted-token count")
    replicas = config.cluster.num_replicas + _started(run)
    bad = (req["replica_id"] < 0) | (req["replica_id"] >= replicas)
    if bad.any():
        raise TamperedRecords(f"request {_first(bad)} ran on replica {req['replica_id'][_first(bad)]}, which never "
                              f"existed (replicas 0..{replicas - 1})")
    if n and run.makespan_s != req["completed_at"].max():
        raise TamperedRecords(f"the makespan {run.makespan_s} is not the last completion {req['completed_at'].max()}")
    if not abs(run.gpu_hours - run.replica_seconds * config.cluster.tensor_parallel / 3600) <= \
            TOLERANCE * max(run.gpu_hours, 1.0) or not 0 <= run.busy_s <= run.replica_seconds * (1 + TOLERANCE):
        raise TamperedRecords("the GPU-hours, busy time and replica lifetimes are inconsistent")
    if config.record_events:
        t, kind, rid, rep, _ = _events(run)
        route = kind == "route"
        routed, done = rid[route], int((kind == "complete").sum())
        if len(routed) != n or done != n or not np.array_equal(np.sort(routed), np.arange(n)):
            raise TamperedRecords(f"{len(routed)} routing and {done} completion events for {n} requests")
        bad = (t[route] != req["routed_at"][routed]) | (rep[route] != req["replica_id"][routed])
        if bad.any():
            raise TamperedRecords(f"request {routed[_first(bad)]}'s routing event disagrees with its record")
        if int((kind == "preempt").sum()) != run.num_preemptions:
            raise TamperedRecords("the preemption count disagrees with the preemption events")


def _check_capacity(config: SimulationConfig, run: RunResult) -> None:
    if not run.samples:
        return
    blocks = config.cluster.replica_config(config.cluster.execution_model()).num_blocks
    cap = config.cluster.batch_size_cap
    t, rep, pending, active, allocated, num_blocks, queue = columns(run.samples, 7)
    kv = (num_blocks != blocks) | ~((allocated >= 0) & (allocated <= blocks))
    batch = ~((active >= 0) & (active <= cap)) | (pending < 0) | (queue < 0)
    if (kv | batch).any():
        i = _first(kv | batch)
        if kv[i]:
            raise TamperedRecords(f"replica {rep[i]} holds {allocated[i]} of {num_blocks[i]} KV blocks at "
                                  f"t={t[i]:.3f} s; it has {blocks}")
        raise TamperedRecords(f"replica {rep[i]} runs {active[i]} requests at t={t[i]:.3f} s; the batch-size cap is "
                              f"{cap}")


def _check_events(config: SimulationConfig, run: RunResult, req: dict[str, np.ndarray]) -> None:
    """Every scheduling event against the requests' records and the rules of the replica scheduler: in time order;
    each request routed once (its prompt), admitted once more than it was preempted, first admitted when it was
    scheduled, preempted as often as it restarted, completed once when and where its record says, with its prompt
    plus decode length processed, on the replica it was routed to."""
    n = len(req["request_id"])
    if not len(run.events):
        return
    t, kind, rid, rep, val = _events(run)
    if not np.isfinite(t).all() or (np.diff(t) < 0).any():
        raise TamperedRecords("the scheduling events are not in time order")
    if ((rid < 0) | (rid >= n)).any():
        raise TamperedRecords("a scheduling event names a request that does not exist")
    if (rep != req["replica_id"][rid]).any():
        i = _first(rep != req["replica_id"][rid])
        raise TamperedRecords(f"request {rid[i]} has a {kind[i]} event on replica {rep[i]}, but ran on replica "
                              f"{req['replica_id'][rid[i]]}")
    restarts = req["num_restarts"]
    counts = {k: np.bincount(rid[kind == k], minlength=n) for k in ("admit", "preempt", "complete")}
    if int(restarts.sum()) != run.num_preemptions or not np.array_equal(counts["preempt"], restarts):
        raise TamperedRecords("the preemption events disagree with the requests' restart counts")
    if not np.array_equal(counts["admit"], restarts + 1):
        i = _first(counts["admit"] != restarts + 1)
        raise TamperedRecords(f"request {i} was admitted {counts['admit'][i]} times but restarted {restarts[i]} times")
    if not np.array_equal(counts["complete"], np.ones(n, np.int64)):
        raise TamperedRecords("a request has no completion event, or several")
    admit = kind == "admit"
    first = np.full(n, -1, np.int64)
    idx = np.flatnonzero(admit)
    first[rid[idx[::-1]]] = idx[::-1]  # the first admission of each request
    if (t[first] != req["scheduled_at"]).any():
        i = _first(t[first] != req["scheduled_at"])
        raise TamperedRecords(f"request {i} was first admitted at {t[first[i]]:.6f} s but its record says "
                              f"{req['scheduled_at'][i]:.6f} s")
    done = np.flatnonzero(kind == "complete")
    order = rid[done]
    total = req["num_prefill_tokens"] + req["num_decode_tokens"]
    if (t[done] != req["completed_at"][order]).any() or (val[done] != total[order]).any():
        raise TamperedRecords("a completion event disagrees with its request's record (time or tokens processed)")
    routes = np.flatnonzero(kind == "route")
    if (val[routes] != req["num_prefill_tokens"][rid[routes]]).any():
        raise TamperedRecords("a routing event disagrees with its request's prompt length")


def _check_samples(config: SimulationConfig, run: RunResult) -> None:
    """No more samples than the run's replicas and length allow, each of a replica that existed, within the run."""
    if not run.samples or config.sample_interval_s <= 0:
        return
    replicas = config.cluster.num_replicas + _started(run)
    a = config.autoscaler
    # sampling goes on while a replica works or starts: at most a cold start and a control tick past the last
    # completion
    horizon = run.makespan_s + (a.cold_start_s + a.interval_s if a is not None else 0.0) + \
        2 * config.sample_interval_s
    most = replicas * (int(horizon / config.sample_interval_s) + 2)
    if len(run.samples) > most:
        raise TamperedRecords(f"{len(run.samples)} replica samples, more than the {most} a run of "
                              f"{run.makespan_s:.1f} s with {replicas} replicas takes")
    times, reps = columns(run.samples, 2)
    t, rep = times.astype(float), reps.astype(float)
    outside = ~((rep >= 0) & (rep < replicas) & (t >= 0) & (t <= horizon))
    # sorted by (replica, time), stably: each pair's first sample first, any later one repeats it (== takes -0.0 for
    # 0.0, as a set of pairs does; a NaN time repeats nothing, and lies outside)
    order = np.lexsort((t, rep))
    rs, ts = rep[order], t[order]
    repeats = np.zeros(len(t), bool)
    repeats[order[1:][(rs[1:] == rs[:-1]) & (ts[1:] == ts[:-1])]] = True
    bad = outside | repeats
    if bad.any():
        i = _first(bad)
        raise TamperedRecords(f"a replica sample of replica {reps[i]} at t={t[i]:.3f} s lies outside the run or "
                              "repeats another")


def measure(config: SimulationConfig, seed: int, run: RunResult, workload: Trace | ClosedLoop | None = None
            ) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Check ``run`` (untrusted records of seed ``seed``) and compute its figures: (summary, per-request columns)."""
    workload = config.workload.generate(seed) if workload is None else workload
    req = run.requests
    _check_workload(workload, req)
    _check_bookkeeping(config, run, req)
    _check_capacity(config, run)
    cols = request_metrics(run, config.cluster.execution_model(), config.cluster.chunk_size)
    bad = cols["e2e_s"] < cols["isolated_s"] * (1 - TOLERANCE)
    if bad.any():
        i = _first(bad)
        raise TamperedRecords(f"request {i} completed {cols['e2e_s'][i]:.3f} s after arriving, faster than it "
                              f"could alone on an idle replica ({cols['isolated_s'][i]:.3f} s)")
    if config.record_events:
        _check_events(config, run, req)
    _check_samples(config, run)
    return run_summary(run, cols), cols


# -- replaying a replica ---------------------------------------------------------------------------------------------
REPLAY_TOLERANCE_S = 1e-6  # absolute: the replay's times differ from the run's by float rounding only (~1e-12 s)


def replayable(config: SimulationConfig) -> bool:
    """Whether a replica of a run of ``config`` can be replayed from its records: its batch policy is Glia's own
    (a batch policy file decides admissions the records do not determine)."""
    return is_builtin(config.cluster.batch_policy, "batch")


def replay_replica(config: SimulationConfig, run: RunResult, replica: int) -> str | None:
    """Re-run replica ``replica`` of a run (checked by ``measure`` first) with the harness's own replica scheduler:
    the requests routed to it, when and in the order the records say, with the workload's lengths. A replica's
    work depends on nothing else (the other replicas, the router and the autoscaler only decide what reaches it
    when), so honest records are reproduced to float rounding; None then, else what differs. Times, admissions,
    preemptions and completions forged in any way the other checks allow do not survive it."""
    req = run.requests
    mine = np.flatnonzero(req["replica_id"] == replica)
    if not len(mine):
        return None
    if len(run.events):
        _, kind, rid, rep_ids, _ = _events(run)
        order = rid[(kind == "route") & (rep_ids == replica)].tolist()
    else:
        order = sorted(mine.tolist(), key=lambda i: (req["routed_at"][i], i))
    model = config.cluster.execution_model()
    clock, totals = Clock(), {}
    batch = load_policy(config.cluster.batch_policy, "batch")(SimpleNamespace(cluster=config.cluster,
                                                                               seed=run.seed))
    rep = ReplicaScheduler(replica, config.cluster.replica_config(model), model, batch, clock, Log(False), totals)
    made = {}
    for i in order:
        r = made[i] = Request(int(i), float(req["arrived_at"][i]), int(req["num_prefill_tokens"][i]))
        totals[int(i)] = int(req["num_prefill_tokens"][i] + req["num_decode_tokens"][i])
    k = 0
    while k < len(order):
        t = float(req["routed_at"][order[k]])
        # what the replica does up to the routing instant comes first (a completion there may be what triggered it)
        while not rep.is_idle and rep.next_event_time <= t + REPLAY_TOLERANCE_S:
            clock.now = rep.next_event_time
            rep.on_segment_end()
        clock.now = t
        while k < len(order) and req["routed_at"][order[k]] == t:
            r = made[order[k]]
            r._r_routed_at = t
            rep.enqueue(r, t)
            k += 1
    while not rep.is_idle:
        clock.now = rep.next_event_time
        rep.on_segment_end()
    for col, attr in (("scheduled_at", "_r_t_sched"), ("first_token_at", "_r_t_first"),
                      ("completed_at", "_r_t_done")):
        for i in order:
            got, want = getattr(made[i], attr), req[col][i]
            if not abs(got - want) <= REPLAY_TOLERANCE_S:
                return (f"replica {replica} replayed from the records gives request {i} {col.replace('_', ' ')} "
                        f"{got:.6f} s; the records say {want:.6f} s")
    for col, attr in (("num_restarts", "_r_restarts"), ("wasted_tokens", "_r_wasted")):
        for i in order:
            if getattr(made[i], attr) != req[col][i]:
                return (f"replica {replica} replayed from the records gives request {i} {getattr(made[i], attr)} "
                        f"{col.replace('_', ' ')}; the records say {req[col][i]}")
    return None
