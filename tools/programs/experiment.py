"""A program task's experiment: the researcher's candidate file frozen (as ``run_simulation`` freezes a policy),
checked against the starter's EVOLVE-BLOCK regions, evaluated through the ``ProgramEvaluator``; and the text the
researcher reads of it. A candidate that changes code outside the blocks is refused before it runs and charged
nothing."""

from __future__ import annotations

from pathlib import Path

from glia.tools.programs import blocks
from glia.tools.programs.evaluator import ProgramEvaluator
from glia.tools.simulation import digest, freeze_candidate

KEPT = ("metrics", "error", "score", "value", "violation", "feasible", "valid", "program_status", "wall_s", "sim_s",
        "program_s", "private", "artifacts", "invalid_reason", "key", "mean_e2e_ci90", "ci90", "isolation", "baseline",
        "baseline_runs")


def run_program(workspace: Path, evaluator: ProgramEvaluator, task: dict, candidate: str, experiment_id: str,
                context: str = "", run_id: str | None = None) -> dict:
    """Freeze ``candidate`` (a file in the workspace), check its EVOLVE-BLOCK edits against the starter (a
    ``blocks.BlockError`` says where it strayed; nothing is charged), evaluate it; the experiment record."""
    suffix = Path(task["design"]["file"]).suffix or ".txt"

    def check(code: bytes) -> None:
        if task["design"].get("blocks"):
            try:
                blocks.check(task["design"]["starter_source"], code.decode(errors="replace"))
            except blocks.BlockError as exc:
                raise ValueError(f"{candidate}: refused before it ran (not charged): {exc}") from None

    frozen, code, shown = freeze_candidate(workspace, candidate, experiment_id, suffix, check)
    sha = digest(code)
    run_id = run_id or experiment_id
    res = evaluator.evaluate(str(frozen), run_id, context=context)
    if res["status"] == "budget":
        raise ValueError("the evaluation budget is used up; call finish with your best design")
    from glia.tools.evaluator import program_key
    return {**{k: res.get(k) for k in KEPT}, "id": experiment_id,
            "run_id": res.get("telemetry_run") or res["key"], "experiment_run": run_id,
            "candidate": candidate, "snapshot": shown, "frozen": str(frozen), "sha256": sha, "hash": sha[:16],
            "program": program_key(code.decode(errors="replace")), "workload": evaluator.workload, "seeds": [],
            "reused": bool(res.get("reused"))}


def experiment_text(res: dict, sims_left: int, task: dict) -> str:
    """An experiment's result as the researcher reads it: the objective and the validity first, then the other
    metrics, the evaluator's feedback, the artifact tables it can query; a failure says whose it was. Never the
    evaluator's private metrics."""
    head = f"experiment {res['id']}" + (f" ({res['label']})" if res.get("label") else "")
    obj = task["objective"]
    metric, c = obj["metric"], obj.get("constraint")
    err = res.get("error")
    if err:
        body = f"ERROR {err['kind']} (the {err.get('who', 'unknown')}'s failure): {err['message']}"
        if err.get("detail"):
            body += f"\n{err['detail'][-1200:]}"
    else:
        m = res["metrics"]
        keys = dict.fromkeys([metric, *([c["metric"]] if c else []), *m])
        body = ", ".join(f"{k} {m[k]:.6g}" for k in list(keys)[:12] if k in m)
        if res.get("valid") is False or not res.get("feasible", True):
            body += f"; INVALID ({res.get('invalid_reason') or 'the constraint is broken'}): it cannot be the best"
    art = res.get("artifacts") or {}
    if art.get("feedback"):
        body += f"\nEvaluator feedback:\n{art['feedback']}"
    if art.get("tables"):
        from glia.tools.programs.telemetry import table_name
        body += "\nPer-case tables (query_telemetry, WHERE run_id = '" + str(res.get("run_id")) + "'): " + ", ".join(
            f"{table_name(n)} ({rows} rows)" for n, rows in art["tables"].items())
    if res.get("baseline"):
        runs = res.get("baseline_runs") or "its"
        body += (f"\n(the unchanged starter: its baseline measurement, the mean of {runs} runs, read back, not run "
                 "again and not charged)")
    elif res.get("reused"):
        body += "\n(the same program was measured before on this benchmark: its figures are read back, not charged "\
                "again)"
    return f"{head}: {body}\nEvaluations left: {sims_left}."


def describe_confirm(check: dict) -> str:
    """One line on a fresh-copy re-measurement."""
    if check["agree"]:
        return f"re-measured in a fresh copy: agrees ({check['wall_s']:.1f} s)"
    if check.get("error"):
        return f"re-measured in a fresh copy: FAILED ({check['error']['kind']}: {check['error']['message'][:200]})"
    diffs = "; ".join(f"{m}: {v}" if isinstance(v, str) else f"{m} {v[0]} measured, {v[1]} in the fresh copy"
                      for m, v in check["differences"].items())
    return f"re-measured in a fresh copy: DISAGREES beyond the noise band, the figures cannot be trusted ({diffs})"
