"""The ``run_simulation`` tool: a candidate policy on the task's benchmark over its seeds, recorded in telemetry; and
``confirm_hardened``, the re-measurement a design must pass before it is reported best.

Experiments are idempotent by id: an experiment already in the telemetry database (finished before a crash or a
kill) is read back instead of run again, so resuming a run never repeats or loses one.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from glia.simulator import run_benchmark
from glia.simulator.metrics import SUMMARY_METRICS, clean
from glia.simulator.runner import same_figure
from glia.simulator.telemetry import reading


def _stored(db: Path, experiment_id: str) -> dict | None:
    if not db.exists():
        return None
    with reading(db) as con:
        row = con.execute("SELECT error_kind, error_message, wall_s FROM runs WHERE run_id = ?",
                          [experiment_id]).fetchone()
        if row is None:
            return None
        cols = ", ".join(f"avg({m})" for m in SUMMARY_METRICS)
        ci = con.execute("SELECT mean_e2e_ci_low, mean_e2e_ci_high FROM runs WHERE run_id = ?",
                         [experiment_id]).fetchone()
        agg = con.execute(f"SELECT {cols} FROM run_seeds WHERE run_id = ? AND error_kind IS NULL",
                          [experiment_id]).fetchone()
    metrics = {m: v for m, v in zip(SUMMARY_METRICS, agg, strict=True) if v is not None}
    error = {"kind": row[0], "message": row[1]} if row[0] else None
    return {"metrics": metrics, "mean_e2e_ci90": [ci[0], ci[1]], "error": error, "wall_s": row[2], "reused": True}


def _measure(db: Path, policy: str, workload: str, seeds: list[int], run_id: str, context: str,
             timeout_s: float = 300.0) -> dict:
    """Run ``policy`` on the benchmark and record it under ``run_id``, or read it back if it was recorded."""
    stored = _stored(db, run_id)
    if stored is not None:
        return stored
    res = run_benchmark(policy, workload, seeds, timeout_s=timeout_s, telemetry=db, context=context, run_id=run_id)
    metrics = {m: res.metric(m) for m in SUMMARY_METRICS if m in res.metrics}
    ci = res.metrics.get("mean_e2e_s", {}).get("ci90")
    return {"metrics": metrics, "mean_e2e_ci90": list(ci) if ci else None, "error": res.error, "wall_s": res.wall_s,
            "reused": False}


def run_simulation(workspace: Path, db: Path, candidate: str, experiment_id: str, workload: str, seeds: list[int],
                   context: str = "", timeout_s: float = 300.0) -> dict:
    """Run ``candidate`` (a file in the workspace) and return a compact result with the experiment id.

    The candidate is frozen as ``experiments/<id>.py`` so the ledger always points at the code that ran.
    """
    snapshot = workspace / "experiments" / f"{experiment_id}.py"
    if not snapshot.is_file():  # a recorded experiment keeps the snapshot it ran
        src = workspace / candidate
        if not src.is_file():
            raise FileNotFoundError(f"candidate {candidate!r} not found in the workspace")
        snapshot.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, snapshot)
    stored = _measure(db, str(snapshot), workload, seeds, experiment_id, context, timeout_s)
    code = snapshot.read_bytes() if snapshot.is_file() else b""
    return {"id": experiment_id, "candidate": candidate, "snapshot": str(snapshot.relative_to(workspace)),
            "hash": hashlib.sha256(code).hexdigest()[:16], "workload": workload, "seeds": list(seeds), **stored}


def run_baseline(db: Path, policy: str, workload: str, seeds: list[int], run_id: str) -> dict:
    """A built-in policy on the benchmark, recorded under ``run_id`` (idempotent like ``run_simulation``)."""
    stored = _measure(db, policy, workload, seeds, run_id, "baselines")
    return {"id": run_id, "policy": policy, "workload": workload, "seeds": list(seeds), **stored}


def confirm_hardened(workspace: Path, experiment: dict, workload: str, seeds: list[int],
                     timeout_s: float = 300.0) -> dict:
    """Re-measure an experiment's frozen snapshot with the policy in a process of its own driven over a pipe (the
    hardened mode), and say whether every figure agrees with the measurement. A snapshot changed since it was
    measured, a failure or any difference means the measured figures cannot be trusted. Not recorded in telemetry:
    the experiment is there once, as measured."""
    snapshot = workspace / experiment["snapshot"]
    code = snapshot.read_bytes() if snapshot.is_file() else b""
    if hashlib.sha256(code).hexdigest()[:16] != experiment["hash"]:
        return {"agree": False, "differences": {"snapshot": "changed or missing since it was measured"},
                "wall_s": 0.0, "error": None}
    hard = run_benchmark(str(snapshot), workload, seeds, timeout_s=timeout_s, hardened=True)
    measured = experiment.get("metrics", {})
    diffs = {m: [clean(measured.get(m)), clean(hard.metric(m))] for m in SUMMARY_METRICS
             if not same_figure(measured.get(m), hard.metric(m) if m in hard.metrics else None)}
    return {"agree": not diffs and not hard.error, "differences": diffs, "wall_s": round(hard.wall_s, 3),
            "error": hard.error}


def describe_check(check: dict) -> str:
    """One line for the researcher, the report and the CLI."""
    if check["agree"]:
        return f"hardened re-measurement agrees ({check['wall_s']:.1f} s)"
    if check.get("error"):
        return f"hardened re-measurement FAILED ({check['error']['kind']}: {check['error']['message'][:200]})"
    diffs = "; ".join(f"{m}: {v}" if isinstance(v, str) else f"{m} {v[0]} measured, {v[1]} hardened"
                      for m, v in check["differences"].items())
    return f"hardened re-measurement DISAGREES, the measured figures cannot be trusted ({diffs})"
