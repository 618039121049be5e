"""The ``run_simulation`` tool: a candidate policy of the task's layer (router, batch policy or autoscaler), with the
task's fixed policies in the other layers, on the task's benchmark over its seeds, recorded in telemetry.

Experiments are idempotent by id: an experiment already in the telemetry database (finished before a crash or a
kill) is read back instead of run again, so resuming a run never repeats or loses one.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from glia.simulator import run_benchmark
from glia.simulator.metrics import SUMMARY_METRICS
from glia.simulator.telemetry import reading

def _stored(db: Path, experiment_id: str) -> dict | None:
    if not db.exists():
        return None
    with reading(db) as con:
        row = con.execute("SELECT error_kind, error_message, wall_s, ci90 FROM runs WHERE run_id = ?",
                          [experiment_id]).fetchone()
        if row is None:
            return None
        cols = ", ".join(f"avg({m})" for m in SUMMARY_METRICS)
        ci = con.execute("SELECT mean_e2e_ci_low, mean_e2e_ci_high FROM runs WHERE run_id = ?",
                         [experiment_id]).fetchone()
        agg = con.execute(f"SELECT {cols} FROM run_seeds WHERE run_id = ? AND error_kind IS NULL",
                          [experiment_id]).fetchone()
    metrics = {m: v for m, v in zip(SUMMARY_METRICS, agg) if v is not None}
    error = {"kind": row[0], "message": row[1]} if row[0] else None
    cis = json.loads(row[3]) if row[3] else {}
    return {"metrics": metrics, "mean_e2e_ci90": [ci[0], ci[1]], "ci90": cis, "error": error, "wall_s": row[2],
            "reused": True}


def _stack(policy: str, layer: str, fixed: dict | None) -> dict:
    """The router, batch policy and autoscaler of a run of ``policy`` in ``layer`` (None: the preset's)."""
    stack = {"router": None, "batch": None, "autoscaler": None, **(fixed or {})}
    stack[layer] = policy
    if stack["router"] is None:
        raise ValueError(f"a {layer} experiment needs a router: the task must fix one ([stack] router)")
    return stack


def _measure(db: Path, policy: str, workload: str, seeds: list[int], run_id: str, context: str,
             timeout_s: float = 300.0, layer: str = "router", fixed: dict | None = None) -> dict:
    """Run ``policy`` (of ``layer``, the other layers ``fixed``) on the benchmark and record it under ``run_id``, or
    read it back if it was recorded."""
    stored = _stored(db, run_id)
    if stored is not None:
        return stored
    stack = _stack(policy, layer, fixed)
    res = run_benchmark(stack["router"], workload, seeds, timeout_s=timeout_s, telemetry=db, context=context,
                        run_id=run_id, batch=stack["batch"], autoscaler=stack["autoscaler"])
    metrics = {m: res.metric(m) for m in SUMMARY_METRICS if m in res.metrics}
    ci = res.metrics.get("mean_e2e_s", {}).get("ci90")
    return {"metrics": metrics, "mean_e2e_ci90": list(ci) if ci else None, "ci90": res.cis(), "error": res.error,
            "wall_s": res.wall_s, "reused": False}


def run_simulation(workspace: Path, db: Path, candidate: str, experiment_id: str, workload: str, seeds: list[int],
                   context: str = "", timeout_s: float = 300.0, layer: str = "router",
                   fixed: dict | None = None, run_id: str | None = None) -> dict:
    """Run ``candidate`` (a file in the workspace: a policy of ``layer``, the other layers ``fixed``) and return a
    compact result with the experiment id and its telemetry ``run_id`` (default: the experiment id).

    The candidate is frozen as ``experiments/<id>.py`` so the ledger always points at the code that ran.
    """
    snapshot = workspace / "experiments" / f"{experiment_id}.py"
    if not snapshot.is_file():  # a recorded experiment keeps the snapshot it ran
        src = workspace / candidate
        if not src.is_file():
            raise FileNotFoundError(f"candidate {candidate!r} not found in the workspace")
        snapshot.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, snapshot)
    run_id = run_id or experiment_id
    stored = _measure(db, str(snapshot), workload, seeds, run_id, context, timeout_s, layer, fixed)
    code = snapshot.read_bytes() if snapshot.is_file() else b""
    return {"id": experiment_id, "run_id": run_id, "candidate": candidate,
            "snapshot": str(snapshot.relative_to(workspace)),
            "hash": hashlib.sha256(code).hexdigest()[:16], "workload": workload, "seeds": list(seeds), **stored}


def run_baseline(db: Path, policy: str, workload: str, seeds: list[int], run_id: str, layer: str = "router",
                 fixed: dict | None = None) -> dict:
    """A baseline policy of ``layer`` on the benchmark, recorded under ``run_id`` (idempotent like
    ``run_simulation``)."""
    stored = _measure(db, policy, workload, seeds, run_id, "baselines", layer=layer, fixed=fixed)
    return {"id": run_id, "policy": policy, "workload": workload, "seeds": list(seeds), **stored}
