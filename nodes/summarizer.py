"""The Summarizer: compacts the researcher's history before it outgrows a token budget. The ledger, hypotheses and
best design live in the state, untouched; old messages are replaced by a running summary the researcher is shown."""

from __future__ import annotations

from typing import Literal

from langchain_core.messages import HumanMessage, RemoveMessage, SystemMessage, ToolMessage
from langgraph.runtime import Runtime
from langgraph.types import Command

from . import prompts
from .common import GliaContext, estimate_tokens, own_ledger, text_of
from .llm import call_model


def needs_summary(state: dict, ctx: GliaContext) -> bool:
    """Over the token budget, with older messages left to compact (the recent ones are always kept)."""
    msgs = state.get("researcher_messages", [])
    return estimate_tokens(msgs) > ctx.summary_token_limit and _cut(msgs, ctx.keep_recent_messages) > 0


def _cut(messages: list, keep: int) -> int:
    """Index from which messages are kept: never starting on a tool result (it must follow its call)."""
    cut = max(0, len(messages) - keep)
    while cut > 0 and isinstance(messages[cut], ToolMessage):
        cut -= 1
    return cut


def state_digest(state: dict) -> str:
    """What must survive any compaction: the ledger, open hypotheses, the best design, instructions."""
    metric = state["task"]["objective"]["metric"]
    lines = ["Experiments so far:", prompts.ledger_table(own_ledger(state), metric)]
    hyps = [h for h in state.get("hypotheses", []) if h.get("context") == state.get("context_id")]
    if hyps:
        lines.append("Hypotheses: " + "; ".join(f"{h['id']} [{h['status']}] {h['statement']}" for h in hyps))
    best = state.get("best")
    if best:
        lines.append(f"Best design: {best['id']} ({best.get('label', '')}), {metric} {best['value']:.3f}, "
                     f"file {best['snapshot']}")
    sup = [i for i in state.get("interventions", []) if i.get("context") == state.get("context_id")]
    if sup:
        lines.append(f"Latest supervisor instruction: {sup[-1]['text']}")
    return "\n".join(lines)


def _finish(state: dict, summary: str, impl: str, extra: dict, cut: int) -> Command:
    msgs = state.get("researcher_messages", [])
    return Command(goto="researcher", update={
        "summary": summary, "researcher_messages": [RemoveMessage(id=m.id) for m in msgs[:cut]],
        "implementations": {**state.get("implementations", {}), "summarizer": impl}, **extra})


def offline_summarizer(state: dict, runtime: Runtime[GliaContext]) -> Command[Literal["researcher"]]:
    msgs = state.get("researcher_messages", [])
    cut = _cut(msgs, runtime.context.keep_recent_messages)
    summary = (f"Summary of {cut} earlier messages (heuristic summarizer):\n{state_digest(state)}\n"
               f"Earlier conversation, in brief:\n{text_of(msgs[:cut], limit=8)}")
    return _finish(state, summary, "offline", {}, cut)


def llm_summarizer(state: dict, runtime: Runtime[GliaContext]) -> Command[Literal["researcher"]]:
    ctx = runtime.context
    msgs = state.get("researcher_messages", [])
    cut = _cut(msgs, ctx.keep_recent_messages)
    usage: dict = {}
    request = (f"Previous summary:\n{state.get('summary') or '(none)'}\n\nState that must be kept:\n"
               f"{state_digest(state)}\n\nMessages to compact:\n{text_of(msgs[:cut], limit=cut)}")
    reply = call_model(ctx.model("summarizer"), [SystemMessage(content=prompts.SUMMARIZER_SYSTEM),
                                                 HumanMessage(content=request)], ctx, usage, "summarizer")
    summary = f"{str(reply.content).strip()}\n\n{state_digest(state)}"
    return _finish(state, summary, "llm", {"usage": usage}, cut)
