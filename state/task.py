"""Tasks: what to design, in which layer of the serving stack, measured how, within which budgets. A task is a TOML
file (see ``tasks/*.toml``), loaded into a ``Task``.

Format:
  name, background                       (strings)
  [objective] metric = "<run metric>", goal = "minimize" | "maximize"
              optional [objective.constraint] metric = "...", max = X (or min = X), penalty = P
  [benchmark] workload = "<simulator preset>", seeds = [..] or N,
              baselines = [policies of the design's layer: built-in names or files beside the task]
  [stack]     the fixed policies of the other layers: router = "...", batch = "...", autoscaler = "..." (built-in
              names or files beside the task; a layer left out keeps the preset's; autoscaler = "none" fixes the
              cluster's size). A task whose design is not the router must name its router.
  [design]    layer = "router" | "batch" | "autoscaler" (default router), file = "policy.py" (the file the agent
              designs), editable = [files it may write], starter = "<file beside the TOML, or a built-in policy
              name>" (the first version), function = "<file beside the TOML>" (optional: the design as one
              function, for methods that evolve a function, EoH and FunSearch: a preface, the function, then the
              class that calls it)
  [offline]   rules of the heuristic agents: space = "<design space of the offline researcher>" (default: the
              layer's), diagnostics = [extra analyst diagnostics]
  [heldout]   seeds = N or [..] (default 10, never the benchmark's), and workload = "<preset>" or load_scale = X
              (default 1.25): where a final design is re-measured after the search (optional)
  [budget]    simulations = N, usd = X, wall_clock_s = S, tokens = N (optional)
  [endpoint.ROLE] tools = "...", structured = "..." (optional; ROLE a role or "all"; see nodes/modes.py)

A constraint makes a design *feasible* or not. ``score`` is the objective as a number to minimise, penalised by
``penalty`` (in the objective's units) per unit of relative violation, so that the search can compare designs that
break the constraint; only a feasible design can be the best one (``feasible``, ``violation``).
"""

from __future__ import annotations

import math
import tomllib
from pathlib import Path
from typing import Literal, TypedDict

from glia.simulator.loader import LAYERS
from glia.simulator.metrics import RUN_METRICS
from glia.simulator.presets import PRESETS

TASKS_DIR = Path(__file__).parent / "tasks"
DEFAULT_PENALTY = 100.0
# design spaces the heuristic researcher knows (nodes/design_spaces.py), and the one each layer uses by default
OFFLINE_SPACES = ("router", "batch", "autoscaler", "slo-router", "adaptive-router")
DEFAULT_SPACE = {"router": "router", "batch": "batch", "autoscaler": "autoscaler"}
DEFAULT_BASELINE = {"router": "llq", "batch": "fcfs", "autoscaler": "threshold"}
# extra diagnostics the heuristic analyst can run (nodes/analyst.py)
OFFLINE_DIAGNOSTICS = ("scaling", "ttft", "batch_cap")

Layer = Literal["router", "batch", "autoscaler"]


class Constraint(TypedDict):
    metric: str
    max: float | None
    min: float | None
    penalty: float                 # objective units per unit of relative violation, in ``score``


class Objective(TypedDict):
    metric: str                    # one of simulator.metrics.RUN_METRICS
    goal: Literal["minimize", "maximize"]
    constraint: Constraint | None


class Benchmark(TypedDict):
    workload: str                  # a simulator preset
    seeds: list[int]
    baselines: list[str]           # policies of the design's layer the harness measures once per run


class Stack(TypedDict):
    router: str | None             # None: the preset's (a router task designs it)
    batch: str | None
    autoscaler: str | None


class Design(TypedDict):
    layer: Layer
    file: str                      # the file the researcher designs
    editable: list[str]            # the files it may write (glob patterns)
    starter_source: str            # the design's first version
    function_source: str           # the design as one function and the class that calls it ("" if none)


class Offline(TypedDict):
    space: str
    diagnostics: list[str]


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
    stack: Stack
    design: Design
    offline: Offline
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


def _policy_spec(spec: object, layer: str, base_dir: Path, where: str) -> str:
    """A built-in policy name of ``layer``, or a policy file beside the task (made absolute)."""
    if not isinstance(spec, str) or not spec:
        raise TaskError(f"task: {where} should be a policy name or file, got {spec!r}")
    if spec in LAYERS[layer].builtins or (layer == "autoscaler" and spec == "none"):
        return spec
    file, sep, cls = spec.partition(":")
    if file.endswith(".py"):
        path = (base_dir / file).resolve()
        if not path.is_file():
            raise TaskError(f"task: {where} {spec!r}: no such file beside the task")
        return str(path) + sep + cls
    raise TaskError(f"task: {where} {spec!r} is not a built-in {layer} policy ({', '.join(LAYERS[layer].builtins)}) "
                    "nor a .py file")


def _constraint(raw: dict | None) -> Constraint | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or raw.get("metric") not in RUN_METRICS or not ({"max", "min"} & set(raw)):
        raise TaskError("task: objective.constraint needs a run metric and max or min")
    bounds = {k: raw.get(k) for k in ("max", "min")}
    for k, v in bounds.items():
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)):
            raise TaskError(f"task: objective.constraint.{k} should be a number, got {v!r}")
    penalty = raw.get("penalty", DEFAULT_PENALTY)
    if isinstance(penalty, bool) or not isinstance(penalty, (int, float)) or penalty < 0:
        raise TaskError(f"task: objective.constraint.penalty should be a number >= 0, got {penalty!r}")
    unknown = set(raw) - {"metric", "max", "min", "penalty"}
    if unknown:
        raise TaskError(f"task: objective.constraint has unknown key(s) {', '.join(sorted(unknown))}")
    return {"metric": raw["metric"], "max": None if bounds["max"] is None else float(bounds["max"]),
            "min": None if bounds["min"] is None else float(bounds["min"]), "penalty": float(penalty)}


def validate_task(raw: dict, base_dir: Path) -> Task:
    name = _need(raw, "name", "task", str)
    obj = _need(raw, "objective", "task", dict)
    metric = _need(obj, "metric", "objective", str)
    if metric not in RUN_METRICS:
        raise TaskError(f"task: objective.metric {metric!r} is not a run metric; one of {', '.join(RUN_METRICS)}")
    goal = obj.get("goal", "minimize")
    if goal not in ("minimize", "maximize"):
        raise TaskError(f"task: objective.goal must be 'minimize' or 'maximize', got {goal!r}")
    constraint = _constraint(obj.get("constraint"))
    bench = _need(raw, "benchmark", "task", dict)
    workload = _need(bench, "workload", "benchmark", str)
    if workload not in PRESETS:
        raise TaskError(f"task: benchmark.workload {workload!r} is not a preset; one of {', '.join(PRESETS)}")
    seeds = bench.get("seeds", 3)
    seeds = list(range(seeds)) if isinstance(seeds, int) else list(seeds)
    if not seeds or not all(isinstance(s, int) and s >= 0 for s in seeds):
        raise TaskError("task: benchmark.seeds must be a positive count or a list of non-negative integers")
    design = _need(raw, "design", "task", dict)
    layer = design.get("layer", "router")
    if layer not in LAYERS:
        raise TaskError(f"task: design.layer must be one of {', '.join(LAYERS)}, got {layer!r}")
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
    raw_stack = raw.get("stack", {})
    if not isinstance(raw_stack, dict) or set(raw_stack) - set(LAYERS):
        raise TaskError(f"task: [stack] may only name the layers {', '.join(LAYERS)}")
    if layer in raw_stack:
        raise TaskError(f"task: [stack] fixes the {layer} layer, which is the one this task designs")
    stack: Stack = {lay: (_policy_spec(raw_stack[lay], lay, base_dir, f"stack.{lay}") if lay in raw_stack else None)
                    for lay in LAYERS}
    if layer != "router" and stack["router"] is None:
        raise TaskError(f"task: a {layer} task must fix the router: add [stack] router = \"llq\" (or another)")
    if layer == "autoscaler" and PRESETS[workload][1].autoscaler is None:
        raise TaskError(f"task: an autoscaler task needs a workload preset with autoscaling; {workload!r} has none")
    if stack["autoscaler"] not in (None, "none") and PRESETS[workload][1].autoscaler is None:
        raise TaskError(f"task: stack.autoscaler needs a workload preset with autoscaling; {workload!r} has none")
    baselines = [_policy_spec(b, layer, base_dir, "benchmark.baselines")
                 for b in bench.get("baselines", [DEFAULT_BASELINE[layer]])]
    offline = raw.get("offline", {})
    space = offline.get("space", DEFAULT_SPACE[layer])
    if space not in OFFLINE_SPACES:
        raise TaskError(f"task: offline.space must be one of {', '.join(OFFLINE_SPACES)}, got {space!r}")
    diagnostics = list(offline.get("diagnostics", []))
    unknown = [d for d in diagnostics if d not in OFFLINE_DIAGNOSTICS]
    if unknown:
        raise TaskError(f"task: offline.diagnostics {unknown} unknown; available: {', '.join(OFFLINE_DIAGNOSTICS)}")
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
        "benchmark": {"workload": workload, "seeds": seeds, "baselines": baselines},
        "stack": stack,
        "design": {"layer": layer, "file": file, "editable": editable, "starter_source": starter_source,
                   "function_source": function_source},
        "offline": {"space": space, "diagnostics": diagnostics},
        "budget": {"simulations": sims, "usd": float(budget.get("usd", math.inf)),
                   "wall_clock_s": float(budget.get("wall_clock_s", math.inf)),
                   "tokens": int(budget.get("tokens", 0)) or None},
        "endpoint": raw.get("endpoint", {}),
        "heldout": heldout,
    }


def policy_name(spec: str) -> str:
    """A policy as reports name it: a built-in's name, a file's stem (and class)."""
    file, sep, cls = spec.partition(":")
    return Path(file).stem + (f":{cls}" if cls else "") if file.endswith(".py") else spec


def layer_of(task: Task) -> str:
    """The layer a task designs (tasks checkpointed before layers existed design the router)."""
    return task.get("design", {}).get("layer", "router")


def stack_of(task: Task, design: str) -> dict[str, str | None]:
    """The policies of a run of ``design`` (a policy of the task's layer): ``router``, ``batch``, ``autoscaler``,
    None where the preset's own is kept."""
    stack = dict(task.get("stack") or {"router": None, "batch": None, "autoscaler": None})
    stack[layer_of(task)] = design
    return stack


def violation(task: Task, metrics: dict) -> float:
    """By how much a run breaks the task's constraint, relative to the bound (0 when it holds or there is none; inf
    when the constrained metric is missing)."""
    c = task["objective"].get("constraint")
    if not c:
        return 0.0
    v = metrics.get(c["metric"])
    if v is None or v != v:
        return math.inf
    out = 0.0
    if c.get("max") is not None and v > c["max"]:
        out = (v - c["max"]) / abs(c["max"]) if c["max"] else v - c["max"]
    if c.get("min") is not None and v < c["min"]:
        out = max(out, (c["min"] - v) / abs(c["min"]) if c["min"] else c["min"] - v)
    return out


def feasible(task: Task, metrics: dict) -> bool:
    return violation(task, metrics) == 0.0


def score(task: Task, metrics: dict) -> float:
    """The objective as a number to minimise, plus the constraint's penalty per unit of relative violation (a
    comparable figure for designs that break it); infinite when the run failed or a metric is missing."""
    obj = task["objective"]
    value = metrics.get(obj["metric"])
    if value is None or value != value:
        return math.inf
    base = value if obj["goal"] == "minimize" else -value
    v = violation(task, metrics)
    if v == 0.0:
        return base
    return base + obj["constraint"]["penalty"] * v


def improves(new: float, old: float, factor: float) -> bool:
    """``new`` is better than ``old`` by the ratio ``factor`` (< 1), for scores of either sign: ``new < old *
    factor`` when ``old`` is positive, ``new < old / factor`` when it is negative."""
    if old == math.inf:
        return new < old
    return new < old * factor if old >= 0 else new < old / factor


def worse(new: float, old: float, factor: float) -> bool:
    """``new`` is worse than ``old`` by the ratio ``factor`` (> 1), for scores of either sign."""
    if old == math.inf:
        return False
    return new > old * factor if old >= 0 else new > old / factor


def objective_ci(task: Task, measurement: dict) -> list[float] | None:
    """The 90 % CI of the objective's metric in a measurement (a ledger entry or a baseline)."""
    metric = task["objective"]["metric"]
    if metric == "mean_e2e_s":
        return measurement.get("mean_e2e_ci90")
    return (measurement.get("ci90") or {}).get(metric)


def constraint_text(task: Task) -> str:
    """The constraint in words, e.g. ``p95_slowdown <= 5``; empty when there is none."""
    c = task["objective"].get("constraint")
    if not c:
        return ""
    parts = []
    if c.get("max") is not None:
        parts.append(f"{c['metric']} <= {c['max']:g}")
    if c.get("min") is not None:
        parts.append(f"{c['metric']} >= {c['min']:g}")
    return " and ".join(parts)
