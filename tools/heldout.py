"""Held-out evaluation: a final design re-measured on seeds the search never saw and on a shifted workload.

A search picks its best design on the task's seeds, so its score there is biased upwards (the winner's curse). The
held-out seeds (by default 10, numbered from 1000 and never among the task's) give an unbiased estimate on the same
workload; the shifted workload (by default the task's arrival rate x 1.25, or a preset the task names) shows
whether the design depends on the exact load it was tuned on. Neither is charged to the search's budget.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from pathlib import Path

from glia.simulator.config import SimulationConfig
from glia.simulator.presets import get_preset
from glia.tools.evaluator import Evaluator

HELDOUT_SEEDS = 10
FIRST_SEED = 1000
LOAD_SCALE = 1.25
# the workload parameter that sets the offered load, per workload kind
LOAD_PARAMS = ("qps", "users")


def plan(task: dict) -> dict:
    """The task's held-out plan: ``seeds`` (list) and ``shifted`` (``workload``: a preset, or ``scale``)."""
    spec = task.get("heldout") or {}
    seeds = spec.get("seeds", HELDOUT_SEEDS)
    if isinstance(seeds, int):
        taken = set(task["benchmark"]["seeds"])
        start = max(FIRST_SEED, max(taken, default=0) + 1)
        seeds = [s for s in range(start, start + seeds + len(taken)) if s not in taken][:seeds]
    shifted = {"workload": spec["workload"]} if spec.get("workload") else {"scale": spec.get("load_scale",
                                                                                             LOAD_SCALE)}
    return {"seeds": list(seeds), "shifted": shifted}


def shifted_workload(workload: str, shifted: dict) -> tuple[str, str | SimulationConfig]:
    """(a name for the shifted workload, what the evaluator runs): a preset, or the task's with its load scaled."""
    if "workload" in shifted:
        return shifted["workload"], shifted["workload"]
    scale = float(shifted["scale"])
    config = get_preset(workload)
    params = dict(config.workload.params)
    key = next((k for k in LOAD_PARAMS if k in params), None)
    if key is None:
        raise ValueError(f"workload {workload!r} has no load parameter ({', '.join(LOAD_PARAMS)}) to scale; name a "
                         "shifted preset in the task's [heldout] workload")
    params[key] = round(params[key] * scale) if key == "users" else params[key] * scale
    name = f"{workload} ({key} x{scale:g})"
    return name, config.replace(workload=dataclasses.replace(config.workload, params=params))


def measure_heldout(evaluator: Evaluator, task: dict, designs: dict[str, str], prefix: str,
                    on_figure: Callable[[str, str, dict], None] | None = None,
                    hashes: dict[str, str] | None = None) -> dict[str, dict]:
    """Each design (name -> a built-in policy or a policy file) on the held-out seeds and on the shifted workload,
    recorded under ``PREFIX-heldout-NAME`` and ``PREFIX-shifted-NAME`` (read back if already measured);
    ``on_figure(design, part, figure)`` is told of each figure as it is measured (part: heldout or shifted). A
    design with a digest in ``hashes`` (a snapshot the search measured) is measured only if its file still holds
    those bytes; every policy file is measured the hardened way (its policy in a process of its own that holds
    nothing but what it is sent), so that a policy that forges its records on seeds it never saw cannot reach this
    table."""
    p = plan(task)
    name, shifted = shifted_workload(task["benchmark"]["workload"], p["shifted"])
    out: dict[str, dict] = {}
    for design, policy in designs.items():
        if policy.endswith(".py") and not Path(policy).is_file():
            continue
        digest = (hashes or {}).get(design)
        if digest is not None and hashlib.sha256(Path(policy).read_bytes()).hexdigest() != digest:
            continue  # the caller says why (the snapshot changed since it was measured)
        hard = digest is not None or policy.endswith(".py")
        tag = design.replace("/", "_")
        # CACHE: held-out measurements, by PREFIX-heldout-NAME and the (program, benchmark) the evaluator checks
        held = _brief(evaluator.measure(policy, f"{prefix}-heldout-{tag}", seeds=p["seeds"], context="heldout",
                                        hardened=hard), evaluator.metric)
        if on_figure:
            on_figure(design, "heldout", held)
        shift = {**_brief(evaluator.measure(policy, f"{prefix}-shifted-{tag}", seeds=p["seeds"], workload=shifted,
                                            context="heldout", hardened=hard), evaluator.metric), "workload": name}
        if on_figure:
            on_figure(design, "shifted", shift)
        out[design] = {"heldout": held, "shifted": shift}
    evaluator.flush()
    return out


def _brief(m: dict, metric: str) -> dict:
    ci = m.get("mean_e2e_ci90") if metric == "mean_e2e_s" else (m.get("ci90") or {}).get(metric)
    return {"value": m.get("value"), "score": m.get("score"), "ci90": ci, "seeds": m.get("seeds"),
            "metrics": m.get("metrics"), "error": m.get("error"), "wall_s": m.get("wall_s"),
            "feasible": m.get("feasible"), "violation": m.get("violation"), "hardened": bool(m.get("hardened"))}
