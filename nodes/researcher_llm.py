"""The LLM Researcher: a chat model with the tools bound, following the research protocol."""

from __future__ import annotations

from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langgraph.runtime import Runtime

from glia.state import GliaContext, GliaState
from glia.tools.toolkit import RESEARCHER_TOOLS, langchain_tools

from . import prompts
from .llm import call_model
from .progress import budget_exhausted, own_ledger, sims_left

MAX_NUDGES = 3


def _conversation(state: GliaState) -> list:
    task = state["task"]
    head = [SystemMessage(content=prompts.RESEARCHER_SYSTEM),
            HumanMessage(content=prompts.task_brief(task) + f"\nSimulations left: {sims_left(state)}.")]
    if state.get("summary"):
        head.append(HumanMessage(content=f"Summary of the earlier conversation:\n{state['summary']}"))
    return head + list(state.get("researcher_messages", []))


def llm_researcher(state: GliaState, runtime: Runtime[GliaContext]) -> GliaState:
    ctx = runtime.context
    stop = budget_exhausted(state)
    if stop:
        msg = AIMessage(content=f"Budget reached ({stop}); proposing the best design so far.", name="researcher")
        return {"researcher_messages": [msg], "phase": "done"}
    usage: dict = {}
    model = ctx.model("researcher").bind_tools(langchain_tools(RESEARCHER_TOOLS))
    reply = call_model(model, _conversation(state), ctx.settings, usage, "researcher")
    reply.name = "researcher"
    calls = reply.tool_calls or []
    finish = [tc for tc in calls if tc["name"] == "finish"]
    if finish:
        summary = str(finish[0].get("args", {}).get("summary", "")).strip()
        note = AIMessage(content=f"Proposal: {summary}" if summary else "I propose the best design so far.",
                         name="researcher")
        # a finish call is answered here, so the conversation stays well formed
        acks = [ToolMessage(content="noted: the supervisor will review", tool_call_id=tc["id"]) for tc in calls]
        return {"researcher_messages": [reply, *acks, note], "usage": usage, "phase": "done"}
    if calls:
        return {"researcher_messages": [reply], "usage": usage, "phase": "experiment"}
    nudges = sum(1 for m in state.get("researcher_messages", [])[-2 * MAX_NUDGES:]
                 if getattr(m, "name", None) == "harness")
    if nudges >= MAX_NUDGES or (own_ledger(state) and "finish" in str(reply.content).lower()):
        return {"researcher_messages": [reply], "usage": usage, "phase": "done"}
    nudge = HumanMessage(content="[harness] Your reply had no tool call. Use a tool (run_simulation, write_file, "
                                 "query_telemetry, ...) or call finish with your proposal.", name="harness")
    return {"researcher_messages": [reply, nudge], "usage": usage, "phase": "nudged"}
