"""``glia init --from-openevolve DIR`` / ``--from-shinka DIR``: a problem directory in OpenEvolve's or ShinkaEvolve's
format turned into a program task TOML the user can read and edit.

Nothing in the directory is run: the evaluator, the starter and ShinkaEvolve's ``run_evo.py`` are parsed (``ast``),
``config.yaml`` is read as YAML. What is taken: the starter (``initial_program.*`` / ``initial.*``), the evaluator,
the system message as the background (OpenEvolve: ``prompt.system_message``, unless it is the default template's
name; ShinkaEvolve: ``task_sys_msg`` in a YAML config or in ``run_evo.py``; else the README), the cascade
thresholds (when ``cascade_evaluation`` is on and the evaluator defines ``evaluate_stage1``), the timeout
(OpenEvolve's is per stage, so it is multiplied by the stages; ShinkaEvolve's ``job_config.time``), the budget
(``max_iterations`` / ``num_generations``, at most 100), the local modules the starter imports (``program_reads``).
What the directory does not say (an objective other than ``combined_score``, a held-out variant) is asked for by
an option or left as a commented suggestion naming what the evaluator reads (environment variables, arguments).
A directory that is not in the format gets an error that names what is missing.
"""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from glia.state.tasks.program_task import (
    MARKER_END,
    MARKER_START,
    evaluator_functions,
    evolvable_functions,
    validate_program_task,
)
from glia.state.tasks.task import TaskError

OE_DEFAULT_CASCADE = [0.5, 0.75, 0.9]
OE_DEFAULT_TIMEOUT = 300
BUDGET_CAP = 100
SHINKA_DEFAULT_TIMEOUT = 600.0


class ImportProblem(TaskError):
    """The directory cannot be turned into a task; the message says what is missing or wrong."""


@dataclass
class Draft:
    """A task TOML and what the import noticed (shown to the user)."""

    toml: str
    task: dict
    notes: list[str] = field(default_factory=list)


# -- reading a directory ---------------------------------------------------------------------------------------------
def _listing(d: Path) -> str:
    names = sorted(p.name + ("/" if p.is_dir() else "") for p in d.iterdir() if not p.name.startswith("."))
    return ", ".join(names[:20]) + (" ..." if len(names) > 20 else "") if names else "nothing"


def _one(d: Path, stem: str, what: str, given: str | None) -> Path:
    if given:
        path = (d / given) if not Path(given).is_absolute() else Path(given)
        if not path.is_file():
            raise ImportProblem(f"{given}: no such file in {d}")
        return path
    found = sorted(p for p in d.glob(f"{stem}.*") if p.is_file() and p.suffix not in (".pyc", ".orig", ".bak"))
    if not found:
        raise ImportProblem(f"{d} has no {stem}.<ext> ({what}); it holds: {_listing(d)}")
    if len(found) > 1:
        raise ImportProblem(f"{d} has several starters ({', '.join(p.name for p in found)}); choose one with "
                            "--program FILE")
    return found[0]


def _parse(path: Path) -> ast.Module:
    try:
        return ast.parse(path.read_text(errors="replace"), filename=str(path))
    except SyntaxError as exc:
        raise ImportProblem(f"{path.name} does not parse (line {exc.lineno}: {exc.msg})") from None


def _strings_in(tree: ast.AST) -> set[str]:
    return {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}


def env_vars_read(tree: ast.AST) -> list[str]:
    """Environment variables a file reads (``os.environ.get("X")``, ``os.getenv("X")``, ``os.environ["X"]``)."""
    found = []
    for node in ast.walk(tree):
        name = None
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            f = node.func
            if isinstance(f, ast.Attribute) and (
                    f.attr == "getenv" or (f.attr == "get" and isinstance(f.value, ast.Attribute)
                                           and f.value.attr == "environ")):
                name = node.args[0].value
        elif isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute) and \
                node.value.attr == "environ" and isinstance(node.slice, ast.Constant):
            name = node.slice.value
        if isinstance(name, str) and name not in found:
            found.append(name)
    return found


def arguments_taken(tree: ast.AST) -> dict[str, list]:
    """Command-line options a file's argparse takes, with their choices (``--split``: [train, heldout])."""
    out: dict[str, list] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "add_argument":
            flags = [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
            choices = []
            for kw in node.keywords:
                if kw.arg == "choices" and isinstance(kw.value, (ast.List, ast.Tuple)):
                    choices = [e.value for e in kw.value.elts if isinstance(e, ast.Constant)]
            for flag in flags:
                if flag.startswith("--"):
                    out[flag] = choices
    return out


def local_imports(tree: ast.AST, d: Path) -> list[str]:
    """Modules of the directory the starter imports (the program must be able to read them)."""
    found = []
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name.split(".")[0] for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module.split(".")[0]]
        for n in names:
            for cand in (f"{n}.py", n):
                if (d / cand).exists() and cand not in found:
                    found.append(cand)
    return found


def _requirements(d: Path) -> list[str]:
    """Packages ``requirements.txt`` lists that are not installed here."""
    path = d / "requirements.txt"
    if not path.is_file():
        return []
    missing = []
    for line in path.read_text(errors="replace").splitlines():
        line = line.split("#")[0].strip()
        m = re.match(r"^([A-Za-z0-9_.\-]+)", line)
        if not m or line.startswith("-"):
            continue
        try:
            importlib.metadata.version(m.group(1))
        except importlib.metadata.PackageNotFoundError:
            missing.append(m.group(1))
    return missing


def _yaml(path: Path) -> dict:
    import yaml  # PyYAML: a dependency of langchain-core, so always installed with Glia
    try:
        data = yaml.safe_load(path.read_text(errors="replace"))
    except yaml.YAMLError as exc:
        raise ImportProblem(f"{path.name} is not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ImportProblem(f"{path.name} should hold a mapping of settings, not a {type(data).__name__}")
    return data


def _readme(d: Path, limit: int = 3000) -> str:
    for name in ("README.md", "README.rst", "README.txt", "README"):
        path = d / name
        if path.is_file():
            text = path.read_text(errors="replace").strip()
            return text if len(text) <= limit else text[:limit].rsplit("\n", 1)[0] + "\n..."
    return ""


# -- writing the TOML ------------------------------------------------------------------------------------------------
def _s(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _multiline(value: str) -> str:
    if "'''" in value or any(ord(c) < 32 and c not in "\n\t" for c in value):
        return _s(value)
    return "'''\n" + value.strip() + "\n'''"


def _v(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return _s(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_v(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_v(v)}" for k, v in value.items()) + " }" if value else "{}"
    raise TypeError(f"cannot write {value!r} to TOML")


def _key(k: str) -> str:
    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else _s(k)


@dataclass
class _Plan:
    name: str
    background: str
    source: str                      # "an OpenEvolve directory" ...
    starter: str                     # relative to the TOML
    file: str
    workdir: str                     # relative to the TOML
    fmt: str
    entry: str
    timeout_s: float
    cascade: list[float] | None
    objective: str
    constraint: tuple[str, float] | None
    isolation: str
    program_reads: list[str]
    budget: int
    blocks: bool
    function: str = ""               # what EoH and FunSearch evolve ("" : none chosen)
    args: list[str] = field(default_factory=list)
    kwargs: dict = field(default_factory=dict)
    variants: dict = field(default_factory=dict)
    suggestions: list[str] = field(default_factory=list)


def _toml(p: _Plan) -> str:
    lines = [f"# A program task imported by `glia init` from {p.source}.",
             "# Glia designs the program in [design], judged by the evaluator in [evaluator]; edit freely.",
             f"name = {_s(p.name)}", f"background = {_multiline(p.background)}" if p.background else
             "background = \"\"  # no system message or README was found: say what the program does and how it is "
             "judged", "", "[objective]", f"metric = {_s(p.objective)}", "goal = \"maximize\""]
    if p.constraint:
        lines += ["", "[objective.constraint]  # a program that breaks it is never the best",
                  f"metric = {_s(p.constraint[0])}", f"min = {_v(float(p.constraint[1]))}"]
    lines += ["", "[design]", "layer = \"program\"",
              f"file = {_s(p.file)}  # the candidate's file name in the evaluator's working directory",
              f"starter = {_s(p.starter)}", f"editable = {_v([p.file])}",
              f"blocks = {_v(p.blocks)}" + ("  # only the EVOLVE-BLOCK regions may change" if p.blocks else
                                            "  # the starter has no EVOLVE-BLOCK markers: all of it may change"),
              f"function = {_s(p.function)}  # the function EoH and FunSearch evolve (glia compare)" if p.function
              else "# function = \"NAME\"  # a top-level function of the starter for EoH and FunSearch to evolve",
              "", "[evaluator]", f"format = {_s(p.fmt)}",
              f"workdir = {_s(p.workdir)}  # copied fresh for every evaluation",
              f"entry = {_s(p.entry)}", f"timeout_s = {_v(p.timeout_s)}  # the whole evaluation",
              "memory_mb = 4096"]
    if p.cascade:
        lines.append(f"cascade = {_v(p.cascade)}  # thresholds after stages 1 and 2 (OpenEvolve's rule)")
    lines.append(f"isolation = {_s(p.isolation)}" + (
        "  # the program runs in a process of its own, away from the evaluator's files" if p.isolation == "split"
        else "  # the program runs in the evaluator's process"))
    if p.program_reads:
        lines.append(f"program_reads = {_v(p.program_reads)}  # modules of the directory the program imports")
    if p.args:
        lines.append(f"args = {_v(p.args)}")
    if p.kwargs:
        lines.append(f"kwargs = {_v(p.kwargs)}")
    for name in ("heldout", "shifted"):
        v = p.variants.get(name)
        if v:
            lines += ["", f"[evaluator.{name}]"] + [f"{k} = {_v(val)}" for k, val in v.items() if val]
    if "heldout" not in p.variants:
        lines += ["", "# No held-out variant: the report will say there is no held-out check. If the evaluator can run "
                  "other cases,", "# say how, e.g.:"] + [f"# {s}" for s in p.suggestions or
                                                         ["[evaluator.heldout]", "env = { SPLIT = \"heldout\" }"]]
    lines += ["", "[budget]", f"evaluations = {p.budget}", ""]
    return "\n".join(lines)


def _variant_table(env: list[str], args: list[str]) -> dict:
    out: dict = {}
    if env:
        pairs = {}
        for item in env:
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise ImportProblem(f"{item!r}: give an environment variable as NAME=VALUE")
            pairs[key] = value
        out["env"] = pairs
    if args:
        import shlex
        out["args"] = [a for item in args for a in shlex.split(item)]
    return out


def _validity(spec: str | None) -> tuple[str, float] | None:
    if not spec:
        return None
    metric, _, least = spec.partition(":")
    try:
        return metric, float(least) if least else 1.0
    except ValueError:
        raise ImportProblem(f"--validity {spec!r}: give METRIC or METRIC:MIN (a number)") from None


def _finish(plan: _Plan, out: Path, notes: list[str]) -> Draft:
    text = _toml(plan)
    import tomllib
    try:
        task = validate_program_task(tomllib.loads(text), out.parent)
    except (tomllib.TOMLDecodeError, TaskError) as exc:  # the import wrote something it cannot read: a bug here
        raise ImportProblem(f"the task written for {plan.source} does not validate: {exc}") from exc
    return Draft(text, task, notes)


def _relative_to(path: Path, base: Path) -> str:
    """``path`` relative to the task file's directory when it is near it, else absolute."""
    import os
    rel = os.path.relpath(path.resolve(), base.resolve())
    return str(path.resolve()) if rel.startswith(os.path.join("..", "..")) else rel


def _common(d: Path, out: Path, starter: Path, notes: list[str]) -> dict:
    tree = _parse(starter)
    src = starter.read_text(errors="replace")
    blocks = MARKER_START in src and MARKER_END in src
    if not blocks:
        notes.append(f"{starter.name} has no {MARKER_START}/{MARKER_END} markers: the whole file may change")
    isolation = "split" if starter.suffix == ".py" else "shared"
    if isolation == "shared":
        notes.append(f"{starter.name} is not Python: it runs in the evaluator's process (isolation = \"shared\"), "
                     "where it can read what the evaluator reads")
    reads = local_imports(tree, d) if starter.suffix == ".py" else []
    if reads:
        notes.append(f"the starter imports {', '.join(reads)} from the directory: the program may read "
                     f"{'it' if len(reads) == 1 else 'them'} (program_reads)")
    missing = _requirements(d)
    if missing:
        notes.append(f"requirements.txt lists {', '.join(missing)}, not installed here: evaluations will fail "
                     f"until you pip install {' '.join(missing)}")
    fns = evolvable_functions(src, blocks) if starter.suffix == ".py" else []
    function = fns[0] if len(fns) == 1 else ""
    if function:
        notes.append(f"EoH and FunSearch (glia compare) evolve {function}(), the starter's one top-level function"
                     + (" inside its EVOLVE-BLOCK" if blocks else "") + " (design.function)")
    else:
        notes.append("EoH and FunSearch (glia compare) evolve one function: " + (
            f"name one of {', '.join(fns)} with design.function" if fns else
            "the starter has no top-level function " + ("inside its EVOLVE-BLOCK " if blocks else "")
            + "for them"))
    return {"blocks": blocks, "isolation": isolation, "program_reads": reads, "function": function,
            "starter": _relative_to(starter, out.parent), "workdir": _relative_to(d, out.parent)}


def from_openevolve(directory: str | Path, out: str | Path, *, program: str | None = None,
                    evaluator: str | None = None, config: str | None = None, name: str | None = None,
                    objective: str | None = None, validity: str | None = None, timeout_s: float | None = None,
                    heldout_env: list[str] = (), shifted_env: list[str] = ()) -> Draft:
    """The task for an OpenEvolve problem directory (initial_program.*, evaluator.py, config.yaml)."""
    d = Path(directory)
    if not d.is_dir():
        raise ImportProblem(f"{directory}: no such directory")
    out = Path(out)
    notes: list[str] = []
    ev_path = Path(evaluator) if evaluator and Path(evaluator).is_absolute() else d / (evaluator or "evaluator.py")
    if not ev_path.is_file():
        raise ImportProblem(f"{d} is not an OpenEvolve problem directory: it has no {ev_path.name} (the evaluator, "
                            f"with evaluate(program_path)); it holds: {_listing(d)}")
    if ev_path.parent.resolve() != d.resolve():
        raise ImportProblem(f"the evaluator {ev_path} must be inside {d} (the directory is its working directory)")
    starter = _one(d, "initial_program", "the starting program", program)
    try:
        defined = evaluator_functions(ev_path)
    except TaskError as exc:
        raise ImportProblem(str(exc).removeprefix("task: ")) from None
    if "evaluate" not in defined and "evaluate_stage1" not in defined:
        raise ImportProblem(f"{ev_path.name} defines no evaluate(program_path) function (OpenEvolve calls evaluate; "
                            "with a cascade, evaluate_stage1)")
    ev_tree = _parse(ev_path)
    cfg_path = None
    if config:
        cfg_path = Path(config) if Path(config).is_absolute() else d / config
        if not cfg_path.is_file():
            raise ImportProblem(f"--config {config}: no such file")
    elif (d / "config.yaml").is_file():
        cfg_path = d / "config.yaml"
    else:
        found = sorted(d.glob("config*.y*ml"))
        if len(found) == 1:
            cfg_path = found[0]
        elif found:
            raise ImportProblem(f"{d} has several configurations ({', '.join(p.name for p in found)}): choose one with "
                                "--config FILE")
    cfg = _yaml(cfg_path) if cfg_path else {}
    if not cfg_path:
        notes.append("no config.yaml: OpenEvolve's defaults apply (timeout 300 s per stage, cascade [0.5, 0.75])")
    prompt = cfg.get("prompt") if isinstance(cfg.get("prompt"), dict) else {}
    ecfg = cfg.get("evaluator") if isinstance(cfg.get("evaluator"), dict) else {}
    background = prompt.get("system_message") if isinstance(prompt.get("system_message"), str) else ""
    if background.strip() in ("", "system_message"):  # the name of OpenEvolve's default template, not a message
        background = _readme(d)
        notes.append("background: from the README (config.yaml has no system message)" if background else
                     "no system message and no README: write the background yourself")
    stages = [s for s in ("evaluate_stage1", "evaluate_stage2", "evaluate_stage3") if s in defined]
    cascade = None
    if ecfg.get("cascade_evaluation", True) and stages:
        thresholds = ecfg.get("cascade_thresholds", OE_DEFAULT_CASCADE)
        if not isinstance(thresholds, list) or not thresholds:
            raise ImportProblem(f"evaluator.cascade_thresholds in {cfg_path.name} should be a list of numbers")
        cascade = [float(t) for t in thresholds[:min(2, max(1, len(stages) - 1))]]
    elif stages and "evaluate" not in defined:
        raise ImportProblem(f"{ev_path.name} has evaluate_stage1 but no evaluate, and the configuration turns the "
                            "cascade off: OpenEvolve could not run it either")
    per_stage = ecfg.get("timeout", OE_DEFAULT_TIMEOUT)
    if isinstance(per_stage, bool) or not isinstance(per_stage, (int, float)) or per_stage <= 0:
        raise ImportProblem(f"evaluator.timeout in {cfg_path.name if cfg_path else 'the config'} should be a positive "
                            f"number of seconds, got {per_stage!r}")
    n_stages = len(stages) if cascade else 1
    timeout = float(timeout_s or per_stage * n_stages)
    if n_stages > 1 and not timeout_s:
        notes.append(f"timeout: {per_stage:g} s per stage in OpenEvolve, so {timeout:g} s for the {n_stages} stages")
    strings = _strings_in(ev_tree)
    if objective is None:
        if "combined_score" not in strings:
            raise ImportProblem(f"{ev_path.name} never mentions 'combined_score': OpenEvolve would rank programs by "
                                "the mean of all their numeric metrics, which Glia will not guess; name the metric "
                                "to maximise with --objective METRIC")
        objective = "combined_score"
    constraint = _validity(validity)
    if constraint is None and "validity" in strings:
        constraint = ("validity", 1.0)
        notes.append("constraint: validity >= 1 (the evaluator reports a 'validity' metric); a program that fails "
                     "it is never the best")
    iters = cfg.get("max_iterations", 20)
    budget = int(min(iters, BUDGET_CAP)) if isinstance(iters, int) and iters > 0 else 20
    if isinstance(iters, int) and iters > BUDGET_CAP:
        notes.append(f"budget: {BUDGET_CAP} evaluations (config.yaml's max_iterations is {iters})")
    kwargs = ecfg.get("evaluator_args") if isinstance(ecfg.get("evaluator_args"), dict) else {}
    common = _common(d, out, starter, notes)
    variants = {}
    if heldout_env:
        variants["heldout"] = _variant_table(list(heldout_env), [])
    if shifted_env:
        variants["shifted"] = _variant_table(list(shifted_env), [])
    envs = env_vars_read(ev_tree)
    suggestions = []
    if envs:
        suggestions = ["[evaluator.heldout]", f"env = {{ {envs[0]} = \"...\" }}  # {ev_path.name} reads "
                       f"{', '.join(envs)}"]
        if "heldout" not in variants:
            notes.append(f"no held-out variant given; {ev_path.name} reads the environment variable(s) "
                         f"{', '.join(envs)}: --heldout-env NAME=VALUE makes one")
    elif "heldout" not in variants:
        notes.append("no held-out variant: the report will say there is no held-out check")
    plan = _Plan(name=name or d.resolve().name, background=background, source=f"the OpenEvolve directory {d}",
                 file=starter.name, fmt="openevolve", entry=ev_path.name, timeout_s=timeout, cascade=cascade,
                 objective=objective, constraint=constraint, budget=budget, kwargs=kwargs, variants=variants,
                 suggestions=suggestions, **common)
    return _finish(plan, out, notes)


def _shinka_settings(d: Path) -> dict:
    """``task_sys_msg``, ``time``, ``extra_cmd_args``, ``num_generations``, ``eval_program_path`` from a YAML
    configuration or from ``run_evo.py`` (parsed, not run)."""
    found: dict = {}
    for path in sorted(d.glob("*.y*ml")) + sorted(d.glob("configs/**/*.y*ml")):
        data = _yaml(path)
        for section in ("evo_config", "job_config"):
            if isinstance(data.get(section), dict):
                for k, v in data[section].items():
                    found.setdefault(k, v)
        for k in ("task_sys_msg", "num_generations", "time", "eval_program_path"):
            if k in data:
                found.setdefault(k, data[k])
    for path in sorted(d.glob("*.py")):
        if path.name in ("evaluate.py",) or path.name.startswith("initial."):
            continue
        try:
            tree = ast.parse(path.read_text(errors="replace"))
        except SyntaxError:
            continue
        consts = {}
        for node in tree.body:
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
                for t in node.targets:
                    if isinstance(t, ast.Name):
                        consts[t.id] = node.value.value
        for node in ast.walk(tree):  # config["evo_config"]["task_sys_msg"] = NAME (or a string)
            if isinstance(node, ast.Assign) and any(isinstance(t, ast.Subscript) and isinstance(t.slice, ast.Constant)
                                                    and t.slice.value == "task_sys_msg" for t in node.targets):
                value = node.value
                if isinstance(value, ast.Constant):
                    found.setdefault("task_sys_msg", value.value)
                elif isinstance(value, ast.Name) and value.id in consts:
                    found.setdefault("task_sys_msg", consts[value.id])
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            for kw in node.keywords:
                if kw.arg in ("task_sys_msg", "time", "num_generations", "eval_program_path", "extra_cmd_args"):
                    value = kw.value
                    if isinstance(value, ast.Constant):
                        found.setdefault(kw.arg, value.value)
                    elif isinstance(value, ast.Name) and value.id in consts:
                        found.setdefault(kw.arg, consts[value.id])
                    elif isinstance(value, ast.Dict):
                        try:
                            found.setdefault(kw.arg, ast.literal_eval(value))
                        except ValueError:
                            pass
    return found


def _hms(value) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return float(value)
    if isinstance(value, str):
        m = re.fullmatch(r"(\d+):(\d{1,2}):(\d{1,2})", value.strip())
        if m:
            h, mi, s = (int(x) for x in m.groups())
            return float(h * 3600 + mi * 60 + s) or None
    return None


def from_shinka(directory: str | Path, out: str | Path, *, program: str | None = None, name: str | None = None,
                timeout_s: float | None = None, heldout_env: list[str] = (), heldout_args: list[str] = (),
                shifted_env: list[str] = (), shifted_args: list[str] = ()) -> Draft:
    """The task for a ShinkaEvolve problem directory (initial.*, evaluate.py; run_evo.py or a YAML config)."""
    d = Path(directory)
    if not d.is_dir():
        raise ImportProblem(f"{directory}: no such directory")
    out = Path(out)
    notes: list[str] = []
    settings = _shinka_settings(d)
    entry = settings.get("eval_program_path") if isinstance(settings.get("eval_program_path"), str) else "evaluate.py"
    entry = Path(entry).name
    ev_path = d / entry
    if not ev_path.is_file():
        raise ImportProblem(f"{d} is not a ShinkaEvolve problem directory: it has no {entry} (the evaluator, run as "
                            f"`python {entry} --program_path P --results_dir R`); it holds: {_listing(d)}")
    starter = _one(d, "initial", "the starting program", program)
    ev_tree = _parse(ev_path)
    defined = {n.name for n in ev_tree.body if isinstance(n, ast.FunctionDef)}
    options = arguments_taken(ev_tree)
    if "main" not in defined and "--program_path" not in options:
        raise ImportProblem(f"{entry} does not look like a ShinkaEvolve evaluator: it defines no main(program_path, "
                            "results_dir) and takes no --program_path argument")
    if "--program_path" not in options or "--results_dir" not in options:
        raise ImportProblem(f"{entry} does not take --program_path and --results_dir on its command line, which is "
                            "how ShinkaEvolve (and Glia) run it; add an argparse block calling main()")
    imports = {a.name.split(".")[0] for n in ast.walk(ev_tree) if isinstance(n, ast.Import) for a in n.names} | {
        n.module.split(".")[0] for n in ast.walk(ev_tree) if isinstance(n, ast.ImportFrom) and n.module}
    if "shinka" in imports and importlib.util.find_spec("shinka") is None:
        notes.append(f"{entry} imports shinka (run_shinka_eval), which is not installed here: evaluations will fail "
                     "until you pip install shinka-evolve")
    background = settings.get("task_sys_msg") if isinstance(settings.get("task_sys_msg"), str) else ""
    if not background.strip():
        background = _readme(d)
        notes.append("background: from the README (no task_sys_msg found)" if background else
                     "no task_sys_msg and no README: write the background yourself")
    timeout = timeout_s or _hms(settings.get("time"))
    if timeout is None:
        timeout = SHINKA_DEFAULT_TIMEOUT
        notes.append(f"no job_config time (ShinkaEvolve would wait for ever): timeout {timeout:g} s")
    gens = settings.get("num_generations", 20)
    budget = int(min(gens, BUDGET_CAP)) if isinstance(gens, int) and gens > 0 else 20
    extra = settings.get("extra_cmd_args") if isinstance(settings.get("extra_cmd_args"), dict) else {}
    args = [a for k, v in extra.items() for a in (f"--{k}", str(v))]
    common = _common(d, out, starter, notes)
    variants = {}
    for vname, env, vargs in (("heldout", heldout_env, heldout_args), ("shifted", shifted_env, shifted_args)):
        table = _variant_table(list(env), list(vargs))
        if table:
            variants[vname] = table
    suggestions = []
    split_opts = {k: v for k, v in options.items() if k not in ("--program_path", "--results_dir")}
    envs = env_vars_read(ev_tree)
    if split_opts:
        flag, choices = next(iter(split_opts.items()))
        example = str(choices[1]) if len(choices) > 1 else "..."
        suggestions = ["[evaluator.heldout]", f"args = [{_s(flag)}, {_s(example)}]  # {entry} takes "
                       f"{', '.join(split_opts)}"]
    elif envs:
        suggestions = ["[evaluator.heldout]", f"env = {{ {envs[0]} = \"...\" }}  # {entry} reads {', '.join(envs)}"]
    if "heldout" not in variants:
        what = (f"; {entry} takes {', '.join(split_opts)}" if split_opts else
                f"; {entry} reads {', '.join(envs)}" if envs else "")
        notes.append(f"no held-out variant given{what}: --heldout-arg / --heldout-env makes one; without it the "
                     "report says there is no held-out check")
    plan = _Plan(name=name or d.resolve().name, background=background, source=f"the ShinkaEvolve directory {d}",
                 file=starter.name, fmt="shinka", entry=entry, timeout_s=float(timeout), cascade=None,
                 objective="combined_score", constraint=("correct", 1.0), budget=budget, args=args,
                 variants=variants, suggestions=suggestions, **common)
    notes.append("constraint: correct >= 1 (correct.json); an incorrect program is never the best")
    return _finish(plan, out, notes)
