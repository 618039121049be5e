"""The run graph for LangGraph's own dev server and Studio (``pip install 'glia[studio]'``, then ``langgraph dev``
beside ``langgraph.json``): the graph ``glia run`` runs, after a ``prepare`` step that turns a small input (a task
and a budget) into a run in the workspace of the context's telemetry database (``db``, default
``glia-workspace/telemetry.duckdb``). Studio runs use the offline implementations unless the assistant's
configuration names others (``implementations``: role -> name) and its context supplies models."""

from __future__ import annotations

from pathlib import Path
from typing import TypedDict

from langchain_core.runnables import RunnableConfig
from langgraph.graph import StateGraph
from langgraph.runtime import Runtime

from glia.graph.builder import build_graph
from glia.graph.config import RunConfig
from glia.graph.runs import prepare_run
from glia.state import GliaContext, GliaState


class StudioInput(TypedDict, total=False):
    task: str                 # a built-in task name or a task file (default: routing)
    budget_sims: int          # simulations the researcher may run (default: the task's)


def prepare(state: StudioInput, config: RunnableConfig, runtime: Runtime[GliaContext]) -> GliaState:
    """A new run named after the dev server's thread, offline unless configured otherwise."""
    conf = config.get("configurable", {})
    run = RunConfig.build(state.get("task", "routing"), budget_sims=state.get("budget_sims"),
                          implementations=conf.get("implementations"), llm=bool(conf.get("implementations")),
                          workspace=Path(runtime.context.db).parent, thread_id=conf.get("thread_id"))
    return prepare_run(run)


def make_graph(config: RunnableConfig) -> StateGraph:
    return build_graph(config.get("configurable", {}).get("implementations"), prepare=prepare,
                       input_schema=StudioInput)
