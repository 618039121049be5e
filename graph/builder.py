"""The Glia graph, as builders: callers compile them with their own checkpointer and interrupts.

One design context, every transition (the routing predicates are in ``nodes/progress.py``):

    setup       -> researcher
    researcher  -> tools           it asked for an experiment (tool calls)
                -> supervisor      it is done (proposes a design, or its budget is used)
                -> researcher      it gave nothing usable: asked again (summarizer first if its history is too long)
    tools       -> analyst         experiments were recorded
                -> researcher      (summarizer first if needed)
    analyst     -> supervisor      a milestone (stagnation, a budget mark)
                -> researcher      (summarizer first if needed)
    supervisor  -> finalize        approved, or stopped (the budget is used and no design met the constraint)
                -> researcher      any other decision (summarizer first if needed)
    summarizer  -> researcher
    finalize    -> END (a context graph), collect (the flat one-context run)

The run: baselines -> N contexts (in parallel with ``Send``, or one after another while budget is left) -> collect
(the best design across contexts, the report, the transcript). One context runs as a flat graph, so that every
step is a top-level checkpoint to step, resume or fork.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Literal, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import Send

from glia.nodes.llm.client import WallClockUsed, model_deadline
from glia.nodes.progress import charged_entries, milestone, needs_summary
from glia.nodes.registry import IMPLEMENTATIONS, choose_implementations
from glia.nodes.roles import ROLES
from glia.nodes.steps import collect, finalize_context, measure_baselines, run_tools, setup_context
from glia.simulator.harness import interrupt
from glia.state import (
    BestDesign,
    ContextOutcome,
    Finding,
    GliaContext,
    GliaState,
    Hypothesis,
    Intervention,
    LedgerEntry,
)
from glia.state.schema import merge_by_id

ToResearcher = Literal["researcher", "summarizer"]


def to_researcher(state: GliaState, runtime: Runtime[GliaContext]) -> ToResearcher:
    """Back to the researcher, through the summarizer when its history has outgrown its budget."""
    return "summarizer" if needs_summary(state, runtime.context.settings) else "researcher"


def after_researcher(state: GliaState, runtime: Runtime[GliaContext]) -> Literal["tools", "supervisor",
                                                                                  "researcher", "summarizer"]:
    phase = state.get("phase")
    if phase == "experiment":
        return "tools"
    if phase == "done":
        return "supervisor"
    return to_researcher(state, runtime)


def after_tools(state: GliaState, runtime: Runtime[GliaContext]) -> Literal["analyst", "researcher", "summarizer"]:
    return "analyst" if state.get("phase") == "analyse" else to_researcher(state, runtime)


def after_analyst(state: GliaState, runtime: Runtime[GliaContext]) -> Literal["supervisor", "researcher",
                                                                               "summarizer"]:
    return "supervisor" if milestone(state, runtime.context.settings.stagnation_window) else \
        to_researcher(state, runtime)


def after_supervisor(state: GliaState, runtime: Runtime[GliaContext]) -> Literal["finalize", "researcher",
                                                                                  "summarizer"]:
    return "finalize" if state.get("phase") in ("approve", "stop") else to_researcher(state, runtime)


def _agent(role: str, name: str) -> Callable:
    """A role's chosen implementation as a node that also records which implementation ran. Its model calls wait no
    longer than the run's wall-clock budget: when it passes during one, the call is abandoned and the step is
    answered without a model, by the implementation again (a researcher checks its budget before asking) or else by
    the role's offline implementation (the heuristic supervisor approves the best design measured, the heuristic
    analyst's findings are SQL on the telemetry); the run then ends as any run whose budget is used."""
    fn = IMPLEMENTATIONS[role][name]

    def node(state: GliaState, runtime: Runtime[GliaContext]) -> GliaState:
        interrupt.check()
        budget = state.get("budget") or {}
        said = False
        for impl in (fn, fn, IMPLEMENTATIONS[role]["offline"]):
            try:
                with model_deadline(state.get("started_at"), budget.get("wall_clock_s")):
                    return {**impl(state, runtime), "implementations": {role: name}}
            except WallClockUsed as exc:
                if exc.waited and not said:
                    said = True
                    runtime.stream_writer({"event": "wall_clock", "context": state.get("context_id"),
                                           "role": role, "text": str(exc)})
        raise AssertionError(f"the offline {role} waited on a model")

    node.__name__ = node.__qualname__ = f"{name}_{role}"
    node.__doc__ = fn.__doc__
    return node


def _stoppable(fn: Callable) -> Callable:
    """A harness node that does not start once the user stopped the run (the step then runs on resume)."""

    def node(state: GliaState, runtime: Runtime[GliaContext]) -> GliaState:
        interrupt.check()
        return fn(state, runtime)

    node.__name__ = node.__qualname__ = fn.__name__
    node.__doc__ = fn.__doc__
    return node


def _add_context(g: StateGraph, implementations: dict[str, str] | None) -> None:
    impl = choose_implementations(implementations)
    g.add_node("setup", _stoppable(setup_context))
    for role in ROLES:
        g.add_node(role, _agent(role, impl[role]))
    g.add_node("tools", _stoppable(run_tools))
    g.add_node("finalize", _stoppable(finalize_context))
    g.add_edge("setup", "researcher")
    g.add_conditional_edges("researcher", after_researcher, ["tools", "supervisor", "researcher", "summarizer"])
    g.add_conditional_edges("tools", after_tools, ["analyst", "researcher", "summarizer"])
    g.add_conditional_edges("analyst", after_analyst, ["supervisor", "researcher", "summarizer"])
    g.add_conditional_edges("supervisor", after_supervisor, ["finalize", "researcher", "summarizer"])
    g.add_edge("summarizer", "researcher")


class ContextOutput(TypedDict, total=False):
    """What a context hands back to the run (its messages stay in its own checkpoint namespace and transcript)."""

    ledger: Annotated[list[LedgerEntry], merge_by_id]
    hypotheses: Annotated[list[Hypothesis], merge_by_id]
    findings: Annotated[list[Finding], merge_by_id]
    interventions: Annotated[list[Intervention], merge_by_id]
    contexts: Annotated[list[ContextOutcome], merge_by_id]
    usage: dict
    best: BestDesign | None


def context_builder(implementations: dict[str, str] | None = None) -> StateGraph:
    """One design context, with the chosen implementation of each role (default: offline)."""
    g = StateGraph(GliaState, context_schema=GliaContext, output_schema=ContextOutput)
    _add_context(g, implementations)
    g.add_edge(START, "setup")
    g.add_edge("finalize", END)
    return g


def _context_input(state: GliaState, index: int, budget_sims: int) -> GliaState:
    cid = f"c{index + 1}"
    return {"task": state["task"], "thread_id": state["thread_id"], "context_id": cid, "run_dir": state["run_dir"],
            "workspace": f"{state['run_dir']}/contexts/{cid}",
            "budget": {**state["budget"], "simulations": budget_sims}, "started_at": state.get("started_at"),
            "ledger": [], "implementations": {}}


def build_graph(implementations: dict[str, str] | None = None, contexts: int = 1, mode: str = "parallel",
                prepare: Callable | None = None, input_schema: type | None = None) -> StateGraph:
    """The whole run: baselines, ``contexts`` design contexts (``parallel`` or ``sequential``), collect.
    ``prepare`` (with its ``input_schema``) turns another input into the run's initial state first."""
    if contexts < 1:
        raise ValueError(f"contexts must be >= 1, got {contexts}")
    if mode not in ("parallel", "sequential"):
        raise ValueError(f"mode must be 'parallel' or 'sequential', got {mode!r}")
    g = StateGraph(GliaState, context_schema=GliaContext, input_schema=input_schema)
    g.add_node("baselines", _stoppable(measure_baselines))
    g.add_node("collect", _stoppable(collect))
    if prepare is not None:
        g.add_node("prepare", prepare)
        g.add_edge(START, "prepare")
        g.add_edge("prepare", "baselines")
    else:
        g.add_edge(START, "baselines")
    g.add_edge("collect", END)
    if contexts == 1:
        _add_context(g, implementations)
        g.add_edge("baselines", "setup")
        g.add_edge("finalize", "collect")
        return g
    g.add_node("context", context_builder(implementations).compile())
    if mode == "parallel":
        def fan_out(state: GliaState) -> list[Send]:
            total = state["budget"]["simulations"]
            shares = [total // contexts + (1 if i < total % contexts else 0) for i in range(contexts)]
            return [Send("context", _context_input(state, i, s)) for i, s in enumerate(shares) if s > 0]

        g.add_conditional_edges("baselines", fan_out, ["context"])
        g.add_edge("context", "collect")
    else:
        def next_context(state: GliaState) -> Send | str:
            done = len(state.get("contexts", []))
            left = state["budget"]["simulations"] - len(charged_entries(state.get("ledger", [])))
            if left <= 0 or done >= contexts:
                return "collect"
            return Send("context", _context_input(state, done, left // (contexts - done) or left))

        g.add_conditional_edges("baselines", next_context, ["context", "collect"])
        g.add_conditional_edges("context", next_context, ["context", "collect"])
    return g
