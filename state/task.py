"""Tasks: what to design, measured how, within which budgets. A task is a TOML file (see ``tasks/routing.toml``),
loaded into a ``Task``.

Format:
  name, background                       (strings)
  [objective] metric = "<run metric>", goal = "minimize" | "maximize"
              optional [objective.constraint] metric = "...", max = X (or min = X)
  [benchmark] workload = "<simulator preset>", seeds = [..] or N, baselines = ["llq", ...]
  [design]    file = "policy.py" (the file the agent designs), editable = [files it may write],
              starter = "<file beside the TOML, or a built-in policy name>" (the design's first version),
              function = "<file beside the TOML>" (optional: the design as one function, for methods that evolve
              a function, EoH and FunSearch: a preface, the function, then the class that calls it)
  [heldout]   seeds = N or [..] (default 10, never the benchmark's), and workload = "<preset>" or load_scale = X
              (default 1.25): where a final design is re-measured after the search (optional)
  [budget]    simulations = N, usd = X, wall_clock_s = S, tokens = N (optional)
  [endpoint.ROLE] tools = "...", structured = "..." (optional; ROLE a role or "all"; see nodes/modes.py)
"""

from __future__ import annotations

import math
import tomllib
from pathlib import Path
from typing import Literal, TypedDict

from glia.simulator.metrics import RUN_METRICS
from glia.simulator.presets import PRESETS

TASKS_DIR = Path(__file__).parent / "tasks"


class Objective(TypedDict):
    metric: str                    # one of simulator.metrics.RUN_METRICS
    goal: Literal["minimize", "maximize"]
    constraint: dict | None        # {"metric": ..., "max": X} or {"metric": ..., "min": X}


class Benchmark(TypedDict):
    workload: str                  # a simulator preset
    seeds: list[int]
    baselines: list[str]           # built-in policies the harness measures once per run


class Design(TypedDict):
    file: str                      # the file the researcher designs
    editable: list[str]            # the files it may write (glob patterns)
    starter_source: str            # the design's first version
    function_source: str           # the design as one function and the class that calls it ("" if none)


class TaskBudget(TypedDict):
    simulations: int
    usd: float
    wall_clock_s: float
    tokens: int | None


class Task(TypedDict):
    name: str
    background: str
    objective: Objective
    benchmark: Benchmark
    design: Design
    budget: TaskBudget
    endpoint: dict                 # overrides of how roles talk to their model (see nodes/modes.py)
    heldout: dict                  # where a final design is re-measured: seeds, workload or load_scale


class TaskError(ValueError):
    """A task file is malformed; the message names the field."""


def builtin_tasks() -> list[str]:
    return sorted(p.stem for p in TASKS_DIR.glob("*.toml"))


def load_task(name_or_path: str) -> Task:
    """A built-in task by name, or a TOML file; validated, with defaults filled in and the starter's source read."""
    path = Path(name_or_path)
    if not path.suffix:
        path = TASKS_DIR / f"{name_or_path}.toml"
        if not path.is_file():
            raise TaskError(f"unknown task {name_or_path!r}; built-in: {', '.join(builtin_tasks())}, "
                            "or give a path to a .toml file")
    if not path.is_file():
        raise TaskError(f"task file not found: {path}")
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise TaskError(f"{path}: not valid TOML: {exc}") from None
    return validate_task(raw, path.parent)


def _need(section: dict, key: str, where: str, kind: type | tuple):
    if key not in section:
        raise TaskError(f"task: missing {where}.{key}")
    value = section[key]
    if not isinstance(value, kind):
        raise TaskError(f"task: {where}.{key} should be {getattr(kind, '__name__', kind)}, got {value!r}")
    return value


def validate_task(raw: dict, base_dir: Path) -> Task:
    name = _need(raw, "name", "task", str)
    obj = _need(raw, "objective", "task", dict)
    metric = _need(obj, "metric", "objective", str)
    if metric not in RUN_METRICS:
        raise TaskError(f"task: objective.metric {metric!r} is not a run metric; one of {', '.join(RUN_METRICS)}")
    goal = obj.get("goal", "minimize")
    if goal not in ("minimize", "maximize"):
        raise TaskError(f"task: objective.goal must be 'minimize' or 'maximize', got {goal!r}")
    constraint = obj.get("constraint")
    if constraint is not None:
        if constraint.get("metric") not in RUN_METRICS or not ({"max", "min"} & set(constraint)):
            raise TaskError("task: objective.constraint needs a run metric and max or min")
    bench = _need(raw, "benchmark", "task", dict)
    workload = _need(bench, "workload", "benchmark", str)
    if workload not in PRESETS:
        raise TaskError(f"task: benchmark.workload {workload!r} is not a preset; one of {', '.join(PRESETS)}")
    seeds = bench.get("seeds", 3)
    seeds = list(range(seeds)) if isinstance(seeds, int) else list(seeds)
    if not seeds or not all(isinstance(s, int) and s >= 0 for s in seeds):
        raise TaskError("task: benchmark.seeds must be a positive count or a list of non-negative integers")
    design = _need(raw, "design", "task", dict)
    file = _need(design, "file", "design", str)
    editable = list(design.get("editable", [file]))
    if file not in editable:
        editable.insert(0, file)
    starter = design.get("starter")
    starter_source = ""
    if starter:
        spath = base_dir / starter
        if spath.is_file():
            starter_source = spath.read_text()
        else:
            raise TaskError(f"task: design.starter {starter!r} not found beside the task file")
    function_source = ""
    if design.get("function"):
        fpath = base_dir / design["function"]
        if not fpath.is_file():
            raise TaskError(f"task: design.function {design['function']!r} not found beside the task file")
        function_source = fpath.read_text()
    heldout = dict(raw.get("heldout", {}))
    unknown = set(heldout) - {"seeds", "workload", "load_scale"}
    if unknown:
        raise TaskError(f"task: unknown heldout setting(s) {', '.join(sorted(unknown))}; known: seeds, workload, "
                        "load_scale")
    hseeds = heldout.get("seeds", 10)
    if not (isinstance(hseeds, int) and hseeds > 0 or isinstance(hseeds, list) and hseeds
            and all(isinstance(s, int) and s >= 0 for s in hseeds)):
        raise TaskError("task: heldout.seeds must be a positive count or a list of non-negative integers")
    if isinstance(hseeds, list) and set(hseeds) & set(seeds):
        raise TaskError(f"task: heldout.seeds must not include the benchmark's seeds "
                        f"({sorted(set(hseeds) & set(seeds))})")
    scale = heldout.get("load_scale", 1.25)
    if not isinstance(scale, (int, float)) or scale <= 0:
        raise TaskError(f"task: heldout.load_scale must be a positive number, got {scale!r}")
    if heldout.get("workload") is not None and heldout["workload"] not in PRESETS:
        raise TaskError(f"task: heldout.workload {heldout['workload']!r} is not a preset")
    budget = raw.get("budget", {})
    sims = budget.get("simulations", 20)
    if not isinstance(sims, int) or sims < 1:
        raise TaskError(f"task: budget.simulations must be a positive integer, got {sims!r}")
    return {
        "name": name, "background": raw.get("background", "").strip(),
        "objective": {"metric": metric, "goal": goal, "constraint": constraint},
        "benchmark": {"workload": workload, "seeds": seeds, "baselines": list(bench.get("baselines", ["llq"]))},
        "design": {"file": file, "editable": editable, "starter_source": starter_source,
                   "function_source": function_source},
        "budget": {"simulations": sims, "usd": float(budget.get("usd", math.inf)),
                   "wall_clock_s": float(budget.get("wall_clock_s", math.inf)),
                   "tokens": int(budget.get("tokens", 0)) or None},
        "endpoint": raw.get("endpoint", {}),
        "heldout": heldout,
    }


def score(task: Task, metrics: dict) -> float:
    """The objective as a number to minimise; infinite when the run failed or breaks the constraint."""
    obj = task["objective"]
    value = metrics.get(obj["metric"])
    if value is None or value != value:
        return math.inf
    c = obj.get("constraint")
    if c:
        v = metrics.get(c["metric"])
        if v is None or ("max" in c and v > c["max"]) or ("min" in c and v < c["min"]):
            return math.inf
    return value if obj["goal"] == "minimize" else -value
