"""Where a design context stands: its experiments, its budget, its milestones and the pressure on the researcher's
context window. These are the facts the graph routes on (``graph/builder.py``) and the nodes act on."""

from __future__ import annotations

import time

from langchain_core.messages import AnyMessage, ToolMessage

from glia.state import AgentSettings, GliaState, LedgerEntry, improves

BUDGET_MARKS = (0.5,)  # shares of the simulation budget at which the supervisor looks in


def own_ledger(state: GliaState) -> list[LedgerEntry]:
    """This context's experiments, in order."""
    cid = state.get("context_id")
    return sorted((e for e in state.get("ledger", []) if e.get("context") == cid), key=lambda e: e["seq"])


def charged_entries(ledger: list[LedgerEntry]) -> list[LedgerEntry]:
    """The experiments charged to the budget: all but a program task's unchanged starter, answered by its baseline
    measurement (``baseline``: read back, not run again)."""
    return [e for e in ledger if not e.get("baseline")]


def sims_left(state: GliaState) -> int:
    return state.get("budget", {}).get("simulations", 0) - len(charged_entries(own_ledger(state)))


def budget_exhausted(state: GliaState) -> str | None:
    """Why this context must stop, or None."""
    b = state.get("budget", {})
    usage = state.get("usage", {})
    if sims_left(state) <= 0:
        program = (state.get("task") or {}).get("design", {}).get("layer") == "program"
        return f"{'evaluation' if program else 'simulation'} budget used"
    if usage.get("usd", 0.0) >= b.get("usd", float("inf")):
        return "USD budget used"
    if b.get("tokens") and usage.get("tokens", 0) >= b["tokens"]:
        return "token budget used"
    if time.time() - state.get("started_at", time.time()) >= b.get("wall_clock_s", float("inf")):
        return "wall-clock budget used"
    return None


def stagnant(ledger: list[LedgerEntry], window: int) -> bool:
    """The last ``window`` experiments brought no improvement over the best before them."""
    if len(ledger) <= window:
        return False
    best_before = min((e["score"] for e in ledger[:-window]), default=float("inf"))
    return not any(improves(e["score"], best_before, 0.99) for e in ledger[-window:])


def marks_crossed(state: GliaState) -> list[float]:
    """Budget marks passed that the supervisor has not answered yet."""
    total = state.get("budget", {}).get("simulations", 0)
    used = len(charged_entries(own_ledger(state)))
    seen = {i.get("mark") for i in state.get("interventions", []) if i.get("context") == state.get("context_id")}
    return [m for m in BUDGET_MARKS if total and used >= m * total and m not in seen]


def milestone(state: GliaState, window: int = 3) -> str | None:
    """Why the supervisor should look now (stagnation not yet answered, a budget mark), or None."""
    ledger = own_ledger(state)
    n = len(ledger)
    mine = [i for i in state.get("interventions", []) if i.get("context") == state.get("context_id")]
    if stagnant(ledger, window) and not any(i["reason"] == "stagnation" and i["after_count"] > n - window
                                            for i in mine):
        return "stagnation"
    if marks_crossed(state):
        return "budget mark"
    return None


def consult_reason(state: GliaState, window: int = 3) -> str:
    """Why the supervisor is consulted: the researcher wants to stop, or a milestone."""
    if state.get("phase") == "done":
        return "researcher done"
    return milestone(state, window) or "check-in"


def sent_back_with_nothing_new(state: GliaState) -> bool:
    """The researcher wants to stop again, was sent back the last time it did, and has run nothing since."""
    if state.get("phase") != "done":
        return False
    mine = [i for i in state.get("interventions", []) if i.get("context") == state.get("context_id")]
    return bool(mine) and mine[-1]["reason"] == "researcher done" and mine[-1]["after_count"] == len(own_ledger(state))


def estimate_tokens(messages: list[AnyMessage]) -> int:
    """About four characters a token."""
    total = 0
    for m in messages:
        total += len(str(m.content)) // 4 + 4
        for tc in getattr(m, "tool_calls", None) or []:
            total += len(str(tc.get("args", ""))) // 4 + 4
    return total


def compaction_cut(messages: list[AnyMessage], keep: int) -> int:
    """Index from which messages are kept by a compaction: never starting on a tool result (it must follow its
    call)."""
    cut = max(0, len(messages) - keep)
    while cut > 0 and isinstance(messages[cut], ToolMessage):
        cut -= 1
    return cut


def needs_summary(state: GliaState, settings: AgentSettings) -> bool:
    """Over the token budget, with older messages left to compact (the recent ones are always kept)."""
    msgs = state.get("researcher_messages", [])
    return (estimate_tokens(msgs) > settings.summary_token_limit
            and compaction_cut(msgs, settings.keep_recent_messages) > 0)
