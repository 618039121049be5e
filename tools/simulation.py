"""The ``run_simulation`` tool: a candidate policy of the task's layer (router, batch policy or autoscaler), with the
task's fixed policies in the other layers, on the task's benchmark over its seeds, through the evaluator every method
shares (``evaluator.py``: fail-fast, the task's timeout, the budget ledger, recorded in telemetry); and
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

from .evaluator import Evaluator, program_key

# what an experiment keeps of its evaluation (the ``Measurement`` record's fields)
MEASUREMENT = ("metrics", "mean_e2e_ci90", "ci90", "error", "wall_s", "sim_s")
HARDENED_TIMEOUT_FACTOR = 4  # the hardened mode costs 2-4x a seed in the normal mode


def run_simulation(workspace: Path, evaluator: Evaluator, candidate: str, experiment_id: str,
                   context: str = "", run_id: str | None = None) -> dict:
    """Run ``candidate`` (a file in the workspace: a policy of the evaluator's layer) and return a compact result
    with the experiment id and its ``run_id``, the key it is recorded (and charged) under: by default the
    experiment id; a Glia run makes it unique to the run (``THREAD/c1-e001``), so that runs sharing a workspace
    never read back each other's experiments.

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
    res = evaluator.evaluate(str(snapshot), run_id, context=context)
    evaluator.flush()  # recorded before the step that ran it is checkpointed (the analyst reads it next)
    if res["status"] == "budget":
        raise ValueError("the simulation budget is used up; call finish with your best design")
    code = snapshot.read_bytes() if snapshot.is_file() else b""
    return {**{k: res.get(k) for k in MEASUREMENT}, "id": experiment_id, "run_id": run_id, "candidate": candidate,
            "snapshot": str(snapshot.relative_to(workspace)), "hash": hashlib.sha256(code).hexdigest()[:16],
            "program": program_key(code.decode(errors="replace")),
            "workload": res.get("workload") or evaluator.workload, "seeds": list(evaluator.seeds),
            "reused": bool(res.get("reused"))}


def run_baseline(evaluator: Evaluator, policy: str, run_id: str) -> dict:
    """A baseline policy of the evaluator's layer (a built-in or a file) on the benchmark, uncharged, recorded under
    ``run_id`` (idempotent like ``run_simulation``)."""
    res = evaluator.measure(policy, run_id, context="baselines")
    return {**{k: res.get(k) for k in (*MEASUREMENT, "seed_s", "workload", "reused")}, "id": run_id,
            "policy": policy, "seeds": list(evaluator.seeds)}


def confirm_hardened(workspace: Path, experiment: dict, evaluator: Evaluator) -> dict:
    """Re-measure an experiment's frozen snapshot (with the task's fixed policies of the other layers) with the
    policies in a process of their own driven over a pipe (the hardened mode), and say whether every figure agrees
    with the measurement. A snapshot changed since it was measured, a failure or any difference means the measured
    figures cannot be trusted. Not recorded in telemetry: the experiment is there once, as measured."""
    snapshot = workspace / experiment["snapshot"]
    code = snapshot.read_bytes() if snapshot.is_file() else b""
    if hashlib.sha256(code).hexdigest()[:16] != experiment["hash"]:
        return {"agree": False, "differences": {"snapshot": "changed or missing since it was measured"},
                "wall_s": 0.0, "error": None}
    stack = evaluator.stack(str(snapshot))
    hard = run_benchmark(stack["router"], evaluator.workload, evaluator.seeds, memory_mb=evaluator.memory_mb,
                         timeout_s=HARDENED_TIMEOUT_FACTOR * evaluator.timeout_s, hardened=True,
                         batch=stack["batch"], autoscaler=stack["autoscaler"])
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
