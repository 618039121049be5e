"""The Supervisor: sees the task and the researcher's outputs (never code or tools); asks questions, recalls
findings, pushes to combine ideas, stops unproductive lines, approves the final design or sends it back."""

from __future__ import annotations

import json
import re
from typing import Literal

from langchain_core.messages import HumanMessage, SystemMessage
from langgraph.runtime import Runtime
from langgraph.types import Command

from . import prompts
from .common import GliaContext, budget_exhausted, from_agent, own_ledger, text_of
from .llm import call_model

BUDGET_MARKS = (0.5,)


def _stagnant(ledger: list[dict], window: int) -> bool:
    """The last ``window`` experiments brought no improvement over the best before them."""
    if len(ledger) <= window:
        return False
    best_before = min((e["score"] for e in ledger[:-window]), default=float("inf"))
    return all(e["score"] >= best_before * 0.99 for e in ledger[-window:])


def _marks_crossed(state: dict) -> list[float]:
    total = state.get("budget", {}).get("simulations", 0)
    used = len(own_ledger(state))
    seen = {i.get("mark") for i in state.get("interventions", []) if i.get("context") == state.get("context_id")}
    return [m for m in BUDGET_MARKS if total and used >= m * total and m not in seen]


def milestone(state: dict, window: int = 3) -> str | None:
    """Why the supervisor should look now (stagnation, a budget mark), or None."""
    ledger = own_ledger(state)
    n = len(ledger)
    mine = [i for i in state.get("interventions", []) if i.get("context") == state.get("context_id")]
    if _stagnant(ledger, window) and not any(i["reason"] == "stagnation" and i["after_count"] > n - window
                                             for i in mine):
        return "stagnation"
    if _marks_crossed(state):
        return "budget mark"
    return None


def _decision(state: dict, window: int) -> tuple[str, str]:
    """The heuristic supervisor's rules."""
    ledger = own_ledger(state)
    reason = "researcher done" if state.get("phase") == "done" else (milestone(state, window) or "researcher done")
    ok = [e for e in ledger if not e.get("error")]
    base = ok[0] if ok else None
    best = min(ok, key=lambda e: e["score"]) if ok else None
    metric = state["task"]["objective"]["metric"]
    if reason == "researcher done":
        exhausted = budget_exhausted(state)
        if best and base and best["score"] < base["score"] * 0.9:
            return "approve", (f"Approved: {best['id']} ({best.get('label', '')}) improves {metric} from "
                               f"{base['metrics'][metric]:.2f} to {best['metrics'][metric]:.2f}.")
        if exhausted:
            return "approve", f"Budget reached ({exhausted}); approving the best design found."
        return "combine", ("Not yet convincing: the best design is within 10 % of the baseline. Combine the ideas "
                           "that helped, or test the hypotheses still open.")
    if reason == "stagnation":
        return "stop_line", (f"The last {window} experiments brought nothing over the best. Stop this line and "
                             "combine what worked so far.")
    flagged = [f for f in state.get("findings", []) if f.get("flagged")]
    recall = f" Recall the analyst's finding: {flagged[0]['text']}." if flagged else ""
    return "continue", (f"Half the budget is spent; best so far {best['id'] if best else 'none'}.{recall} "
                        "Which hypothesis is still open, and what would refute it?")


def _apply(state: dict, decision: str, message: str, impl: str, extra: dict, window: int) -> Command:
    ledger = own_ledger(state)
    cid = state.get("context_id")
    marks = _marks_crossed(state)
    reason = "researcher done" if state.get("phase") == "done" else (milestone(state, window) or "check")
    intervention = {"id": f"{cid}-sup{len(state.get('interventions', [])) + 1}", "context": cid,
                    "after_experiment": ledger[-1]["id"] if ledger else None, "reason": reason,
                    "after_count": len(ledger), "decision": decision, "text": message,
                    "mark": marks[0] if marks and reason == "budget mark" else None}
    update = {"interventions": [intervention], "supervisor_messages": [HumanMessage(content=message,
                                                                                    name="supervisor")],
              "implementations": {**state.get("implementations", {}), "supervisor": impl}, **extra}
    if decision == "approve":
        update["stop_reason"] = f"approved by the supervisor: {message}"
        return Command(goto="finalize", update=update)
    update["researcher_messages"] = [from_agent("supervisor", message)]
    update["phase"] = decision
    return Command(goto="researcher", update=update)


def offline_supervisor(state: dict, runtime: Runtime[GliaContext]) -> Command[Literal["researcher", "finalize"]]:
    window = runtime.context.stagnation_window
    decision, message = _decision(state, window)
    return _apply(state, decision, message, "offline", {}, window)


def llm_supervisor(state: dict, runtime: Runtime[GliaContext]) -> Command[Literal["researcher", "finalize"]]:
    ctx = runtime.context
    ledger = own_ledger(state)
    best = state.get("best")
    best_view = None
    if best:
        best_view = {"id": best["id"], "label": best.get("label", ""), "value": best["value"]}
    window = ctx.stagnation_window
    reason = "the researcher wants to stop" if state.get("phase") == "done" else (milestone(state, window) or
                                                                                  "check-in")
    request = prompts.supervisor_request(state["task"], reason, ledger, state.get("findings", []),
                                         text_of(state.get("researcher_messages", [])), best_view)
    usage: dict = {}
    reply = call_model(ctx.model("supervisor"), [SystemMessage(content=prompts.SUPERVISOR_SYSTEM),
                                                 HumanMessage(content=request)], ctx, usage, "supervisor")
    decision, message = parse_decision(str(reply.content))
    if decision != "approve" and budget_exhausted(state):
        decision, message = "approve", message + " (budget reached: the best design is final)"
    return _apply(state, decision, message, "llm", {"usage": usage}, window)


def parse_decision(text: str) -> tuple[str, str]:
    """The JSON decision in a reply; a malformed reply counts as 'continue' with its text as the message."""
    match = re.search(r"\{.*\}", text, re.DOTALL)
    if match:
        try:
            obj = json.loads(match.group(0))
            d = str(obj.get("decision", "continue")).lower()
            if d in ("approve", "continue", "stop_line", "combine"):
                return d, str(obj.get("message", "")).strip() or d
        except (json.JSONDecodeError, AttributeError):
            pass
    return "continue", text.strip()[:2000] or "Continue."
