"""The figures of a seed, computed by the harness from raw records it has first checked against what it knows
independently of the process that produced them.

Checked: the workload (regenerated from the seed: request count, arrival times, prompt and decode lengths), the
bookkeeping (each request routed once, to a replica that existed, completed once; consistent totals) and the physics
of the execution model: no request completes faster than it would alone on an idle replica, no timestamp precedes
the one before it (arrival, routing, first admission, first token, completion), the KV blocks and the batch-size cap
are never exceeded. A record that fails is a ``TamperedRecords`` error naming what failed, and no figure is computed.
"""

from __future__ import annotations

import numpy as np

from .config import SimulationConfig
from .engine import RunResult
from .metrics import request_metrics, run_summary
from .workloads import ClosedLoop, Trace

TOLERANCE = 1e-9  # relative, for times the harness recomputes (float rounding only)


class TamperedRecords(Exception):
    """The records contradict what the harness knows; the message says what."""

    kind = "tampered_records"


def _first(bad: np.ndarray) -> int:
    return int(np.flatnonzero(bad)[0])


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
    replicas = config.cluster.num_replicas + sum(1 for _, action, _ in run.scaling if action == "start")
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
        routes = [(rid, t, rep) for t, kind, rid, rep, _ in run.events if kind == "route"]
        done = sum(1 for e in run.events if e[1] == "complete")
        if len(routes) != n or done != n or sorted(r for r, _, _ in routes) != list(range(n)):
            raise TamperedRecords(f"{len(routes)} routing and {done} completion events for {n} requests")
        for rid, t, rep in routes:
            if t != req["routed_at"][rid] or rep != req["replica_id"][rid]:
                raise TamperedRecords(f"request {rid}'s routing event disagrees with its record")
        if sum(1 for e in run.events if e[1] == "preempt") != run.num_preemptions:
            raise TamperedRecords("the preemption count disagrees with the preemption events")


def _check_capacity(config: SimulationConfig, run: RunResult) -> None:
    if not run.samples:
        return
    blocks = config.cluster.replica_config(config.cluster.execution_model()).num_blocks
    cap = config.cluster.batch_size_cap
    for t, rep, pending, active, allocated, num_blocks, queue in run.samples:
        if num_blocks != blocks or not 0 <= allocated <= blocks:
            raise TamperedRecords(f"replica {rep} holds {allocated} of {num_blocks} KV blocks at t={t:.3f} s; it has "
                                  f"{blocks}")
        if not 0 <= active <= cap or pending < 0 or queue < 0:
            raise TamperedRecords(f"replica {rep} runs {active} requests at t={t:.3f} s; the batch-size cap is {cap}")


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
    return run_summary(run, cols), cols
