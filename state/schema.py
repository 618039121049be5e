"""The graph state: per-agent messages, the experiment ledger, hypotheses, findings, interventions, the running
summary, budgets, the best design and the stop reason.

List fields merge by ``id`` (a later record with the same id replaces the earlier one), so parallel contexts and
re-executed steps merge cleanly; budgets and usage add up; the best design is the better of the two.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypedDict

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages

from glia.state.records import (
    Baseline,
    BestDesign,
    ContextOutcome,
    Decision,
    Finding,
    Hypothesis,
    Intervention,
    LedgerEntry,
)
from glia.state.tasks.task import Task


def merge_by_id(left: list | None, right: list | None) -> list:
    """Union of records keyed by ``id``; a record in ``right`` replaces the one with the same id in ``left``."""
    out = {r["id"]: r for r in (left or [])}
    for r in right or []:
        out[r["id"]] = {**out.get(r["id"], {}), **r}
    return list(out.values())


def add_usage(left: dict | None, right: dict | None) -> dict:
    """Counters add up (tokens, USD, calls, per role)."""
    out = dict(left or {})
    for k, v in (right or {}).items():
        if isinstance(v, dict):
            out[k] = add_usage(out.get(k), v)
        else:
            out[k] = out.get(k, 0) + v
    return out


def merge_dicts(left: dict | None, right: dict | None) -> dict:
    """Keys of ``right`` replace those of ``left`` (e.g. role -> the implementation that ran last)."""
    return {**(left or {}), **(right or {})}


def better_design(left: BestDesign | None, right: BestDesign | None) -> BestDesign | None:
    """Keep the design with the better objective score (lower is better: scores are stored minimised)."""
    if not left:
        return right
    if not right:
        return left
    return right if right.get("score", float("inf")) < left.get("score", float("inf")) else left


def last_value(left: Any, right: Any) -> Any:
    return right if right is not None else left


class Budget(TypedDict, total=False):
    simulations: int      # the researcher's simulations allowed in this context
    usd: float
    wall_clock_s: float
    tokens: int | None


# What the last node handed over, which the graph routes on (graph/builder.py): the researcher asked for an
# ``experiment`` (tool calls), is ``done``, or gave nothing usable (``nudged``: ask again); the tools node recorded
# experiments (``analyse``); the supervisor's decision otherwise (``stop``: nothing feasible to approve, budget used).
Phase = Literal["experiment", "done", "nudged", "analyse", Decision]


class GliaState(TypedDict, total=False):
    """State of one design context (and, merged, of a multi-context run)."""

    task: Task                                                   # the task, as loaded from its TOML
    thread_id: str                                               # the run (checkpoint thread) id
    context_id: str
    run_dir: str                                                 # the run's directory
    workspace: str                                               # the context's directory (its files)
    researcher_messages: Annotated[list[AnyMessage], add_messages]
    analyst_messages: Annotated[list[AnyMessage], add_messages]
    supervisor_messages: Annotated[list[AnyMessage], add_messages]
    ledger: Annotated[list[LedgerEntry], merge_by_id]            # experiments
    baselines: Annotated[list[Baseline], merge_by_id]            # the task's baselines, measured by the harness
    hypotheses: Annotated[list[Hypothesis], merge_by_id]
    findings: Annotated[list[Finding], merge_by_id]
    interventions: Annotated[list[Intervention], merge_by_id]
    summary: Annotated[str, last_value]                          # the running summary of compacted history
    budget: Annotated[Budget, last_value]
    usage: Annotated[dict, add_usage]                            # tokens, usd, model calls, per role
    started_at: Annotated[float, last_value]
    best: Annotated[BestDesign | None, better_design]
    phase: Annotated[Phase, last_value]
    stop_reason: Annotated[str | None, last_value]
    implementations: Annotated[dict[str, str], merge_dicts]     # role -> implementation that ran
    facts: Annotated[dict[str, str], merge_dicts]               # how the run ran (models, modes), for the report
    contexts: Annotated[list[ContextOutcome], merge_by_id]       # multi-context: each context's outcome
    heldout: Annotated[dict, merge_dicts]                        # design -> its re-measurement after the search
