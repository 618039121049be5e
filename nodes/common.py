"""What the agent nodes share: their tools' context and how agents' words reach each other."""

from __future__ import annotations

import re
from pathlib import Path

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, ToolMessage

from glia.state import GliaContext, GliaState
from glia.tools.toolkit import ToolContext


def tool_context(state: GliaState, ctx: GliaContext) -> ToolContext:
    return ToolContext(Path(state["workspace"]), Path(ctx.db), state["task"], state["context_id"],
                       state.get("thread_id", ""))


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
            lines.append(f"{getattr(m, 'name', None) or m.type}: {content[:600]}")
    return "\n".join(lines)
