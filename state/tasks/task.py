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
  [endpoint.ROLE] tools = "...", structured = "..." (optional; ROLE a role or "all"; see nodes/llm/modes.py)

A constraint makes a design *feasible* or not. ``score`` is the objective as a number to minimise, penalised by
``penalty`` (in the objective's units) per unit of relative violation, so that the search can compare designs that
break the constraint; only a feasible design can be the best one (``feasible``, ``violation``).
"""

from __future__ import annotations

import difflib
import math
import re
import tomllib
from pathlib import Path
from typing import Literal, TypedDict

from glia.simulator.metrics import RUN_METRICS
from glia.simulator.policy.layers import LAYERS, LayerName, get_layer
from glia.simulator.presets import PRESETS

TASKS_DIR = Path(__file__).parent / "builtin"
DEFAULT_PENALTY = 100.0
# design spaces the heuristic researcher knows (nodes/heuristic/spaces.py), and the one each layer uses by default
OFFLINE_SPACES = ("router", "batch", "autoscaler", "slo-router", "adaptive-router")
DEFAULT_SPACE: dict[str, str] = {name: lay.default_space for name, lay in LAYERS.items()}
DEFAULT_BASELINE: dict[str, str] = {name: lay.default_baseline for name, lay in LAYERS.items()}
# extra diagnostics the heuristic analyst can run (nodes/analyst.py)
OFFLINE_DIAGNOSTICS = ("scaling", "ttft", "batch_cap")

Layer = LayerName


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
    endpoint: dict                 # overrides of how roles talk to their model (see nodes/llm/modes.py)
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
    text = path.read_text()
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TaskError(f"{path}: not valid TOML: {exc}") from None
    from glia.state.tasks.program_task import is_program_task, load_program_task  # a program task has tables of its own
    if is_program_task(raw):
        return load_program_task(raw, path.parent, path)  # type: ignore[return-value]
    return validate_task(raw, path.parent, Where(path, text))


# every table a task file may have, and its keys ("*": tables of their own, checked where they are used)
KNOWN: dict[str, tuple[str, ...]] = {
    "": ("name", "background", "objective", "benchmark", "stack", "design", "offline", "heldout", "budget",
         "endpoint"),
    "objective": ("metric", "goal", "constraint"),
    "objective.constraint": ("metric", "max", "min", "penalty"),
    "benchmark": ("workload", "seeds", "baselines"),
    "stack": tuple(LAYERS),
    "design": ("layer", "file", "editable", "starter", "function"),
    "offline": ("space", "diagnostics"),
    "heldout": ("seeds", "workload", "load_scale"),
    "budget": ("simulations", "usd", "wall_clock_s", "tokens"),
    "endpoint": ("*",),   # ROLE (or all) -> tools, structured: checked by nodes/llm/modes.py, which knows the roles
}
QUOTES = ('"' * 3, "'" * 3)   # TOML's multi-line strings


class Where:
    """Where a task's settings are written: errors name the file and the line (``FILE:LINE: ...``); a task given as
    a dict (tests, programs) is named ``task``."""

    def __init__(self, path: Path | None = None, text: str = ""):
        self.path = path
        self.lines = key_lines(text) if text else {}

    def error(self, message: str, *keys: str) -> TaskError:
        """A ``TaskError`` at the line of the table or key ``keys`` (or of the nearest enclosing one written)."""
        if self.path is None:
            return TaskError(f"task: {message}")
        for n in range(len(keys), 0, -1):
            if keys[:n] in self.lines:
                return TaskError(f"{self.path}:{self.lines[keys[:n]]}: {message}")
        return TaskError(f"{self.path}: {message}")


def _split_key(key: str) -> list[str]:
    """A TOML key's parts: ``a.b`` -> [a, b]; ``"a.b".c`` -> [a.b, c]."""
    return [part.strip().strip("\"'") for part in re.findall(r'"[^"]*"|\'[^\']*\'|[^.]+', key)]


def key_lines(text: str) -> dict[tuple[str, ...], int]:
    """The line of each table header and key of a TOML text (the first, if written twice): a small scan that skips
    comments and multi-line strings, enough to point at what a validator rejects."""
    lines: dict[tuple[str, ...], int] = {}
    table: tuple[str, ...] = ()
    open_string = None
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if open_string:
            if stripped.count(open_string) % 2 == 1:
                open_string = None
            continue
        if not stripped or stripped.startswith("#"):
            continue
        header = re.match(r"^\[\[?\s*([^\]]+?)\s*\]\]?", stripped)
        if header:
            table = tuple(_split_key(header.group(1)))
            lines.setdefault(table, number)
            continue
        assign = re.match(r"^((?:\"[^\"]*\"|'[^']*'|[A-Za-z0-9_\-. ])+?)\s*=", stripped)
        if assign:
            lines.setdefault(table + tuple(_split_key(assign.group(1))), number)
            rest = stripped[assign.end():]
            open_string = next((q for q in QUOTES if rest.count(q) % 2 == 1), None)
    return lines


def did_you_mean(key: str, known: list[str] | tuple[str, ...], wrap: str = "{}") -> str:
    """``did you mean CLOSEST?`` (the closest known key, by spelling), or the known keys when none is close."""
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
    return f"did you mean {wrap.format(close[0])}?" if close else f"known: {', '.join(known)}"


def _check_known(raw: dict, at: Where, table: str = "") -> None:
    """Every table and key of the task is one this version knows, or an error naming the closest known one."""
    known = KNOWN[table]
    if known == ("*",):
        return
    for key, value in raw.items():
        name = f"{table}.{key}" if table else key
        keys = tuple(name.split("."))
        if key not in known:
            if isinstance(value, dict):
                tables = [k for k in known if (f"{table}.{k}" if table else k) in KNOWN]
                prefix = f"{table}." if table else ""
                raise at.error(f"[{name}]: unknown table; {did_you_mean(key, tables or known, f'[{prefix}{{}}]')}",
                               *keys)
            layers = f" ([stack] may only name the layers {', '.join(LAYERS)})" if table == "stack" else ""
            raise at.error(f"{name}: unknown; {did_you_mean(key, known)}{layers}", *keys)
        if name in KNOWN:
            if not isinstance(value, dict):
                raise at.error(f"{name} should be a table ([{name}]), got {value!r}", *keys)
            _check_known(value, at, name)


def _need(section: dict, key: str, where: str, kind: type | tuple, at: Where | None = None):
    at = at or Where()
    table = [] if where == "task" else where.split(".")
    if key not in section:
        raise at.error(f"missing {where}.{key}", *table)
    value = section[key]
    if not isinstance(value, kind):
        raise at.error(f"{where}.{key} should be {getattr(kind, '__name__', kind)}, got {value!r}", *table, key)
    return value


def _number(value, name: str, at: Where, *keys: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise at.error(f"{name} should be a number >= 0, got {value!r}", *keys)
    return float(value)


def _policy_spec(spec: object, layer: str, base_dir: Path, where: str, at: Where | None = None) -> str:
    """A built-in policy name of ``layer``, or a policy file beside the task (made absolute)."""
    at = at or Where()
    keys = where.split(".")
    if not isinstance(spec, str) or not spec:
        raise at.error(f"{where} should be a policy name or file, got {spec!r}", *keys)
    if get_layer(layer).knows(spec):
        return spec
    file, sep, cls = spec.partition(":")
    if file.endswith(".py"):
        path = (base_dir / file).resolve()
        if not path.is_file():
            raise at.error(f"{where} {spec!r}: no such file beside the task", *keys)
        return str(path) + sep + cls
    raise at.error(f"{where} {spec!r} is not a built-in {layer} policy ({', '.join(get_layer(layer).builtins)}) "
                   "nor a .py file", *keys)


def _constraint(raw: dict | None, at: Where | None = None) -> Constraint | None:
    at = at or Where()
    if raw is None:
        return None
    keys = ("objective", "constraint")
    if not isinstance(raw, dict) or raw.get("metric") not in RUN_METRICS or not ({"max", "min"} & set(raw)):
        raise at.error("objective.constraint needs a run metric and max or min", *keys)
    bounds = {k: raw.get(k) for k in ("max", "min")}
    for k, v in bounds.items():
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)):
            raise at.error(f"objective.constraint.{k} should be a number, got {v!r}", *keys, k)
    penalty = raw.get("penalty", DEFAULT_PENALTY)
    if isinstance(penalty, bool) or not isinstance(penalty, (int, float)) or penalty < 0:
        raise at.error(f"objective.constraint.penalty should be a number >= 0, got {penalty!r}", *keys, "penalty")
    unknown = set(raw) - {"metric", "max", "min", "penalty"}
    if unknown:
        raise at.error(f"objective.constraint has unknown key(s) {', '.join(sorted(unknown))}", *keys)
    return {"metric": raw["metric"], "max": None if bounds["max"] is None else float(bounds["max"]),
            "min": None if bounds["min"] is None else float(bounds["min"]), "penalty": float(penalty)}


def _objective(raw: dict, at: Where) -> Objective:
    obj = _need(raw, "objective", "task", dict, at)
    metric = _need(obj, "metric", "objective", str, at)
    if metric not in RUN_METRICS:
        raise at.error(f"objective.metric {metric!r} is not a run metric; one of {', '.join(RUN_METRICS)}",
                       "objective", "metric")
    goal = obj.get("goal", "minimize")
    if goal not in ("minimize", "maximize"):
        raise at.error(f"objective.goal must be 'minimize' or 'maximize', got {goal!r}", "objective", "goal")
    return {"metric": metric, "goal": goal, "constraint": _constraint(obj.get("constraint"), at)}


def _benchmark(raw: dict, at: Where) -> tuple[str, list[int]]:
    """The benchmark's workload and seeds (its baselines are policies of the design's layer: ``_baselines``)."""
    bench = _need(raw, "benchmark", "task", dict, at)
    workload = _need(bench, "workload", "benchmark", str, at)
    if workload not in PRESETS:
        raise at.error(f"benchmark.workload {workload!r} is not a preset; one of {', '.join(PRESETS)}",
                       "benchmark", "workload")
    seeds = bench.get("seeds", 3)
    seeds = list(range(seeds)) if isinstance(seeds, int) and not isinstance(seeds, bool) else seeds
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) and s >= 0 for s in seeds):
        raise at.error("benchmark.seeds must be a positive count or a list of non-negative integers",
                       "benchmark", "seeds")
    return workload, seeds


def _design(raw: dict, base_dir: Path, at: Where) -> Design:
    design = _need(raw, "design", "task", dict, at)
    layer = design.get("layer", "router")
    if layer not in LAYERS:
        raise at.error(f"design.layer must be one of {', '.join(LAYERS)}, got {layer!r}", "design", "layer")
    file = _need(design, "file", "design", str, at)
    editable = list(design.get("editable", [file]))
    if file not in editable:
        editable.insert(0, file)
    sources = {}
    for key in ("starter", "function"):
        name = design.get(key)
        sources[key] = ""
        if name:
            path = base_dir / name
            if not path.is_file():
                raise at.error(f"design.{key} {name!r} not found beside the task file", "design", key)
            sources[key] = path.read_text()
    return {"layer": layer, "file": file, "editable": editable, "starter_source": sources["starter"],
            "function_source": sources["function"]}


def _stack(raw: dict, layer: str, workload: str, base_dir: Path, at: Where) -> Stack:
    raw_stack = raw.get("stack", {})
    if not isinstance(raw_stack, dict) or set(raw_stack) - set(LAYERS):
        raise at.error(f"[stack] may only name the layers {', '.join(LAYERS)}", "stack")
    if layer in raw_stack:
        raise at.error(f"[stack] fixes the {layer} layer, which is the one this task designs", "stack", layer)
    stack: Stack = {lay: (_policy_spec(raw_stack[lay], lay, base_dir, f"stack.{lay}", at)  # type: ignore[misc,assignment]
                          if lay in raw_stack else None) for lay in LAYERS}
    if layer != "router" and stack["router"] is None:
        raise at.error(f"a {layer} task must fix the router: add [stack] router = \"llq\" (or another)", "stack")
    if layer == "autoscaler" and PRESETS[workload][1].autoscaler is None:
        raise at.error(f"an autoscaler task needs a workload preset with autoscaling; {workload!r} has none",
                       "benchmark", "workload")
    if stack["autoscaler"] not in (None, "none") and PRESETS[workload][1].autoscaler is None:
        raise at.error(f"stack.autoscaler needs a workload preset with autoscaling; {workload!r} has none",
                       "stack", "autoscaler")
    return stack


def _baselines(raw: dict, layer: str, base_dir: Path, at: Where) -> list[str]:
    specs = raw["benchmark"].get("baselines", [DEFAULT_BASELINE[layer]])
    if not isinstance(specs, list):
        raise at.error(f"benchmark.baselines should be a list of policies, got {specs!r}", "benchmark", "baselines")
    return [_policy_spec(b, layer, base_dir, "benchmark.baselines", at) for b in specs]


def _offline(raw: dict, layer: str, at: Where) -> Offline:
    offline = raw.get("offline", {})
    space = offline.get("space", DEFAULT_SPACE[layer])
    if space not in OFFLINE_SPACES:
        raise at.error(f"offline.space must be one of {', '.join(OFFLINE_SPACES)}, got {space!r}",
                       "offline", "space")
    diagnostics = list(offline.get("diagnostics", []))
    unknown = [d for d in diagnostics if d not in OFFLINE_DIAGNOSTICS]
    if unknown:
        raise at.error(f"offline.diagnostics {unknown} unknown; available: {', '.join(OFFLINE_DIAGNOSTICS)}",
                       "offline", "diagnostics")
    return {"space": space, "diagnostics": diagnostics}


def _heldout(raw: dict, seeds: list[int], at: Where) -> dict:
    heldout = dict(raw.get("heldout", {}))
    unknown = set(heldout) - {"seeds", "workload", "load_scale"}
    if unknown:
        raise at.error(f"unknown heldout setting(s) {', '.join(sorted(unknown))}; known: seeds, workload, "
                       "load_scale", "heldout", sorted(unknown)[0])
    hseeds = heldout.get("seeds", 10)
    if not (isinstance(hseeds, int) and not isinstance(hseeds, bool) and hseeds > 0 or isinstance(hseeds, list)
            and hseeds and all(isinstance(s, int) and s >= 0 for s in hseeds)):
        raise at.error("heldout.seeds must be a positive count or a list of non-negative integers",
                       "heldout", "seeds")
    if isinstance(hseeds, list) and set(hseeds) & set(seeds):
        raise at.error(f"heldout.seeds must not include the benchmark's seeds ({sorted(set(hseeds) & set(seeds))})",
                       "heldout", "seeds")
    scale = heldout.get("load_scale", 1.25)
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or scale <= 0:
        raise at.error(f"heldout.load_scale must be a positive number, got {scale!r}", "heldout", "load_scale")
    if heldout.get("workload") is not None and heldout["workload"] not in PRESETS:
        raise at.error(f"heldout.workload {heldout['workload']!r} is not a preset", "heldout", "workload")
    return heldout


def _budget(raw: dict, at: Where) -> TaskBudget:
    budget = raw.get("budget", {})
    sims = budget.get("simulations", 20)
    if isinstance(sims, bool) or not isinstance(sims, int) or sims < 1:
        raise at.error(f"budget.simulations must be a positive integer, got {sims!r}", "budget", "simulations")
    tokens = budget.get("tokens", 0)
    if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 0:
        raise at.error(f"budget.tokens must be a whole number >= 0, got {tokens!r}", "budget", "tokens")
    return {"simulations": sims,
            "usd": _number(budget.get("usd", math.inf), "budget.usd", at, "budget", "usd"),
            "wall_clock_s": _number(budget.get("wall_clock_s", math.inf), "budget.wall_clock_s", at, "budget",
                                    "wall_clock_s"),
            "tokens": tokens or None}


def _endpoint(raw: dict, at: Where) -> dict:
    endpoint = raw.get("endpoint", {})
    if not all(isinstance(v, dict) for v in endpoint.values()):
        raise at.error("[endpoint] holds one table per role, e.g. [endpoint.researcher] tools = \"named_router\"",
                       "endpoint")
    return endpoint


def validate_task(raw: dict, base_dir: Path, where: Where | None = None) -> Task:
    """A task's tables, each checked by its own validator, after every table and key is checked to be known."""
    at = where or Where()
    _check_known(raw, at)
    name = _need(raw, "name", "task", str, at)
    background = raw.get("background", "")
    if not isinstance(background, str):
        raise at.error(f"background should be a string, got {background!r}", "background")
    objective = _objective(raw, at)
    workload, seeds = _benchmark(raw, at)
    design = _design(raw, base_dir, at)
    layer = design["layer"]
    return {
        "name": name, "background": background.strip(), "objective": objective,
        "benchmark": {"workload": workload, "seeds": seeds, "baselines": _baselines(raw, layer, base_dir, at)},
        "stack": _stack(raw, layer, workload, base_dir, at),
        "design": design,
        "offline": _offline(raw, layer, at),
        "budget": _budget(raw, at),
        "endpoint": _endpoint(raw, at),
        "heldout": _heldout(raw, seeds, at),
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
    fixed = task.get("stack") or {}
    stack: dict[str, str | None] = {lay: fixed.get(lay) for lay in LAYERS}
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
    constraint = obj["constraint"]
    assert constraint is not None  # only a constraint is violated
    return base + constraint["penalty"] * v


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
