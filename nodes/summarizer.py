"""The Summarizer: compacts the researcher's history before it outgrows a token budget. The ledger, hypotheses and
best design live in the state, untouched; old messages are replaced by a running summary the researcher is shown.

What it is given is everything up to the cut, whole: each message with its code replaced by a note (every version
that ran is in experiments/), tool results by whole lines; nothing is cut inside a sentence. Paths are the ones the
researcher can open (relative to its workspace)."""

from __future__ import annotations

from pathlib import Path

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, RemoveMessage, SystemMessage, ToolMessage
from langgraph.runtime import Runtime

from glia.nodes import prompts
from glia.nodes.common import CODE, text_of
from glia.nodes.llm.client import call_model
from glia.nodes.progress import compaction_cut, own_ledger
from glia.state import GliaContext, GliaState

RESULT_LINES = 12  # lines of a tool result (a query's table) kept in the summarizer's input


def workspace_path(state: GliaState, path: str) -> str:
    """``path`` as the researcher's tools take it: relative to its workspace."""
    try:
        return str(Path(path).resolve().relative_to(Path(state["workspace"]).resolve()))
    except (ValueError, KeyError):
        return str(path)


def state_digest(state: GliaState) -> str:
    """What must survive any compaction: the ledger, open hypotheses, the best design, instructions."""
    metric = state["task"]["objective"]["metric"]
    best = state.get("best")
    lines = ["Experiments so far:", prompts.ledger_table(own_ledger(state), metric, best)]
    hyps = [h for h in state.get("hypotheses", []) if h.get("context") == state.get("context_id")]
    if hyps:
        lines.append("Hypotheses: " + "; ".join(f"{h['id']} [{h['status']}] {h['statement']}" for h in hyps))
    if best:
        lines.append(f"Best design: {best['id']} ({best.get('label', '')}), {metric} {best['value']:.3f}, "
                     f"file {best.get('file') or workspace_path(state, best['snapshot'])} (read_file can open it)")
    sup = [i for i in state.get("interventions", []) if i.get("context") == state.get("context_id")]
    if sup:
        lines.append(f"Latest supervisor instruction: {sup[-1]['text']}")
    return "\n".join(lines)


def transcript(messages: list[AnyMessage]) -> str:
    """Messages as the summarizer reads them: whole, code replaced by a note, each tool call named with its short
    arguments, each tool result in its first ``RESULT_LINES`` lines."""
    lines = []
    for m in messages:
        who = getattr(m, "name", None) or m.type
        if isinstance(m, ToolMessage):
            rows = str(m.content).splitlines()
            more = f"\n  ({len(rows) - RESULT_LINES} more lines)" if len(rows) > RESULT_LINES else ""
            lines.append(f"result of {m.name or 'a tool'}: " + "\n  ".join(rows[:RESULT_LINES]) + more)
            continue
        content = CODE.sub(lambda c: f"(code, {c.group(0).count(chr(10))} lines)", str(m.content)).strip()
        if isinstance(m, AIMessage) and m.tool_calls:
            calls = ", ".join(_call(tc) for tc in m.tool_calls)
            content = (content + f" (called: {calls})").strip()
        if content:
            lines.append(f"{who}: {content}")
    return "\n".join(lines)


def _call(tc: dict) -> str:
    args = tc.get("args") or {}
    if tc["name"] in ("write_file", "patch_file"):
        return f"{tc['name']} {args.get('path', '')}"
    shown = ", ".join(f"{k}={str(v)[:160]!r}" for k, v in args.items() if str(v).strip())
    return f"{tc['name']}({shown})"


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
               f"{state_digest(state)}\n\nMessages to compact (all of them, up to the most recent "
               f"{len(msgs) - cut}, which the researcher keeps):\n{transcript(msgs[:cut])}")
    reply = call_model(ctx.model("summarizer"), [SystemMessage(content=prompts.SUMMARIZER_SYSTEM),
                                                 HumanMessage(content=request)], ctx.settings, usage, "summarizer")
    summary = f"{str(reply.content).strip()}\n\n{state_digest(state)}"
    return {**_compacted(state, summary, cut), "usage": usage}
