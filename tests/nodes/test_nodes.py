"""Nodes called as plain functions: the supervisor's milestones and rules, the heuristic researcher's plan."""

from __future__ import annotations

from langgraph.runtime import Runtime

from glia.nodes.heuristic.researcher import offline_researcher
from glia.nodes.heuristic.router_designs import RouterDesign
from glia.nodes.progress import milestone
from glia.nodes.steps import heldout_designs
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
    from langchain_core.messages import AIMessage

    from tests.support.fakes import ScriptedChatModel

    model = ScriptedChatModel(messages=iter(['{"decision": "approve", "message": "Great, 15 % faster."}']))
    runtime = Runtime(context=GliaContext(db="unused.duckdb", models={"supervisor": model}))
    claim = AIMessage(content="My new router reduced mean latency by 15 % to 41.7 s.", name="researcher")
    update = llm_supervisor(state([], phase="done", researcher_messages=[claim]), runtime)
    assert update["phase"] == "continue" and "Nothing has been measured yet" in update["interventions"][0]["text"]
    seen = model.calls[0][-1].content
    assert "15 % [unmeasured]" in seen and "41.7 [unmeasured]" in seen


CONSTRAINED = {**TASK, "objective": {"metric": "throughput_rps", "goal": "maximize",
                                     "constraint": {"metric": "p90_ttft_s", "max": 1.5, "min": None,
                                                    "penalty": 50.0}}}


def measured(seq: int, throughput: float, ttft: float) -> dict:
    from glia.state import feasible, score, violation

    m = {"throughput_rps": throughput, "p90_ttft_s": ttft}
    return {"id": f"c1-e{seq:03d}", "seq": seq, "context": "c1", "label": f"design {seq}", "metrics": m,
            "error": None, "candidate": "policy.py", "verdict": "no gain", "score": score(CONSTRAINED, m),
            "feasible": feasible(CONSTRAINED, m), "violation": violation(CONSTRAINED, m)}


def test_the_supervisor_never_approves_a_design_that_breaks_the_constraint():
    # the fastest design breaks the bound; the supervisor approves the feasible one, never the fastest
    ledger = [measured(1, 26.0, 2.1), measured(2, 27.0, 1.6), measured(3, 25.5, 1.3)]
    s = {**state(ledger, phase="done"), "task": CONSTRAINED}
    update = offline_supervisor(s, RUNTIME)
    assert update["phase"] == "approve" and "c1-e003" in update["stop_reason"] and "p90_ttft_s <= 1.5" in \
        update["stop_reason"]
    # nothing feasible and the budget used: stopped, nothing approved, the closest design named with its violation
    spent = {**state(ledger[:2], phase="done", budget={"simulations": 2}), "task": CONSTRAINED}
    update = offline_supervisor(spent, RUNTIME)
    assert update["phase"] == "stop" and update["interventions"][0]["decision"] == "stop"
    assert "no design met the constraint p90_ttft_s <= 1.5" in update["stop_reason"]
    assert "c1-e002" in update["stop_reason"] and "6.7 %" in update["stop_reason"]


def test_the_llm_supervisor_is_overruled_when_it_approves_an_infeasible_design():
    from tests.support.fakes import ScriptedChatModel

    model = ScriptedChatModel(messages=iter(['{"decision": "approve", "message": "27 req/s, ship it."}']))
    runtime = Runtime(context=GliaContext(db="unused.duckdb", models={"supervisor": model}))
    s = {**state([measured(1, 26.0, 2.1), measured(2, 27.0, 1.6)], phase="done"), "task": CONSTRAINED}
    update = llm_supervisor(s, runtime)
    assert update["phase"] == "continue"
    assert "No design meets the constraint p90_ttft_s <= 1.5 yet" in update["interventions"][0]["text"]


def test_the_report_marks_infeasible_designs_and_never_calls_one_best(tmp_path):
    from glia.nodes.report import write_report

    ledger = [{**measured(1, 26.0, 2.1), "workspace": str(tmp_path)}, {**measured(2, 27.0, 1.6)}]
    baselines = [{"id": "b-llq", "policy": "llq", "metrics": {"throughput_rps": 26.0, "p90_ttft_s": 2.1},
                  "feasible": False, "violation": 0.4, "score": 0.0}]
    text = write_report({"task": CONSTRAINED, "thread_id": "t1", "ledger": ledger, "baselines": baselines,
                         "contexts": [], "best": None}, tmp_path / "report.md")
    assert "subject to `p90_ttft_s <= 1.5`" in text
    assert "**No design met the constraint** `p90_ttft_s <= 1.5`" in text and "`c1-e002`" in text
    assert "| c1 | `c1-e001` | design 1 | 26.00 | - | - | 2.100 | no (+40.0 %) |" in text
    assert "| llq (baseline) | 26.00 | - | - | 2.100 | no (+40.0 %) |" in text
    assert "**best design**" not in text


def test_the_report_shows_an_experiments_error_with_its_file_name_not_the_workspace_path(tmp_path):
    from glia.nodes.report import write_report

    where = f"{tmp_path}/runs/run-20261129-120333-e151/contexts/c1/experiments/c1-e002.py"
    failed = {**measured(2, 26.0, 1.0), "verdict": "error", "metrics": {}, "error": {
        "kind": "exception", "message": f"policy raised TypeError in next_index() at {where}:20: 'Request' object "
                                        "is not subscriptable"}}
    text = write_report({"task": CONSTRAINED, "thread_id": "t1", "ledger": [measured(1, 26.0, 1.0), failed],
                         "baselines": [], "contexts": [], "best": None}, tmp_path / "report.md")
    assert ("exception: policy raised TypeError in next_index() at c1-e002.py:20: 'Request' object is not "
            "subscriptable |") in text


def test_the_held_out_table_says_whether_each_design_still_meets_the_constraint(tmp_path):
    from glia.nodes.report import write_report

    def part(value, feasible, violation, **extra):
        return {"value": value, "ci90": [value - 1, value + 1], "seeds": [1000, 1001], "feasible": feasible,
                "violation": violation, "metrics": {}, "error": None, **extra}
    heldout = {"llq": {"heldout": part(26.0, False, 0.2),
                       "shifted": part(27.0, False, 0.5, workload="slo-prefill (users x1.25)")}}
    baselines = [{"id": "b-llq", "policy": "llq", "metrics": {"throughput_rps": 26.0, "p90_ttft_s": 2.1},
                  "feasible": False, "violation": 0.4, "score": 0.0}]
    text = write_report({"task": CONSTRAINED, "thread_id": "t1", "ledger": [], "baselines": baselines,
                         "contexts": [], "best": None, "heldout": heldout}, tmp_path / "report.md")
    assert ("| design | throughput_rps on the search seeds | held-out seeds | 90 % CI | p90_ttft_s <= 1.5 | shifted "
            "workload | 90 % CI | p90_ttft_s <= 1.5 |") in text
    assert ("| llq (baseline) | 26.00 | 26.00 | [25.00, 27.00] | no (+20.0 %) | 27.00 | [26.00, 28.00] | "
            "no (+50.0 %) |") in text


def space_state(task_name: str, ledger: list, findings: list, tmp_path) -> dict:
    from glia.state import load_task

    return {**state(ledger, findings=findings, workspace=str(tmp_path)), "task": load_task(task_name)}


def test_the_heuristic_researcher_walks_each_task_s_design_space(tmp_path):
    from glia.nodes.heuristic.autoscaler_designs import AutoscalerDesign
    from glia.nodes.heuristic.batch_designs import BatchDesign

    # batch: the starter first (its own design key), then what the findings point at
    first = offline_researcher(space_state("batch-scheduling", [], [], tmp_path), RUNTIME)
    [run] = first["researcher_messages"][0].tool_calls
    assert run["args"]["label"] == "baseline: " + BatchDesign().key()
    base = {**entry(1, 49.0, RouterDesign(), "improved"), "label": "baseline: " + BatchDesign().key()}
    wait = [{"id": "f1", "experiment": "c1-e001", "topic": "short_prompts_wait", "flagged": True, "value": 13.0,
             "text": "short requests are stuck behind long ones"}]
    nxt = offline_researcher(space_state("batch-scheduling", [base], wait, tmp_path), RUNTIME)
    write, run = nxt["researcher_messages"][0].tool_calls
    assert write["args"]["path"] == "batch_policy.py" and "class Batch(BaseBatchPolicy)" in write["args"]["content"]
    assert run["args"]["hypothesis"] == "H-spf" and "order=spf" in run["args"]["label"]
    # autoscaling: a cluster that does not follow the load -> a proportional controller at the measured load
    threshold = AutoscalerDesign(high=700.0, low=350.0, cooldown=60.0)
    base = {**entry(1, 11.5, RouterDesign(), "improved"), "label": "baseline: " + threshold.key()}
    lag = [{"id": "f2", "experiment": "c1-e001", "topic": "per_replica_load", "flagged": True, "value": 21.4,
            "text": "the cluster's size does not follow the load"}]
    nxt = offline_researcher(space_state("autoscaling", [base], lag, tmp_path), RUNTIME)
    write, run = nxt["researcher_messages"][0].tool_calls
    assert run["args"]["hypothesis"] == "H-proportional"
    assert "TARGET = 21.5" in write["args"]["content"] and "math.ceil(view.in_flight / self.TARGET)" in \
        write["args"]["content"]


def test_the_held_out_evaluation_loads_a_baseline_file_by_its_path_and_names_it_as_reports_do(tmp_path):
    snapshot = tmp_path / "c1-e002.py"
    snapshot.write_text("")
    state = {"best": {"snapshot": str(snapshot)}, "baselines": [
        {"policy": "adapt_routing_best", "spec": "/tasks/adapt_routing_best.py"}, {"policy": "llq"},
        {"policy": "broken", "spec": "/tasks/broken.py", "error": {"kind": "load_error"}}]}
    assert heldout_designs(state) == {"best": str(snapshot), "adapt_routing_best": "/tasks/adapt_routing_best.py",
                                      "llq": "llq"}
