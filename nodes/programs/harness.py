"""The harness's program-task branches (``harness.py`` calls them when ``[design] layer = "program"``): the starter
measured several times as the baseline and noise band, the verdict of an experiment against that band, the
fresh-copy re-measurement of a new best, and the held-out re-measurement on the evaluator's variants."""

from __future__ import annotations

import math
from pathlib import Path

from glia.state import GliaState
from glia.tools.programs.evaluator import ProgramEvaluator
from glia.tools.programs.experiment import describe_confirm
from glia.tools.simulation import SnapshotChanged, frozen_code


def starter_baseline(state: GliaState, evaluator: ProgramEvaluator) -> dict:
    """The starter measured ``STARTER_RUNS`` times, uncharged, each in a fresh copy: the run's one baseline, with
    the noise band of the objective (the spread across the runs) and the timeout derived from them when "auto"."""
    task = state["task"]
    key = evaluator.key(task["design"]["starter_source"])
    b = evaluator.measure_starter(task["design"]["starter_source"], key)
    b.update(policy="starter", spec="starter")
    evaluator.calibrate([b])
    b["timeout_s"] = evaluator.timeout_s
    return b


def verdict(entry: dict, score: float, best_score: float, noise: float) -> str:
    """``improved`` only by more than the starter's noise band (in the objective's units); a smaller gain is
    ``within noise``."""
    if entry.get("error"):
        return "error"
    if entry.get("valid") is False or not entry.get("feasible", True):
        return "invalid"
    if best_score == math.inf:
        return "improved" if score < math.inf else "no gain"
    gain = best_score - score
    if gain > max(noise, 1e-12 * abs(best_score)):
        return "improved"
    if gain > 0:
        return "within noise"
    return "worse" if -gain > max(noise, 0.05 * abs(best_score)) else "no gain"


def noise_note(verdict_: str, noise: float) -> str:
    if verdict_ == "within noise":
        return (f"\nThe gain over the best so far lies inside the starter's noise band ({noise:.4g}, the spread of "
                "its objective over repeated runs): it is not called a gain.")
    return ""


def confirm(entry: dict, evaluator: ProgramEvaluator) -> tuple[dict, str]:
    """A new best re-measured in a fresh copy of the working directory before it counts: (the check, its line)."""
    try:
        source = frozen_code(entry["frozen"], entry["sha256"]).decode(errors="replace")
    except (SnapshotChanged, KeyError):
        check = {"agree": False, "differences": {"snapshot": "changed or missing since it was measured"},
                 "wall_s": 0.0, "error": None, "fresh_copy": True}
        return check, describe_confirm(check)
    check = evaluator.confirm(source, entry)
    return check, describe_confirm(check)


def baseline_check(entry: dict) -> tuple[dict, str]:
    """The unchanged starter as a new best: its baseline runs, each in a fresh copy, are its re-measurement (the
    check, its line)."""
    runs = entry.get("baseline_runs") or "several"
    check = {"agree": True, "differences": {}, "wall_s": 0.0, "error": None, "fresh_copy": True,
             "value": entry.get("value"), "baseline": True}
    return check, f"the starter's baseline: measured {runs} times, each in a fresh copy (not measured again)"


def heldout(state: GliaState, evaluator: ProgramEvaluator, on_figure=None) -> dict:
    """The best design and the starter on each of the evaluator's variants (held-out, shifted), uncharged and never
    recorded in the telemetry the agents query; {} when the task gives no variant (the report says there is no
    held-out check). ``{design: {variant: figure}}``."""
    task = state["task"]
    variants = list(evaluator.spec.variants)
    if not variants:
        return {}
    designs: dict[str, str] = {}
    best = state.get("best")
    if best and not best.get("undelivered"):
        try:
            designs["best"] = frozen_code(best["snapshot"], best["sha256"]).decode(errors="replace")
        except (SnapshotChanged, KeyError):
            pass
    designs["starter"] = task["design"]["starter_source"]
    return measure_variants(evaluator, designs, on_figure)


def measure_variants(evaluator: ProgramEvaluator, designs: dict[str, str], on_figure=None) -> dict:
    """Each design (name -> its source) on each of the evaluator's variants, uncharged, unrecorded:
    ``{design: {variant: figure}}`` ({} without variants)."""
    variants = list(evaluator.spec.variants)
    out: dict[str, dict] = {}
    for name, source in designs.items():
        out[name] = {}
        for variant in variants:
            m = evaluator.measure(source, f"{name}-{variant}", variant=variant)
            fig = {"value": m.get("value"), "metrics": m["metrics"], "error": m.get("error"),
                   "feasible": m.get("feasible"), "valid": m.get("valid"), "wall_s": m.get("wall_s"),
                   "seeds": None, "ci90": None, "workload": f"evaluator variant {variant}",
                   "private": m.get("private") or {}}
            out[name][variant] = fig
            if on_figure:
                on_figure(name, variant, fig)
    return out


PROBLEM_DIR = "problem"


def copy_problem(workspace: Path, task: dict) -> int:
    """The researcher's confined copy of the evaluator's working directory, ``problem/`` in its workspace (the
    shell tool runs there; it cannot read the original): every file but the evaluator's own (its entry, the
    command's scripts, the task's ``hidden`` list), the candidate's file name (the design file is the workspace's)
    and what is never copied for an evaluation. Written once (a resumed context keeps it); the number of files."""
    import fnmatch
    import os

    from glia.tools.programs.spec import COPY_IGNORE
    from glia.tools.workspace import write_inside

    ev = task["evaluator"]
    root = Path(ev["workdir"])
    skip = {*ev.get("hidden", [ev.get("entry")]), ev["program_file"]}
    n = 0
    for top, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not any(fnmatch.fnmatch(d, p) for p in COPY_IGNORE))
        for name in sorted(files):
            rel = (Path(top) / name).relative_to(root).as_posix()
            if rel in skip or any(fnmatch.fnmatch(name, p) for p in COPY_IGNORE) or (Path(top) / name).is_symlink():
                continue
            write_inside(workspace, f"{PROBLEM_DIR}/{rel}", (Path(top) / name).read_bytes(), replace=False)
            n += 1
    return n
