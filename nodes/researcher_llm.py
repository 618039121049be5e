"""The LLM Researcher: a chat model with the tools bound, following the research protocol."""

from __future__ import annotations

from typing import Literal

from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langgraph.runtime import Runtime
from langgraph.types import Command

from glia.tools.toolkit import RESEARCHER_TOOLS, langchain_tools

from . import prompts
from .common import GliaContext, budget_exhausted, own_ledger, sims_left
from .llm import call_model
from .summarizer import needs_summary

MAX_NUDGES = 3


def _conversation(state: dict) -> list:
    task = state["task"]
    head = [SystemMessage(content=prompts.RESEARCHER_SYSTEM),
            HumanMessage(content=prompts.task_brief(task) + f"\nSimulations left: {sims_left(state)}.")]
    if state.get("summary"):
        head.append(HumanMessage(content=f"Summary of the earlier conversation:\n{state['summary']}"))
    return head + list(state.get("researcher_messages", []))


def llm_researcher(state: dict, runtime: Runtime[GliaContext]) -> Command[Literal["tools", "supervisor", "researcher",
                                                                                "summarizer"]]:
    ctx = runtime.context
    if needs_summary(state, ctx):
        return Command(goto="summarizer")
    impl = {**state.get("implementations", {}), "researcher": "llm"}
    stop = budget_exhausted(state)
    if stop:
        msg = AIMessage(content=f"Budget reached ({stop}); proposing the best design so far.", name="researcher")
        return Command(goto="supervisor", update={"researcher_messages": [msg], "phase": "done",
                                                  "implementations": impl})
    usage: dict = {}
    model = ctx.model("researcher").bind_tools(langchain_tools(RESEARCHER_TOOLS))
    reply = call_model(model, _conversation(state), ctx, usage, "researcher")
    reply.name = "researcher"
    update = {"researcher_messages": [reply], "usage": usage, "implementations": impl}
    calls = reply.tool_calls or []
    finish = [tc for tc in calls if tc["name"] == "finish"]
    if finish:
        summary = str(finish[0].get("args", {}).get("summary", "")).strip()
        note = AIMessage(content=f"Proposal: {summary}" if summary else "I propose the best design so far.",
                         name="researcher")
        # a finish call is answered here, so the conversation stays well formed
        acks = [ToolMessage(content="noted: the supervisor will review", tool_call_id=tc["id"]) for tc in calls]
        update["researcher_messages"] = [reply, *acks, note]
        update["phase"] = "done"
        return Command(goto="supervisor", update=update)
    if calls:
        update["phase"] = "experiment"
        return Command(goto="tools", update=update)
    nudges = sum(1 for m in state.get("researcher_messages", [])[-2 * MAX_NUDGES:]
                 if getattr(m, "name", None) == "harness")
    if nudges >= MAX_NUDGES or (own_ledger(state) and "finish" in str(reply.content).lower()):
        update["phase"] = "done"
        return Command(goto="supervisor", update=update)
    update["researcher_messages"] = [reply, HumanMessage(
        content="[harness] Your reply had no tool call. Use a tool (run_simulation, write_file, query_telemetry, "
                "...) or call finish with your proposal.", name="harness")]
    return Command(goto="researcher", update=update)
