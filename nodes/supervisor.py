"""The Supervisor: sees the task and the researcher's outputs (never code or tools); asks questions, recalls
findings, pushes to combine ideas, stops unproductive lines, approves the final design or sends it back. It never
approves a design that breaks the task's constraint: with the budget used and nothing feasible, it stops the
context with nothing approved."""

from __future__ import annotations

from langchain_core.messages import HumanMessage, SystemMessage
from langgraph.runtime import Runtime

from glia.nodes import prompts
from glia.nodes.claims import mark_unsupported
from glia.nodes.common import from_agent, shown_figures, text_of
from glia.nodes.llm.client import account, count, invoke_with_retries
from glia.nodes.llm.modes import role_modes
from glia.nodes.llm.structured import SupervisorDecision, decision_from_text, structured_answer
from glia.nodes.progress import budget_exhausted, consult_reason, marks_crossed, own_ledger, sent_back_with_nothing_new
from glia.state import Decision, GliaContext, GliaState, Intervention, improves
from glia.state.tasks.task import constraint_text


def best_feasible(state: GliaState) -> dict | None:
    """This context's best experiment that met the task's constraint (and did not fail), or None."""
    feasible = [e for e in own_ledger(state) if not e.get("error") and e.get("feasible", True)]
    return min(feasible, key=lambda e: e["score"]) if feasible else None


def _nothing_to_approve(state: GliaState) -> str:
    constraint = constraint_text(state["task"])
    tried = [e for e in own_ledger(state) if not e.get("error")]
    if constraint and tried:
        closest = min(tried, key=lambda e: e.get("violation", 0.0))
        return (f"no design met the constraint {constraint} (the closest, {closest['id']}, broke it by "
                f"{100 * closest.get('violation', 0.0):.1f} %): nothing is approved")
    return "no design succeeded: nothing is approved"


def _decision(state: GliaState, reason: str, window: int) -> tuple[Decision, str]:
    """The heuristic supervisor's rules."""
    ledger = own_ledger(state)
    ok = [e for e in ledger if not e.get("error")]
    base = ok[0] if ok else None
    best = best_feasible(state)
    metric = state["task"]["objective"]["metric"]
    if reason in ("researcher done", "check-in"):
        exhausted = budget_exhausted(state)
        if best and base and best is not base and not base.get("feasible", True):
            return "approve", (f"Approved: {best['id']} ({best.get('label', '')}) meets "
                               f"{constraint_text(state['task'])}, which the first design broke by "
                               f"{100 * base.get('violation', 0.0):.1f} %; {metric} {best['metrics'][metric]:.2f}.")
        if best and base and improves(best["score"], base["score"], 0.9):
            return "approve", (f"Approved: {best['id']} ({best.get('label', '')}) improves {metric} from "
                               f"{base['metrics'][metric]:.2f} to {best['metrics'][metric]:.2f}.")
        if exhausted:
            if not best:
                return "stop", f"Budget reached ({exhausted}); {_nothing_to_approve(state)}."
            return "approve", f"Budget reached ({exhausted}); approving the best design found."
        if sent_back_with_nothing_new(state):
            if not best:
                return "stop", f"The researcher has nothing left to try; {_nothing_to_approve(state)}."
            return "approve", f"The researcher has nothing left to try; approving the best design found, {best['id']}."
        return "combine", ("Not yet convincing: the best design is within 10 % of the baseline. Combine the ideas "
                           "that helped, or test the hypotheses still open.")
    if reason == "stagnation":
        return "stop_line", (f"The last {window} experiments brought nothing over the best. Stop this line and "
                             "combine what worked so far.")
    flagged = [f for f in state.get("findings", []) if f.get("flagged")]
    recall = f" Recall the analyst's finding: {flagged[0]['text']}." if flagged else ""
    return "continue", (f"Half the budget is spent; best so far {best['id'] if best else 'none'}.{recall} "
                        "Which hypothesis is still open, and what would refute it?")


def _intervene(state: GliaState, reason: str, decision: Decision, message: str) -> GliaState:
    ledger = own_ledger(state)
    cid = state["context_id"]
    marks = marks_crossed(state)
    intervention: Intervention = {
        "id": f"{cid}-sup{len(state.get('interventions', [])) + 1}", "context": cid,
        "after_experiment": ledger[-1]["id"] if ledger else None, "reason": reason, "after_count": len(ledger),
        "decision": decision, "text": message, "mark": marks[0] if marks and reason == "budget mark" else None}
    update: GliaState = {"interventions": [intervention], "phase": decision,
                         "supervisor_messages": [HumanMessage(content=message, name="supervisor")]}
    if decision == "approve":
        update["stop_reason"] = f"approved by the supervisor: {message}"
    elif decision == "stop":
        update["stop_reason"] = f"stopped by the supervisor: {message}"
    else:
        update["researcher_messages"] = [from_agent("supervisor", message)]
    return update


def offline_supervisor(state: GliaState, runtime: Runtime[GliaContext]) -> GliaState:
    window = runtime.context.settings.stagnation_window
    reason = consult_reason(state, window)
    return _intervene(state, reason, *_decision(state, reason, window))


def llm_supervisor(state: GliaState, runtime: Runtime[GliaContext]) -> GliaState:
    """The model's decision, asked in the schema its endpoint supports best (a plain-text fallback still yields a
    valid decision, never an approval by accident); the harness's rules stand above it: a design with nothing
    measured behind it is not approved, nor one that breaks the task's constraint; a used budget ends the context,
    a researcher sent back with nothing new to try is stopped (with nothing approved when nothing is feasible)."""
    ctx = runtime.context
    modes = role_modes(ctx.modes, "supervisor")
    model = ctx.model("supervisor")
    best = state.get("best")
    best_view = {"id": best["id"], "label": best.get("label", ""), "value": best["value"]} if best else None
    reason = consult_reason(state, ctx.settings.stagnation_window)
    # the researcher's words reach the supervisor with every result nothing measured marked [unmeasured]
    words = mark_unsupported(text_of(state.get("researcher_messages", [])), shown_figures(state))
    request = prompts.supervisor_request(state["task"], reason, own_ledger(state), state.get("findings", []), words,
                                         best_view, state.get("baselines", []))
    usage: dict = {}

    def call(runnable, msgs):
        reply = invoke_with_retries(runnable, msgs, ctx.settings, "supervisor")
        account(usage, "supervisor", reply.get("raw") if isinstance(reply, dict) else reply, model)
        return reply

    answer = structured_answer(model, SupervisorDecision, [SystemMessage(content=prompts.SUPERVISOR_SYSTEM),
                                                           HumanMessage(content=request)],
                               modes.structured, decision_from_text, invoke=call)
    count(usage, "supervisor", structured_fallbacks=int(answer.method == "text_fallback"))
    decision, message = answer.value.decision, answer.value.message.strip() or answer.value.decision
    feasible = best_feasible(state)
    if budget_exhausted(state) or sent_back_with_nothing_new(state):
        if not feasible:
            decision, message = "stop", message + f" (the researcher has nothing more to run; " \
                                                  f"{_nothing_to_approve(state)})"
        elif decision != "approve":
            decision, message = "approve", message + " (the researcher has nothing more to run: the best " \
                                                     "measured design is final)"
    elif decision == "approve" and not any(not e.get("error") for e in own_ledger(state)):
        decision, message = "continue", ("Nothing has been measured yet, so there is nothing to approve: write a "
                                         "design and run it (run_simulation) first. " + message)
    elif decision == "approve" and not feasible:
        decision, message = "continue", (f"No design meets the constraint {constraint_text(state['task'])} yet, so "
                                         "there is nothing to approve: find one that does. " + message)
    return {**_intervene(state, reason, decision, message), "usage": usage}
