"""Nodes called as plain functions: the supervisor's milestones and rules, the heuristic researcher's plan."""

from __future__ import annotations

from langgraph.runtime import Runtime

from glia.nodes.progress import milestone
from glia.nodes.researcher_offline import offline_researcher
from glia.nodes.router_designs import RouterDesign
from glia.nodes.supervisor import llm_supervisor, offline_supervisor
from glia.state import GliaContext

TASK = {"name": "t", "background": "", "objective": {"metric": "mean_e2e_s", "goal": "minimize"},
        "benchmark": {"workload": "paper-routing-short", "seeds": [0], "baselines": ["llq"]},
        "design": {"file": "policy.py", "editable": ["policy.py"], "starter_source": ""},
        "budget": {"simulations": 10}}
RUNTIME = Runtime(context=GliaContext(db="unused.duckdb"))


def entry(seq: int, score: float, design: RouterDesign, verdict: str, hypothesis: str = "") -> dict:
    return {"id": f"c1-e{seq:03d}", "seq": seq, "context": "c1", "score": score, "verdict": verdict,
            "label": design.key(), "hypothesis": hypothesis, "metrics": {"mean_e2e_s": score}, "error": None,
            "candidate": "policy.py"}


def state(ledger, **extra) -> dict:
    return {"task": TASK, "context_id": "c1", "ledger": ledger, "budget": {"simulations": 10}, "findings": [],
            "interventions": [], "researcher_messages": [], **extra}


def test_stagnation_and_budget_marks_call_the_supervisor_once():
    base = RouterDesign()
    ledger = [entry(1, 50, base, "improved"), entry(2, 52, base.with_(signal="blocks"), "no gain"),
              entry(3, 51, base.with_(admission=True), "no gain"), entry(4, 53, base.with_(order="spf"), "worse")]
    s = state(ledger[:2])
    assert milestone(s) is None
    assert milestone(state(ledger)) == "stagnation"
    seen = state(ledger, interventions=[{"context": "c1", "reason": "stagnation", "after_count": 4,
                                         "decision": "stop_line", "text": "", "mark": None}])
    assert milestone(seen) is None  # stagnation already handled; 4 of 10 simulations is not half the budget
    five = state(ledger + [entry(5, 49.9, base.with_(growth=0.3), "no gain")], interventions=seen["interventions"])
    assert milestone(five) == "budget mark"


def test_the_supervisor_approves_a_clear_improvement_and_sends_back_a_weak_one():
    base = RouterDesign()
    good = state([entry(1, 50, base, "improved"), entry(2, 30, base.with_(admission=True), "improved")],
                 phase="done")
    update = offline_supervisor(good, RUNTIME)
    assert update["phase"] == "approve" and "improves mean_e2e_s from 50.00 to 30.00" in update["stop_reason"]
    weak = state([entry(1, 50, base, "improved"), entry(2, 48, base.with_(admission=True), "improved")],
                 phase="done")
    update = offline_supervisor(weak, RUNTIME)
    assert update["phase"] == "combine" and update["interventions"][0]["decision"] == "combine"
    assert "[supervisor]" in update["researcher_messages"][0].content


def test_the_heuristic_researcher_starts_with_a_baseline_then_follows_the_findings(tmp_path):
    first = offline_researcher(state([], workspace=str(tmp_path)), RUNTIME)
    assert first["phase"] == "experiment"
    [call] = first["researcher_messages"][0].tool_calls
    assert call["name"] == "run_simulation" and call["args"]["label"].startswith("baseline")
    findings = [{"id": "f1", "experiment": "c1-e001", "topic": "restarts", "flagged": True, "value": 0.2,
                 "text": "20 % of requests restarted"}]
    nxt = offline_researcher(state([entry(1, 50, RouterDesign(), "improved")], findings=findings,
                                   workspace=str(tmp_path)), RUNTIME)
    write, run = nxt["researcher_messages"][0].tool_calls
    assert write["name"] == "write_file" and "class Router(BaseGlobalScheduler)" in write["args"]["content"]
    assert run["args"]["hypothesis"] == "H-headroom"
    assert nxt["hypotheses"][0]["status"] == "open"


def test_the_heuristic_researcher_stops_when_the_budget_is_used(tmp_path):
    ledger = [entry(i, 50 - i, RouterDesign(growth=0.1 * i), "improved") for i in range(1, 11)]
    update = offline_researcher(state(ledger, workspace=str(tmp_path)), RUNTIME)
    assert update["phase"] == "done"
    assert "heuristic researcher" in update["researcher_messages"][0].content


def test_the_supervisor_stops_a_researcher_with_nothing_left_to_try():
    base = RouterDesign()
    ledger = [entry(1, 50, base, "improved"), entry(2, 49, base.with_(admission=True), "no gain")]
    sent_back = [{"id": "c1-sup1", "context": "c1", "reason": "researcher done", "after_count": 2,
                  "decision": "combine", "text": "", "mark": None, "after_experiment": "c1-e002"}]
    update = offline_supervisor(state(ledger, phase="done", interventions=sent_back), RUNTIME)
    assert update["phase"] == "approve" and "nothing left to try" in update["stop_reason"]


def test_the_llm_supervisor_cannot_approve_what_was_never_measured():
    from fakes import ScriptedChatModel
    from langchain_core.messages import AIMessage

    model = ScriptedChatModel(messages=iter(['{"decision": "approve", "message": "Great, 15 % faster."}']))
    runtime = Runtime(context=GliaContext(db="unused.duckdb", models={"supervisor": model}))
    claim = AIMessage(content="My new router reduced mean latency by 15 % to 41.7 s.", name="researcher")
    update = llm_supervisor(state([], phase="done", researcher_messages=[claim]), runtime)
    assert update["phase"] == "continue" and "Nothing has been measured yet" in update["interventions"][0]["text"]
    seen = model.calls[0][-1].content
    assert "15 % [unmeasured]" in seen and "41.7 [unmeasured]" in seen
