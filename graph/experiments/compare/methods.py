"""The methods a comparison runs, each a search for a task's design within a budget of simulations, all against the
same evaluator and budget ledger:

- ``glia``: the agent workflow with a model (every role on it), one context;
- ``offline``: the same workflow with the heuristic (rule-driven) researcher and offline nodes, no model;
- ``best_shot``: the model asked directly for a design, independently each time (the paper's Fig. 2): the best of
  the budget's samples;
- ``openevolve``: the maintained OpenEvolve library in its own process (its signal handlers, logging and
  ``sys.path`` changes stay there), its model calls and evaluations bridged to this process, its retries off;
- ``eoh``, ``funsearch``: llm4ad's implementations (from the EoH authors' group; FunSearch after DeepMind's
  skeleton) in their own process, bridged the same way, evolving the task's design as one function.

A method's run is a *unit* (``METHOD-rN``). Each evaluation is charged once in the ledger; a library that goes on
past the budget is stopped when its last charged evaluation has finished. A unit that was interrupted continues
with the budget it has left: a Glia run from its checkpoint, best shot with more samples, a library started again
(its own state is not kept across a kill); its earlier evaluations stay in the ledger.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from glia.graph.config import MAX_TOKENS, ChatFactory, RunConfig
from glia.graph.experiments.compare import prompts
from glia.graph.experiments.compare.bridge import Bridge
from glia.graph.experiments.compare.names import METHODS, RunKind
from glia.graph.runs import resume_run, start_run
from glia.nodes.llm.client import (
    EndpointDown,
    WallClockUsed,
    account,
    invoke_with_retries,
    make_chat_model,
    model_deadline,
    with_token_limit,
)
from glia.nodes.llm.replies import POLICY, clean_code, parse_reply, unescape
from glia.simulator.harness import interrupt
from glia.simulator.harness.workspace import Paths
from glia.state import AgentSettings, EvaluationSettings, ModelSpec
from glia.tools.evaluator import Evaluator
from glia.tools.ledger import BudgetLedger, charged

STOP_GRACE_S = 10.0
# model calls (samples) a method may make per simulation of its budget: replies without a program, and programs
# already evaluated, cost no simulation (best shot; llm4ad's caps, which count every sample)
SAMPLES_PER_SIM = 3


@dataclass
class Shared:
    """What every unit of one comparison shares."""

    compare_id: str
    task_ref: str                  # the task's name or file, as given
    task: dict
    workspace: Path
    evaluator: Evaluator           # the task's benchmark; each unit gets a copy charged to its own ledger unit
    ledger: BudgetLedger
    reference: float | None        # the first baseline's objective value (libraries' fitness is relative to it)
    model: ModelSpec | None = None
    factory: ChatFactory | None = None  # (base URL, model) -> chat model; default ChatOpenAI
    settings: AgentSettings = field(default_factory=AgentSettings)
    evaluation: EvaluationSettings = field(default_factory=EvaluationSettings)  # where the units' seeds run
    on_event: Callable[[dict], None] = lambda event: None
    baselines: dict = field(default_factory=dict)   # name -> measurement: what every method is told
    glia_impl: dict = field(default_factory=dict)   # role -> implementation for Glia's runs (default: all llm)
    endpoint: list = field(default_factory=list)    # ROLE.KEY=VALUE mode overrides for Glia's runs


@dataclass
class Unit:
    method: str
    run: int
    budget: int
    dir: Path

    @property
    def key(self) -> str:
        return f"{self.method}-r{self.run}"

    def seconds_left(self, task: dict, session_start: float) -> float:
        """The task's wall-clock budget less what this unit used (in earlier sessions and since ``session_start``),
        the same cap a Glia run has."""
        path = self.dir / "wall_s"
        before = float(path.read_text()) if path.is_file() else 0.0
        return task["budget"]["wall_clock_s"] - before - (time.monotonic() - session_start)


def check_available(method: str) -> None:
    """A clear error, before anything runs, when a method's library is missing."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; one of {', '.join(METHODS)}")
    if METHODS[method].install:
        module, how = METHODS[method].install
        try:
            __import__(module)
        except ImportError:
            raise ValueError(f"method {method} needs the {module} library: {how}") from None


def run_unit(shared: Shared, unit: Unit) -> dict:
    """Carry one unit to its end (or to a pause); {"status": finished | paused, "message": ...}."""
    unit.dir.mkdir(parents=True, exist_ok=True)
    shared.ledger.open_unit(unit.key, unit.budget)
    return RUNS[METHODS[unit.method].run](shared, unit)


def unit_evaluator(shared: Shared, unit: Unit) -> Evaluator:
    ev = shared.evaluator
    return dataclasses.replace(ev, ledger=shared.ledger, unit=unit.key)


def fitness(result: dict, reference: float | None, goal: str) -> float | None:
    """A library's fitness (higher is better): the reference's objective over the candidate's for a minimised one,
    the inverse for a maximised one; None for a failed or infeasible candidate."""
    score, value = result.get("score"), result.get("value")
    if score is None or score == float("inf") or value is None or result.get("feasible") is False:
        return None
    if reference and reference > 0 and value > 0:
        return reference / value if goal == "minimize" else value / reference
    return -score


# -- model calls ----------------------------------------------------------------------------------------------------
class ModelCaller:
    """A method's model through Glia's client: the endpoint's reply-length limit, retries with back-off on transient
    errors (``EndpointDown`` when they persist), tokens and USD charged to the unit in the ledger."""

    def __init__(self, shared: Shared, unit: Unit):
        spec = shared.model
        if spec is None:
            raise ValueError(f"method {unit.method} needs a model: pass --model or set GLIA_MODEL")
        if shared.factory is not None:
            chat = shared.factory(spec.base_url, spec.model)
        else:
            chat = make_chat_model(spec.model, spec.base_url, temperature=METHODS[unit.method].temperature)
        self.chat = with_token_limit(chat, spec.base_url, MAX_TOKENS["researcher"])
        self.shared, self.unit = shared, unit

    def __call__(self, messages: list[dict]) -> str:
        kinds = {"system": SystemMessage, "assistant": AIMessage}
        msgs = [kinds.get(m.get("role"), HumanMessage)(content=str(m.get("content", ""))) for m in messages]
        reply = invoke_with_retries(self.chat, msgs, self.shared.settings, self.unit.method)
        usage: dict = {}
        account(usage, self.unit.method, reply, self.chat)
        self.shared.ledger.add_usage(self.unit.key, usage["tokens"], usage["calls"], usage["usd"])
        content = reply.content if isinstance(reply.content, str) else str(reply.content)
        return unescape(content)


def _evaluated(shared: Shared, unit: Unit, result: dict, label: str) -> None:
    shared.on_event({"event": "evaluation", "unit": unit.key, "method": unit.method, "seq": result.get("seq"),
                     "label": label, "status": result.get("status"), "value": result.get("value"),
                     "error": result.get("error"), "used": shared.ledger.used(unit.key), "budget": unit.budget})


# -- Glia -----------------------------------------------------------------------------------------------------------
def _glia(shared: Shared, unit: Unit) -> dict:
    """A Glia run in the unit's own workspace (its checkpoints and telemetry: experiment ids are unique within a
    run only), with the endpoint profile the comparison's workspace has cached, so the endpoint is probed once."""
    thread = f"{shared.compare_id}-{unit.key}"
    profiles, own = Paths(shared.workspace).endpoints, Paths(unit.dir).endpoints
    if profiles.is_file() and not own.is_file():
        shutil.copyfile(profiles, own)
    # run N of the heuristic researcher walks its plan in the order seed N - 1 draws (run 1: as the rules wrote it)
    evaluation = dataclasses.replace(shared.evaluation, ledger=str(shared.ledger.path), unit=unit.key, heldout=False,
                                     seed=unit.run - 1)

    def on_event(e: dict) -> None:
        d = e.get("data") if e.get("mode") == "custom" else None
        if isinstance(d, dict) and d.get("event") == "experiment":
            shared.on_event({"event": "evaluation", "unit": unit.key, "method": unit.method, "label": d["label"],
                             "status": "error" if d.get("error") else "ok", "error": d.get("error"),
                             "value": (d.get("metrics") or {}).get(shared.task["objective"]["metric"]),
                             "used": shared.ledger.used(unit.key), "budget": unit.budget})

    if (Paths(unit.dir).runs / thread / "run.json").exists():
        out = resume_run(thread, unit.dir, on_event=on_event, factory=shared.factory)
    else:
        offline = unit.method == "offline"
        config = RunConfig.build(shared.task_ref, budget_sims=unit.budget, offline=offline,
                                 implementations=None if offline else shared.glia_impl,
                                 endpoint=() if offline else shared.endpoint,
                                 model=None if offline else shared.model.model,
                                 base_url=None if offline else shared.model.base_url, llm=not offline,
                                 workspace=unit.dir, thread_id=thread, evaluation=evaluation,
                                 wall_clock_s=shared.task["budget"]["wall_clock_s"])
        config.settings = shared.settings
        out = start_run(config, on_event=on_event, factory=shared.factory)
        if own.is_file() and not profiles.is_file():
            shutil.copyfile(own, profiles)
    usage = out.state.get("usage", {})
    unit_row = shared.ledger.unit(unit.key) or {}
    if usage.get("tokens", 0) > unit_row.get("tokens", 0):  # the run's own accounting, charged once to the unit
        shared.ledger.add_usage(unit.key, usage["tokens"] - unit_row.get("tokens", 0),
                                usage.get("calls", 0) - unit_row.get("calls", 0),
                                usage.get("usd", 0.0) - unit_row.get("usd", 0.0))
    return {"status": "finished" if out.status == "finished" else "paused",
            "message": out.message.split("; `glia resume")[0],  # the comparison says how it resumes
            "thread": thread}


# -- best shot ------------------------------------------------------------------------------------------------------
def _best_shot(shared: Shared, unit: Unit) -> dict:
    ask = ModelCaller(shared, unit)
    ev = unit_evaluator(shared, unit)
    messages = prompts.best_shot(shared.task, shared.baselines)
    calls, started = 0, time.monotonic()
    while shared.ledger.used(unit.key) < unit.budget and calls < SAMPLES_PER_SIM * unit.budget:
        if unit.seconds_left(shared.task, started) <= 0:
            return {"status": "finished", "message": f"wall-clock budget used after {calls} model calls"}
        calls += 1
        try:  # the reply is awaited no longer than the unit's wall-clock budget allows
            with model_deadline(time.time(), unit.seconds_left(shared.task, started)):
                text = ask(messages)
        except EndpointDown as exc:
            return {"status": "paused", "message": str(exc)}
        except WallClockUsed:
            return {"status": "finished", "message": f"wall-clock budget used after {calls - 1} model calls (the "
                                                     "reply in flight was abandoned)"}
        code = _program(text, shared.task)
        if code is None:
            shared.on_event({"event": "no_program", "unit": unit.key, "method": unit.method})
            continue
        result = ev.evaluate_source(code, unit.dir, label=f"sample {calls}", **_blocks(shared.task))
        _evaluated(shared, unit, result, f"sample {calls}")
    return {"status": "finished", "message": f"{calls} model calls"}


def _blocks(task: dict) -> dict:
    """A program task's EVOLVE-BLOCK check for ``evaluate_source`` (none for a policy task)."""
    d = task["design"]
    return {"starter": d["starter_source"]} if d.get("layer") == "program" and d.get("blocks") else {}


def _program(text: str, task: dict | None = None) -> str | None:
    """The design in a reply: its fenced Python block defining a scheduler class (``parse_reply``), else the whole
    reply when it parses as one (a program task's: any code that parses)."""
    parsed = parse_reply(AIMessage(content=text), specs={})
    action = next((a for a in parsed.actions if a.name == POLICY), None)
    if action is not None:
        return action.args["code"]
    code = clean_code(text)
    try:
        ast.parse(code)
    except SyntaxError:
        return None
    return code if "class " in code or (task or {}).get("design", {}).get("layer") == "program" else None


# -- the libraries, each in its own process -------------------------------------------------------------------------
def function_template(task: dict) -> tuple[str, str, str]:
    """(template, adapter, doc) of a task's function form (``[design] function``): the preface and first top-level
    function (what EoH and FunSearch evolve), the rest of the file (the scheduler class that calls it), and the
    function's docstring. A program task's (``[design] function = "NAME"``): the starter's preface and that function,
    no adapter (``_library`` puts each evolved function back into the starter)."""
    if task["design"].get("layer") == "program":
        return _program_function(task)
    source = task["design"].get("function_source") or ""
    if not source:
        raise ValueError(f"task {task['name']!r} has no function form ([design] function = FILE) for EoH and "
                         "FunSearch, which evolve one function")
    tree = ast.parse(source)
    fn = next((n for n in tree.body if isinstance(n, ast.FunctionDef)), None)
    if fn is None:
        raise ValueError(f"task {task['name']!r}: its function file defines no top-level function")
    lines = source.splitlines(keepends=True)
    return "".join(lines[:fn.end_lineno]), "".join(lines[fn.end_lineno:]), ast.get_docstring(fn) or ""


def _program_function(task: dict) -> tuple[str, str, str]:
    from glia.tools.programs.functions import FunctionFormError, function_form
    name = task["design"].get("function") or ""
    if not name:
        raise ValueError(f"task {task['name']!r} names no function to evolve: EoH and FunSearch evolve one function "
                         "of the program; name one under [design] in the task file, e.g. function = \"place\" (a "
                         "top-level function of the starter, inside its EVOLVE-BLOCK)")
    try:
        template, doc = function_form(task["design"]["starter_source"], name)
    except (FunctionFormError, SyntaxError) as exc:
        raise ValueError(f"task {task['name']!r}: design.function = {name!r}: {exc}") from None
    return template, "", doc


def library_spec(shared: Shared, unit: Unit) -> dict:
    task = shared.task
    spec = {"method": unit.method, "dir": str(unit.dir), "budget": unit.budget, "seed": unit.run,
            "model": shared.model.model if shared.model else "model", "metric": task["objective"]["metric"],
            "timeout_s": shared.evaluator.timeout_s * max(1, len(shared.evaluator.seeds)) + 60,
            "max_tokens": MAX_TOKENS["researcher"], "temperature": METHODS[unit.method].temperature}
    if unit.method == "openevolve":
        spec.update(starter=task["design"]["starter_source"], iterations=4 * unit.budget,
                    system=prompts.OPENEVOLVE_SYSTEM.format(description=prompts.task_description(
                        task, shared.baselines)))
    else:
        template, adapter, doc = function_template(task)
        name = ast.parse(template).body[-1].name
        spec.update(template=template, adapter=adapter, samples=SAMPLES_PER_SIM * unit.budget,
                    description=prompts.FUNCTION_DESCRIPTION.format(
                        description=prompts.task_description(task, shared.baselines), name=name, doc=doc))
    return spec


def _library(shared: Shared, unit: Unit) -> dict:
    check_available(unit.method)
    spec = library_spec(shared, unit)
    ev = unit_evaluator(shared, unit)
    goal = shared.task["objective"]["goal"]

    def evaluate(code: str, label: str) -> dict:
        if unit.method in ("eoh", "funsearch") and shared.task["design"].get("layer") == "program":
            from glia.tools.programs.functions import FunctionFormError, splice_function
            d = shared.task["design"]
            try:  # the evolved function back in its place in the starter
                code = splice_function(d["starter_source"], d["function"], code)
            except FunctionFormError as exc:
                return {"fitness": None, "value": None, "status": "error", "measured": "",
                        "error": {"kind": "function", "who": "program", "message": f"refused, not charged: {exc}"}}
        result = ev.evaluate_source(code, unit.dir, label=label, **_blocks(shared.task))
        _evaluated(shared, unit, result, label)
        return {"fitness": fitness(result, shared.reference, goal), "value": result.get("value"),
                "status": result.get("status"), "error": result.get("error"),
                "measured": "" if result.get("error") else prompts.figures_text(shared.task,
                                                                                result.get("metrics") or {})}

    bridge = Bridge(ModelCaller(shared, unit), evaluate)
    path = unit.dir / "spec.json"
    path.write_text(json.dumps(spec, indent=1))
    log = open(unit.dir / f"{unit.method}.log", "ab")
    proc = subprocess.Popen([sys.executable, "-m", str(METHODS[unit.method].library), str(path)], stdout=log,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                            env={**os.environ, **bridge.env(), "PYTHONUNBUFFERED": "1"})
    try:
        outcome = _watch(shared, unit, proc, bridge)
    finally:
        _stop(proc)
        bridge.close()
        log.close()
    return outcome


def _watch(shared: Shared, unit: Unit, proc: subprocess.Popen, bridge: Bridge) -> dict:
    """Until the library ends, its charged budget is spent and evaluated, its wall-clock budget is used, or its
    model endpoint is down."""
    started = time.monotonic()
    while proc.poll() is None:
        interrupt.check()  # the user stopped the comparison: the library's process group is stopped on the way out
        if bridge.failure is not None:
            return {"status": "paused", "message": str(bridge.failure)}
        if unit.seconds_left(shared.task, started) <= 0:
            return {"status": "finished", "message": "wall-clock budget used"}
        rows = charged(shared.ledger.rows(unit.key))
        if len(rows) >= unit.budget and all(r["status"] != "running" for r in rows):
            return {"status": "finished", "message": "budget used"}
        time.sleep(0.2)
    if bridge.failure is not None:
        return {"status": "paused", "message": str(bridge.failure)}
    tail = (unit.dir / f"{unit.method}.log").read_text(errors="replace")[-600:]
    if proc.returncode != 0:
        return {"status": "finished", "message": f"the library exited with code {proc.returncode}: {tail.strip()}"}
    return {"status": "finished", "message": "the library finished"}


def _stop(proc: subprocess.Popen) -> None:
    """The library's whole process group: asked to stop, then killed."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, STOP_GRACE_S), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


# how a unit of each kind of method runs (``names.Method.run``)
RUNS: dict[RunKind, Callable[[Shared, Unit], dict]] = {"workflow": _glia, "best_shot": _best_shot, "library": _library}
