"""The Glia graph, as a builder: callers compile it with their own checkpointer and interrupts.

One design context: setup -> researcher <-> tools; the analyst after experiments; the supervisor at milestones
(stagnation, the researcher wanting to stop, budget marks); the summarizer under context pressure; finalize on
approval or budget. The run: baselines -> N contexts (in parallel with ``Send``, or one after another while budget
is left) -> collect (the best design across contexts, the report, the transcript).
"""

from __future__ import annotations

from typing import Annotated, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.types import Send

from glia.nodes.common import GliaContext
from glia.nodes.registry import IMPLEMENTATIONS, resolve
from glia.state import GliaState
from glia.state.schema import merge_by_id

from .steps import baselines, collect, finalize_context, setup_context, tools_node


class ContextOutput(TypedDict, total=False):
    """What a context hands back to the run (its messages stay in its own checkpoint namespace and transcript)."""

    ledger: Annotated[list[dict], merge_by_id]
    hypotheses: Annotated[list[dict], merge_by_id]
    findings: Annotated[list[dict], merge_by_id]
    interventions: Annotated[list[dict], merge_by_id]
    contexts: Annotated[list[dict], merge_by_id]
    usage: dict
    best: dict | None


def _add_context_nodes(g: StateGraph, implementations: dict[str, str] | None) -> None:
    impl = resolve(implementations)
    g.add_node("setup", setup_context)
    g.add_node("researcher", IMPLEMENTATIONS["researcher"][impl["researcher"]])
    g.add_node("tools", tools_node)
    g.add_node("analyst", IMPLEMENTATIONS["analyst"][impl["analyst"]])
    g.add_node("supervisor", IMPLEMENTATIONS["supervisor"][impl["supervisor"]])
    g.add_node("summarizer", IMPLEMENTATIONS["summarizer"][impl["summarizer"]])
    g.add_node("finalize", finalize_context)
    g.add_edge("setup", "researcher")


def context_builder(implementations: dict[str, str] | None = None) -> StateGraph:
    """One design context, with the chosen implementation of each role (default: offline)."""
    g = StateGraph(GliaState, context_schema=GliaContext, output_schema=ContextOutput)
    _add_context_nodes(g, implementations)
    g.add_edge(START, "setup")
    g.add_edge("finalize", END)
    return g


def _context_input(state: dict, index: int, budget_sims: int) -> dict:
    cid = f"c{index + 1}"
    return {"task": state["task"], "thread_id": state["thread_id"], "context_id": cid, "run_dir": state["run_dir"],
            "workspace": f"{state['run_dir']}/contexts/{cid}",
            "budget": {**state["budget"], "simulations": budget_sims}, "started_at": state.get("started_at"),
            "ledger": [], "implementations": {}}


def build_graph(implementations: dict[str, str] | None = None, contexts: int = 1,
                mode: str = "parallel") -> StateGraph:
    """The whole run: baselines, ``contexts`` design contexts (``parallel`` or ``sequential``), collect."""
    if contexts < 1:
        raise ValueError(f"contexts must be >= 1, got {contexts}")
    if mode not in ("parallel", "sequential"):
        raise ValueError(f"mode must be 'parallel' or 'sequential', got {mode!r}")
    g = StateGraph(GliaState, context_schema=GliaContext)
    if contexts == 1:  # one context: a flat graph, so every step is a top-level checkpoint to step, resume or fork
        g.add_node("baselines", baselines)
        _add_context_nodes(g, implementations)
        g.add_node("collect", collect)
        g.add_edge(START, "baselines")
        g.add_edge("baselines", "setup")
        g.add_edge("finalize", "collect")
        g.add_edge("collect", END)
        return g
    inner = context_builder(implementations).compile()
    g.add_node("baselines", baselines)
    g.add_node("context", inner)
    g.add_node("collect", collect)
    g.add_edge(START, "baselines")

    def used(state: dict) -> int:
        return len(state.get("ledger", []))

    if mode == "parallel":
        def fan_out(state: dict):
            total = state["budget"]["simulations"]
            shares = [total // contexts + (1 if i < total % contexts else 0) for i in range(contexts)]
            return [Send("context", _context_input(state, i, s)) for i, s in enumerate(shares) if s > 0]

        g.add_conditional_edges("baselines", fan_out, ["context"])
        g.add_edge("context", "collect")
    else:
        def next_context(state: dict):
            done = len(state.get("contexts", []))
            left = state["budget"]["simulations"] - used(state)
            if left <= 0 or done >= contexts:
                return "collect"
            return Send("context", _context_input(state, done, left // (contexts - done) or left))

        g.add_conditional_edges("baselines", next_context, ["context", "collect"])
        g.add_conditional_edges("context", next_context, ["context", "collect"])
    g.add_edge("collect", END)
    return g
