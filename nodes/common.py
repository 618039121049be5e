"""What the agent nodes share: their tools' context and how agents' words reach each other."""

from __future__ import annotations

import functools
import re
from pathlib import Path

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, ToolMessage

from glia.nodes.claims import Figures, known_figures
from glia.state import GliaContext, GliaState, score, violation
from glia.state.tasks.program_task import is_program
from glia.state.tasks.task import layer_of
from glia.tools.evaluator import Evaluator
from glia.tools.executors import make_executor
from glia.tools.ledger import BudgetLedger
from glia.tools.toolkit import ToolContext


def evaluator_for(task: dict, db: Path | None, executor, **kwargs) -> Evaluator:
    """The task's benchmark as every method evaluates it: candidates of the task's layer with its fixed policies of
    the other layers, scored by its objective (penalised past its constraint) and judged against its constraint.
    A program task's: its evaluator (``tools/programs/evaluator.py``), through the same ledger."""
    if is_program(task):
        from glia.tools.programs import spec_for_task
        from glia.tools.programs.evaluator import ProgramEvaluator
        return ProgramEvaluator(spec_for_task(task), functools.partial(score, task), functools.partial(violation, task),
                                task["objective"]["metric"], db, ledger=kwargs.get("ledger"),
                                unit=kwargs.get("unit", ""), timeout_auto=task["evaluator"]["timeout_s"] is None,
                                executor=executor)
    return Evaluator(task["benchmark"]["workload"], task["benchmark"]["seeds"], functools.partial(score, task),
                     task["objective"]["metric"], db, executor, layer=layer_of(task), fixed=task.get("stack"),
                     judge=functools.partial(violation, task), **kwargs)


def task_evaluator(state: GliaState, ctx: GliaContext) -> Evaluator:
    """The run's evaluator: on the run's executor, charged to its budget ledger when it has one (a comparison's
    unit), with the timeout the measured baselines give."""
    ev = ctx.evaluation
    evaluator = evaluator_for(state["task"], Path(ctx.db), make_executor(ev.executor, ev.ray_address),
                              ledger=BudgetLedger(ev.ledger) if ev.ledger else None, unit=ev.unit)
    evaluator.calibrate(state.get("baselines", []))
    return evaluator


def tool_context(state: GliaState, ctx: GliaContext) -> ToolContext:
    return ToolContext(Path(state["workspace"]), Path(ctx.db), state["task"], state["context_id"],
                       task_evaluator(state, ctx), state.get("thread_id", ""))


def from_agent(role: str, text: str) -> HumanMessage:
    """A message from another agent, as the researcher sees it."""
    return HumanMessage(content=f"[{role}] {text}", name=role)


CODE = re.compile(r"```.*?(?:```|\Z)", re.DOTALL)


def text_of(messages: list[AnyMessage], limit: int = 12) -> str:
    """The readable part of recent messages: no code, no tool arguments (what the supervisor may see)."""
    lines = []
    for m in messages[-limit:]:
        if isinstance(m, ToolMessage):
            continue
        content = CODE.sub(lambda c: f"(code, {c.group(0).count(chr(10))} lines)", str(m.content)).strip()
        if isinstance(m, AIMessage) and m.tool_calls:
            names = ", ".join(tc["name"] for tc in m.tool_calls)
            content = (content + f" (called: {names})").strip()
        if content:
            lines.append(f"{getattr(m, 'name', None) or m.type}: {clip(content, 600)}")
    return "\n".join(lines)


def clip(text: str, limit: int) -> str:
    """``text`` cut to at most about ``limit`` characters at the end of a sentence (or a line), never inside one;
    what is left out is said."""
    if len(text) <= limit:
        return text
    head = text[:limit]
    ends = [m.end() for m in re.finditer(r"[.!?;)](?=\s)|\n", head)]
    cut = ends[-1] if ends and ends[-1] > limit // 3 else (head.rfind(" ") if " " in head else limit)
    return text[:cut].rstrip() + f" (... {len(text) - cut} more characters)"


def shown_figures(state: GliaState, paired: list[float | str] | None = None, code: list[str] | None = None) -> Figures:
    """Every figure the harness recorded and every figure the agents were shown (``claims.known_figures``: the
    task's text, the query results and diagnostics behind the findings, the results of the researcher's own tool
    calls, typed by their columns and words), plus ``paired`` (figures or texts a role was shown: the analyst's own
    query results) and the figures each finding rests on; and the numbers of the designs' code (``designs_of``,
    plus ``code``: a reply's own new design). A number quoted from any of these is not an invention, so
    no role sees it marked [unmeasured]; a change counts only between figures its sentence names."""
    rests = [float(x) for f in state.get("findings", []) for x in f.get("figures") or [] if isinstance(x, (int, float))]
    return known_figures(state, [*(paired or []), *rests], [*designs_of(state), *(code or [])])


def designs_of(state: GliaState) -> list[str]:
    """The code of the experiments this context ran and of its design file now: the numbers an agent set there (a
    reserve of 384 tokens, a 300 s guard) are settings it may name, not results it invented."""
    workspace = Path(state.get("workspace") or ".")
    paths = [workspace / e["snapshot"] for e in state.get("ledger", []) if e.get("snapshot")]
    design = ((state.get("task") or {}).get("design") or {}).get("file")
    if design and state.get("workspace"):
        paths.append(workspace / design)
    return [p.read_text(errors="replace") for p in dict.fromkeys(paths) if p.suffix == ".py" and p.is_file()]
