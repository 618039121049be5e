"""The ``run_simulation`` tool: a candidate policy on the task's benchmark over its seeds, through the evaluator
every method shares (``evaluator.py``: fail-fast, the task's timeout, the budget ledger, recorded in telemetry).

Experiments are idempotent by id: an experiment already in the telemetry database (finished before a crash or a
kill) is read back instead of run again, so resuming a run never repeats or loses one.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from .evaluator import Evaluator

# what an experiment keeps of its evaluation (the ``Measurement`` record's fields)
MEASUREMENT = ("metrics", "mean_e2e_ci90", "error", "wall_s", "sim_s")


def run_simulation(workspace: Path, evaluator: Evaluator, candidate: str, experiment_id: str,
                   context: str = "") -> dict:
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
    res = evaluator.evaluate(str(snapshot), experiment_id, context=context)
    if res["status"] == "budget":
        raise ValueError("the simulation budget is used up; call finish with your best design")
    code = snapshot.read_bytes() if snapshot.is_file() else b""
    return {**{k: res.get(k) for k in MEASUREMENT}, "id": experiment_id, "candidate": candidate,
            "snapshot": str(snapshot.relative_to(workspace)), "hash": hashlib.sha256(code).hexdigest()[:16],
            "workload": res.get("workload") or evaluator.workload, "seeds": list(evaluator.seeds),
            "reused": bool(res.get("reused"))}


def run_baseline(evaluator: Evaluator, policy: str, run_id: str) -> dict:
    """A built-in policy on the benchmark, uncharged, recorded under ``run_id`` (idempotent like
    ``run_simulation``)."""
    res = evaluator.measure(policy, run_id, context="baselines")
    return {**{k: res.get(k) for k in (*MEASUREMENT, "seed_s", "workload", "reused")}, "id": run_id,
            "policy": policy, "seeds": list(evaluator.seeds)}
