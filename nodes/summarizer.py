"""The Summarizer: compacts the researcher's history before it outgrows a token budget. The ledger, hypotheses and
best design live in the state, untouched; old messages are replaced by a running summary the researcher is shown."""

from __future__ import annotations

from langchain_core.messages import HumanMessage, RemoveMessage, SystemMessage
from langgraph.runtime import Runtime

from glia.state import GliaContext, GliaState

from . import prompts
from .common import text_of
from .llm import call_model
from .progress import compaction_cut, own_ledger


def state_digest(state: GliaState) -> str:
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


def _compacted(state: GliaState, summary: str, cut: int) -> GliaState:
    msgs = state.get("researcher_messages", [])
    return {"summary": summary, "researcher_messages": [RemoveMessage(id=m.id) for m in msgs[:cut]]}


def offline_summarizer(state: GliaState, runtime: Runtime[GliaContext]) -> GliaState:
    msgs = state.get("researcher_messages", [])
    cut = compaction_cut(msgs, runtime.context.settings.keep_recent_messages)
    summary = (f"Summary of {cut} earlier messages (heuristic summarizer):\n{state_digest(state)}\n"
               f"Earlier conversation, in brief:\n{text_of(msgs[:cut], limit=8)}")
    return _compacted(state, summary, cut)


def llm_summarizer(state: GliaState, runtime: Runtime[GliaContext]) -> GliaState:
    ctx = runtime.context
    msgs = state.get("researcher_messages", [])
    cut = compaction_cut(msgs, ctx.settings.keep_recent_messages)
    usage: dict = {}
    request = (f"Previous summary:\n{state.get('summary') or '(none)'}\n\nState that must be kept:\n"
               f"{state_digest(state)}\n\nMessages to compact:\n{text_of(msgs[:cut], limit=cut)}")
    reply = call_model(ctx.model("summarizer"), [SystemMessage(content=prompts.SUMMARIZER_SYSTEM),
                                                 HumanMessage(content=request)], ctx.settings, usage, "summarizer")
    summary = f"{str(reply.content).strip()}\n\n{state_digest(state)}"
    return {**_compacted(state, summary, cut), "usage": usage}
