"""Program tasks: a design that is a program, judged by the user's evaluator. The TOML tables, their validation and
their defaults (to be wired into ``task.load_task`` when ``[design] layer = "program"``).

Format (paths relative to the TOML file)::

  name, background
  [objective]  metric = "combined_score" (any metric the evaluator reports), goal = "maximize" (default for
               program tasks) | "minimize"; optional [objective.constraint] metric = "validity", min = 1.0 (or
               max), penalty = P. A ShinkaEvolve evaluator's correct.json is the metric "correct" (1 or 0).
  [design]     layer = "program", file = "<the candidate's file name in the working directory>",
               starter = "<the first version, a file>", editable = [files the researcher may write] (default:
               [file]), blocks = true|false (only the EVOLVE-BLOCK regions may change; default: true when the
               starter has the markers), function = "<name>" (optional: the function EoH and FunSearch evolve)
  [evaluator]  format = "openevolve" | "shinka" | "command",
               workdir = "<directory copied fresh for each evaluation; the evaluator's cwd>",
               entry = "evaluator.py" (openevolve: evaluate(path), evaluate_stage1..3) | "evaluate.py" (shinka),
               command = ["python", "score.py", "{program}"] (command: prints a JSON object of metrics;
               placeholders {program}, {results}, {workdir}),
               timeout_s = 60 | "auto" (derived from the starter's measured evaluation time), memory_mb = 4096,
               cascade = [0.5, 0.75] (openevolve: the thresholds of stages 1 and 2),
               isolation = "split" (the program in a process of its own that cannot reach the evaluator's files;
               Python programs) | "shared" (in the evaluator's process), program_reads = [files of the workdir the
               program itself imports], hidden = [files kept out of the researcher's copy of the working
               directory besides the evaluator's entry: expected answers, held-out cases], env = {K = "V"},
               args = [...] (shinka, command), kwargs = {...} (openevolve: keyword arguments of evaluate,
               OpenEvolve's evaluator_args)
  [evaluator.heldout], [evaluator.shifted]   (optional) env = {K = "V"}, args = [...], kwargs = {...}: how the
               evaluator runs on held-out cases and on shifted ones; where absent the report says there is no
               held-out check
  [budget]     evaluations = N (or simulations = N), usd, wall_clock_s, tokens
"""

from __future__ import annotations

import ast
import math
import shlex
from pathlib import Path, PurePosixPath

from glia.state.tasks.task import DEFAULT_PENALTY, TaskError

FORMATS = ("openevolve", "shinka", "command")
ISOLATIONS = ("split", "shared")
VARIANTS = ("heldout", "shifted")
DEFAULT_ENTRY = {"openevolve": "evaluator.py", "shinka": "evaluate.py"}
MARKER_START, MARKER_END = "EVOLVE-BLOCK-START", "EVOLVE-BLOCK-END"
_KEYS = {
    "task": {"name", "background", "objective", "design", "evaluator", "budget", "endpoint", "offline"},
    "design": {"layer", "file", "starter", "editable", "blocks", "function"},
    "evaluator": {"format", "workdir", "entry", "command", "timeout_s", "memory_mb", "cascade", "isolation",
                  "program_reads", "env", "args", "kwargs", "hidden", *VARIANTS},
    "variant": {"env", "args", "kwargs"},
    "budget": {"evaluations", "simulations", "usd", "wall_clock_s", "tokens"},
}


def is_program_task(raw: dict) -> bool:
    """Whether a parsed task TOML designs a program (``[design] layer = "program"``)."""
    design = raw.get("design")
    return isinstance(design, dict) and design.get("layer") == "program"


def _unknown(table: dict, kind: str, where: str) -> None:
    extra = set(table) - _KEYS[kind]
    if extra:
        raise TaskError(f"task: {where} has unknown key(s) {', '.join(sorted(extra))}; known: "
                        f"{', '.join(sorted(_KEYS[kind]))}")


def _table(raw: dict, key: str, where: str, required: bool = True) -> dict:
    value = raw.get(key)
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise TaskError(f"task: missing [{where}]" if value is None else f"task: [{where}] should be a table")
    return value


def _str(table: dict, key: str, where: str, default: str | None = None) -> str:
    value = table.get(key, default)
    if not isinstance(value, str) or not value:
        if value is None:
            raise TaskError(f"task: missing {where}.{key}")
        raise TaskError(f"task: {where}.{key} should be a non-empty string, got {value!r}")
    return value


def _number(value, where: str, positive: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or (
            positive and value <= 0):
        raise TaskError(f"task: {where} should be a {'positive ' if positive else ''}number, got {value!r}")
    return float(value)


def _relative(path: str, where: str) -> str:
    p = PurePosixPath(path)
    if p.is_absolute() or ".." in p.parts or not p.parts:
        raise TaskError(f"task: {where} {path!r} must be a path inside the working directory (relative, no '..')")
    return str(p)


def _strings(value, where: str) -> list[str]:
    if isinstance(value, str):
        return shlex.split(value)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TaskError(f"task: {where} should be a list of strings, got {value!r}")
    return list(value)


def _env(value, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) and k and isinstance(v, (str, int, float))
                                              and not isinstance(v, bool) for k, v in value.items()):
        raise TaskError(f"task: {where} should be a table of NAME = \"value\", got {value!r}")
    return {k: str(v) for k, v in value.items()}


def evaluator_functions(path: Path) -> set[str]:
    """The top-level functions an evaluator file defines (parsed, never run); TaskError if it does not parse."""
    try:
        tree = ast.parse(path.read_text(errors="replace"), filename=str(path))
    except SyntaxError as exc:
        raise TaskError(f"task: {path.name} does not parse (line {exc.lineno}: {exc.msg})") from None
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


def _constraint(raw) -> dict | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or not isinstance(raw.get("metric"), str) or not ({"max", "min"} & set(raw)):
        raise TaskError("task: objective.constraint needs a metric and max or min")
    extra = set(raw) - {"metric", "max", "min", "penalty"}
    if extra:
        raise TaskError(f"task: objective.constraint has unknown key(s) {', '.join(sorted(extra))}")
    out = {"metric": raw["metric"], "max": None, "min": None,
           "penalty": _number(raw.get("penalty", DEFAULT_PENALTY), "objective.constraint.penalty", positive=False)}
    for k in ("max", "min"):
        if raw.get(k) is not None:
            out[k] = _number(raw[k], f"objective.constraint.{k}", positive=False)
    return out


def _variant(raw, fmt: str, where: str) -> dict:
    if not isinstance(raw, dict):
        raise TaskError(f"task: [{where}] should be a table with env, args or kwargs")
    _unknown(raw, "variant", f"[{where}]")
    out = {"env": _env(raw.get("env"), f"{where}.env"), "args": _strings(raw.get("args", []), f"{where}.args"),
           "kwargs": dict(raw.get("kwargs") or {})}
    if out["args"] and fmt == "openevolve":
        raise TaskError(f"task: {where}.args: an OpenEvolve evaluator takes no command-line arguments; use env (an "
                        "environment variable it reads) or kwargs (keyword arguments of evaluate)")
    if out["kwargs"] and fmt != "openevolve":
        raise TaskError(f"task: {where}.kwargs: only an OpenEvolve evaluate() takes keyword arguments; use args or "
                        "env")
    if not (out["env"] or out["args"] or out["kwargs"]):
        raise TaskError(f"task: [{where}] says nothing: give env, args or kwargs")
    return out


def validate_evaluator(raw: dict, design_file: str, base_dir: Path) -> dict:
    """The ``[evaluator]`` table, checked against the files it names, normalised (paths absolute)."""
    ev = _table(raw, "evaluator", "evaluator")
    _unknown(ev, "evaluator", "[evaluator]")
    fmt = ev.get("format")
    if fmt not in FORMATS:
        raise TaskError(f"task: evaluator.format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    workdir = (base_dir / _str(ev, "workdir", "evaluator", ".")).resolve()
    if not workdir.is_dir():
        raise TaskError(f"task: evaluator.workdir {ev.get('workdir', '.')!r}: no such directory ({workdir})")
    entry, command = "", []
    if fmt == "command":
        if "entry" in ev:
            raise TaskError("task: a command evaluator has no entry; give command = [...]")
        command = _strings(ev.get("command"), "evaluator.command")
        if not command:
            raise TaskError("task: evaluator.command is empty")
        if not any("{program}" in a for a in command):
            raise TaskError("task: evaluator.command must pass the program somewhere: put {program} (its path) in "
                            "it")
    else:
        if "command" in ev:
            raise TaskError(f"task: an {fmt} evaluator is run by Glia; give entry, not command")
        entry = _relative(_str(ev, "entry", "evaluator", DEFAULT_ENTRY[fmt]), "evaluator.entry")
        path = workdir / entry
        if not path.is_file():
            raise TaskError(f"task: evaluator.entry {entry!r}: no such file in the working directory {workdir}")
        if fmt == "openevolve":
            defined = evaluator_functions(path)
            if "evaluate" not in defined and "evaluate_stage1" not in defined:
                raise TaskError(f"task: {entry} defines no evaluate(program_path) function (OpenEvolve calls "
                                "evaluate, or evaluate_stage1 with cascade thresholds)")
    timeout = ev.get("timeout_s", 60)
    timeout = None if timeout == "auto" else _number(timeout, "evaluator.timeout_s (or \"auto\")")
    memory = ev.get("memory_mb", 4096)
    if isinstance(memory, bool) or not isinstance(memory, int) or memory < 64:
        raise TaskError(f"task: evaluator.memory_mb should be an integer >= 64, got {memory!r}")
    cascade = ev.get("cascade")
    if cascade is not None:
        if fmt != "openevolve":
            raise TaskError("task: evaluator.cascade applies to OpenEvolve evaluators only (evaluate_stage1..3)")
        if not isinstance(cascade, list) or not 1 <= len(cascade) <= 3:
            raise TaskError(f"task: evaluator.cascade should be a list of 1 to 3 thresholds, got {cascade!r}")
        cascade = [_number(c, "evaluator.cascade[]", positive=False) for c in cascade]
    isolation = ev.get("isolation", "split")
    if isolation not in ISOLATIONS:
        raise TaskError(f"task: evaluator.isolation must be 'split' or 'shared', got {isolation!r}")
    if isolation == "split" and not design_file.endswith(".py"):
        raise TaskError(f"task: evaluator.isolation = \"split\" runs Python programs in a process of their own; "
                        f"{design_file!r} is not one: set isolation = \"shared\" (the program then runs with the "
                        "evaluator's rights)")
    reads = [_relative(r, "evaluator.program_reads[]") for r in _strings(ev.get("program_reads", []),
                                                                          "evaluator.program_reads")]
    for r in reads:
        if not (workdir / r).exists():
            raise TaskError(f"task: evaluator.program_reads {r!r}: no such file in the working directory {workdir}")
    args = _strings(ev.get("args", []), "evaluator.args")
    if args and fmt == "openevolve":
        raise TaskError("task: evaluator.args: an OpenEvolve evaluator takes no command-line arguments")
    kwargs = dict(ev.get("kwargs") or {})
    if kwargs and fmt != "openevolve":
        raise TaskError("task: evaluator.kwargs: only an OpenEvolve evaluate() takes keyword arguments")
    variants = {name: _variant(ev[name], fmt, f"evaluator.{name}") for name in VARIANTS if name in ev}
    # files of the working directory kept out of the researcher's copy (its shell's problem/): the evaluator's own
    named = [a for a in command if (workdir / a).is_file()] if fmt == "command" else [entry]
    hidden = [_relative(h, "evaluator.hidden[]") for h in _strings(ev.get("hidden", []), "evaluator.hidden")]
    hidden = list(dict.fromkeys([*named, *hidden]))
    return {"format": fmt, "workdir": str(workdir), "program_file": design_file, "entry": entry, "command": command,
            "timeout_s": timeout, "memory_mb": memory, "cascade": cascade, "isolation": isolation,
            "program_reads": reads, "env": _env(ev.get("env"), "evaluator.env"), "args": args, "kwargs": kwargs,
            "variants": variants, "hidden": hidden}


def validate_program_task(raw: dict, base_dir: Path) -> dict:
    """A program task's tables, validated, with defaults filled in and the starter read. The result has the keys of
    ``task.Task`` that apply (name, background, objective, design, budget, endpoint, offline) plus ``evaluator``."""
    _unknown(raw, "task", "the task")
    name = _str(raw, "name", "task")
    design = _table(raw, "design", "design")
    _unknown(design, "design", "[design]")
    if design.get("layer") != "program":
        raise TaskError(f"task: a program task has [design] layer = \"program\", got {design.get('layer')!r}")
    file = _relative(_str(design, "file", "design"), "design.file")
    starter = _str(design, "starter", "design")
    spath = (base_dir / starter).resolve()
    if not spath.is_file():
        raise TaskError(f"task: design.starter {starter!r} not found beside the task file ({spath})")
    starter_source = spath.read_text()
    editable = [_relative(e, "design.editable[]") for e in _strings(design.get("editable", [file]),
                                                                     "design.editable")]
    if file not in editable:
        editable.insert(0, file)
    has_markers = MARKER_START in starter_source and MARKER_END in starter_source
    blocks = design.get("blocks", has_markers)
    if not isinstance(blocks, bool):
        raise TaskError(f"task: design.blocks should be true or false, got {blocks!r}")
    if blocks and not has_markers:
        raise TaskError(f"task: design.blocks = true but the starter {starter!r} has no {MARKER_START} / "
                        f"{MARKER_END} markers")
    function = design.get("function", "")
    if function and not isinstance(function, str):
        raise TaskError(f"task: design.function should be a function's name, got {function!r}")
    if function:
        _check_function(starter_source, function, blocks, starter)
    obj = _table(raw, "objective", "objective", required=False) or {"metric": "combined_score"}
    metric = _str(obj, "metric", "objective", "combined_score")
    goal = obj.get("goal", "maximize")
    if goal not in ("minimize", "maximize"):
        raise TaskError(f"task: objective.goal must be 'minimize' or 'maximize', got {goal!r}")
    unknown = set(obj) - {"metric", "goal", "constraint"}
    if unknown:
        raise TaskError(f"task: [objective] has unknown key(s) {', '.join(sorted(unknown))}")
    evaluator = validate_evaluator(raw, file, base_dir)
    budget = _table(raw, "budget", "budget", required=False)
    _unknown(budget, "budget", "[budget]")
    if "evaluations" in budget and "simulations" in budget:
        raise TaskError("task: [budget] gives both evaluations and simulations; they are the same count")
    sims = budget.get("evaluations", budget.get("simulations", 20))
    if isinstance(sims, bool) or not isinstance(sims, int) or sims < 1:
        raise TaskError(f"task: budget.evaluations must be a positive integer, got {sims!r}")
    background = raw.get("background", "")
    if not isinstance(background, str):
        raise TaskError("task: background should be a string")
    return {
        "name": name, "background": background.strip(),
        "objective": {"metric": metric, "goal": goal, "constraint": _constraint(obj.get("constraint"))},
        "design": {"layer": "program", "file": file, "editable": editable, "starter_source": starter_source,
                   "starter_path": str(spath), "blocks": blocks, "function": function, "function_source": ""},
        "evaluator": evaluator,
        "budget": {"simulations": sims, "usd": float(budget.get("usd", math.inf)),
                   "wall_clock_s": float(budget.get("wall_clock_s", math.inf)),
                   "tokens": int(budget.get("tokens", 0)) or None},
        "endpoint": raw.get("endpoint", {}), "offline": raw.get("offline", {}),
    }


def evolvable_functions(source: str, blocks: bool) -> list[str]:
    """The starter's top-level functions that EoH and FunSearch may evolve: all of them, or with ``blocks`` those
    lying inside an EVOLVE-BLOCK (nothing else may change). SyntaxError if the starter does not parse."""
    fns = [n for n in ast.parse(source).body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    if not blocks:
        return [f.name for f in fns]
    lines = source.splitlines()
    opened = [i for i, line in enumerate(lines, 1) if MARKER_START in line]
    closed = [i for i, line in enumerate(lines, 1) if MARKER_END in line]
    return [f.name for f in fns if any(a < f.lineno and f.end_lineno < b for a, b in zip(opened, closed,
                                                                                        strict=False))]


def _check_function(source: str, name: str, blocks: bool, starter: str) -> None:
    """``design.function`` names a top-level function of the starter (inside an EVOLVE-BLOCK when the blocks are
    enforced: EoH and FunSearch change nothing else)."""
    try:
        every = evolvable_functions(source, False)
    except SyntaxError as exc:
        raise TaskError(f"task: the starter {starter!r} does not parse: {exc}") from None
    if name not in every:
        raise TaskError(f"task: design.function = {name!r} is not a top-level function of the starter {starter!r} "
                        f"(it defines {', '.join(every) or 'none'})")
    if blocks and name not in evolvable_functions(source, True):
        raise TaskError(f"task: design.function = {name!r} lies outside the starter's EVOLVE-BLOCK regions, "
                        "where nothing may change")


# the offline researcher's design space for programs (nodes/heuristic/program_constants.py)
PROGRAM_SPACE = "program-constants"


def load_program_task(raw: dict, base_dir: Path, path: Path | None = None) -> dict:
    """A program task as a run takes it: ``validate_program_task``'s tables, plus the keys every task has (so that
    code written for simulator tasks reads a program task without a KeyError): ``benchmark`` names the evaluator
    (no seeds, no baseline policies: the starter is the baseline), ``stack`` is empty, ``heldout`` names the
    evaluator's variants (none: the report says there is no held-out check). Errors name the file."""
    try:
        task = validate_program_task(raw, base_dir)
    except TaskError as exc:
        if path is None:
            raise
        raise TaskError(f"{path}: {str(exc).removeprefix('task: ')}") from None
    ev = task["evaluator"]
    entry = ev["entry"] or " ".join(ev["command"])
    task["benchmark"] = {"workload": f"{ev['format']} evaluator {entry}", "seeds": [], "baselines": []}
    task["stack"] = {}
    task["heldout"] = {"variants": sorted(ev["variants"])}
    offline = dict(task.get("offline") or {})
    unknown = set(offline) - {"space", "diagnostics", "seed"}
    if unknown:
        raise TaskError(f"{path or 'task'}: [offline] has unknown key(s) {', '.join(sorted(unknown))}; a program "
                        "task knows seed (of the constants search)")
    if offline.get("space", PROGRAM_SPACE) != PROGRAM_SPACE:
        raise TaskError(f"{path or 'task'}: offline.space of a program task is {PROGRAM_SPACE!r} (the only offline "
                        f"design space for programs), got {offline['space']!r}")
    seed = offline.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TaskError(f"{path or 'task'}: offline.seed should be an integer, got {seed!r}")
    task["offline"] = {"space": PROGRAM_SPACE, "diagnostics": [], "seed": seed}
    return task


def is_program(task: dict) -> bool:
    """Whether a loaded task designs a program."""
    return (task.get("design") or {}).get("layer") == "program"
