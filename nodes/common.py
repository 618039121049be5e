"""What every node shares: the run-time context, budget arithmetic, message helpers."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, ToolMessage

from glia.tools.toolkit import ToolContext


@dataclass
class GliaContext:
    """Run-time settings, passed by the caller on every invoke (not checkpointed).

    ``models`` maps a role to a chat model (or a zero-argument factory of one); roles without a model run their
    offline implementation when the graph was built with it."""

    db: str
    models: dict[str, Any] = field(default_factory=dict)
    summary_token_limit: int = 6000
    keep_recent_messages: int = 6
    stagnation_window: int = 3
    max_retries: int = 4
    retry_base_s: float = 1.0

    def model(self, role: str):
        m = self.models.get(role)
        return m() if callable(m) and not hasattr(m, "invoke") else m


def tool_context(state: dict, ctx: GliaContext) -> ToolContext:
    return ToolContext(Path(state["workspace"]), Path(ctx.db), state["task"], state["context_id"])


def sims_used(state: dict) -> int:
    cid = state.get("context_id")
    return sum(1 for e in state.get("ledger", []) if e.get("context") == cid)


def sims_left(state: dict) -> int:
    return state.get("budget", {}).get("simulations", 0) - sims_used(state)


def budget_exhausted(state: dict) -> str | None:
    """Why this context must stop, or None."""
    b = state.get("budget", {})
    usage = state.get("usage", {})
    if sims_left(state) <= 0:
        return "simulation budget used"
    if usage.get("usd", 0.0) >= b.get("usd", float("inf")):
        return "USD budget used"
    if b.get("tokens") and usage.get("tokens", 0) >= b["tokens"]:
        return "token budget used"
    if time.time() - state.get("started_at", time.time()) >= b.get("wall_clock_s", float("inf")):
        return "wall-clock budget used"
    return None


def own_ledger(state: dict) -> list[dict]:
    cid = state.get("context_id")
    return sorted((e for e in state.get("ledger", []) if e.get("context") == cid), key=lambda e: e["seq"])


def estimate_tokens(messages: list[AnyMessage]) -> int:
    """About four characters a token."""
    total = 0
    for m in messages:
        total += len(str(m.content)) // 4 + 4
        for tc in getattr(m, "tool_calls", None) or []:
            total += len(str(tc.get("args", ""))) // 4 + 4
    return total


def from_agent(role: str, text: str) -> HumanMessage:
    """A message from another agent, as the researcher sees it."""
    return HumanMessage(content=f"[{role}] {text}", name=role)


def text_of(messages: list[AnyMessage], limit: int = 12) -> str:
    """The readable part of recent messages: no code, no tool arguments (what the supervisor may see)."""
    lines = []
    for m in messages[-limit:]:
        if isinstance(m, ToolMessage):
            continue
        content = str(m.content).strip()
        if isinstance(m, AIMessage) and m.tool_calls:
            names = ", ".join(tc["name"] for tc in m.tool_calls)
            content = (content + f" (called: {names})").strip()
        if content:
            lines.append(f"{getattr(m, 'name', None) or m.type}: {content[:600]}")
    return "\n".join(lines)
