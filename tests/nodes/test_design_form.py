"""The functions form (``simulator/policy/forms.py``, ``nodes/design_form.py``): a design as a few small functions
called by a fixed driver, for models too weak to rewrite a whole policy class. The drivers' starters do exactly what the
layers' standard designs do; a reply's functions are merged into the design file; bad returns, bad signatures and
repeated errors are answered with the specific fix; and a run in this form goes through the whole pipeline (the
sandbox, the hardened re-measurement, the held-out seeds, the report and the best design's file), switching form
when one keeps failing."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage

from glia.graph.config import RunConfig
from glia.graph.runs import start_run
from glia.nodes import design_form, prompts
from glia.nodes.llm.modes import choose_modes
from glia.simulator import PolicyViolation
from glia.simulator.harness.runner import run_benchmark
from glia.simulator.harness.sandbox import simulate_seed
from glia.simulator.policy.forms import STARTERS, ScalingFunctions
from glia.simulator.policy.loader import load_policy
from tests.support.fakes import ScriptedChatModel, reply, text
from tests.support.helpers import small_config

TASK = str(Path(__file__).parents[1] / "tasks" / "quick.toml")
REQUESTS = [(0.05 * i, 16 + (i * 37) % 900, 8 + (i * 53) % 300) for i in range(300)]


def write(tmp_path: Path, name: str, source: str) -> str:
    path = tmp_path / name
    path.write_text(source)
    return str(path)


# -- the drivers ----------------------------------------------------------------------------------------------------
def test_each_starter_does_what_its_layers_standard_design_does(tmp_path):
    config = small_config(REQUESTS, num_blocks=300, num_replicas=4)
    router = simulate_seed(config, write(tmp_path, "router.py", STARTERS["router"]), 0)
    assert router.error is None and router.summary == simulate_seed(config, "llq", 0).summary
    batch_cfg = dataclasses.replace(config, cluster=dataclasses.replace(
        config.cluster, batch_policy=write(tmp_path, "batch.py", STARTERS["batch"])))
    batch = simulate_seed(batch_cfg, "llq", 0)
    assert batch.error is None and batch.summary == simulate_seed(config, "llq", 0).summary  # fcfs


def test_the_autoscaling_driver_is_the_threshold_rule_with_its_cooldown(tmp_path):
    cls = load_policy(write(tmp_path, "scale.py", STARTERS["autoscaler"]), "autoscaler")
    assert issubclass(cls, ScalingFunctions)
    view = type("View", (), {"serving": 2, "starting": 0, "waiting": 30, "decode_tokens_per_s": 100.0,
                             "min_replicas": 2, "max_replicas": 8, "now": 0.0})
    policy = cls()
    assert policy.desired_replicas(view) == 3                 # many waiting: one more
    view.now = 30.0
    assert policy.desired_replicas(view) == 2                 # within the 60 s cooldown: as it is
    view.now, view.waiting = 90.0, 0
    assert policy.desired_replicas(view) == 2                 # low throughput, but at the minimum


@pytest.mark.parametrize(("function", "message"), [
    ("def choose(request, replicas):\n    return None\n", "choose(request, replicas) returned None; it must return "
                                                           "one of the replicas it was given"),
    ("def priority(request):\n    return 'soon'\n", "priority(request) returned 'soon'; it must return a number"),
    ("def admit(request, replica):\n    if replica.free_blocks > 10:\n        return True\n",
     "admit(request, replica) returned None; it must return True or False"),
])
def test_what_a_function_returns_is_checked_with_the_fix(tmp_path, function, message):
    # the driver checks every return (a file can reach it without the researcher's static check: write_file, a run)
    name = function.split("(")[0][4:]
    default = next(t for _, n, t in design_form._segments(ast.parse(STARTERS["router"]), STARTERS["router"])
                   if n == name)
    merged = STARTERS["router"].replace(default, function.rstrip())
    out = simulate_seed(small_config(REQUESTS[:50], num_blocks=300, num_replicas=2), write(tmp_path, "p.py", merged),
                        0)
    assert out.error["kind"] == "bad_return" and message in out.error["message"]


def test_a_functions_file_runs_confined_and_hardened_with_the_same_figures(tmp_path):
    merged, _ = design_form.merge(STARTERS["router"], "def admit(request, replica):\n"
                                  "    return replica.free_blocks >= replica.blocks_for(request) + 4\n", "router")
    path = write(tmp_path, "policy.py", merged)
    config = small_config(REQUESTS, num_blocks=300, num_replicas=4)
    normal = run_benchmark(path, config, [0], timeout_s=300)
    hardened = run_benchmark(path, config, [0], timeout_s=600, hardened=True)
    assert normal.error is None and hardened.error is None
    assert normal.metric("mean_e2e_s") == hardened.metric("mean_e2e_s")


# -- merging a reply -----------------------------------------------------------------------------------------------
def test_a_reply_with_one_function_replaces_only_that_function():
    merged, problem = design_form.merge(STARTERS["router"], "LIMIT = 3\n\n\ndef choose(request, replicas):\n"
                                        "    return min(replicas, key=lambda r: r.num_active_requests)\n", "router")
    assert problem is None and design_form.is_functions_file(merged)
    assert "def priority(request):\n    return request.arrived_at" in merged
    assert "key=lambda r: r.num_active_requests" in merged and "num_pending_requests +" not in merged
    assert merged.index("LIMIT = 3") < merged.index("def priority") < merged.index("def choose")
    assert merged.rstrip().endswith("functions = (priority, admit, choose)")
    again, _ = design_form.merge(merged, "def priority(request):\n    return request.num_restarts\n", "router")
    assert "LIMIT = 3" in again and "r.num_active_requests" in again      # earlier edits stay


@pytest.mark.parametrize(("code", "problem"), [
    ("def priority(request, replica):\n    return 0\n", "priority must keep its arguments: def priority(request):"),
    ("def choose(request, replicas):\n    pass\n", "choose() does nothing (only pass)"),
    ("class Router:\n    def schedule(self):\n        return []\n", "In this form you write functions, not a class"),
    ("def helper(x):\n    return x\n", "Your block defines none of priority, admit, choose"),
    ("def priority(request)\n    return 1\n", "Your Python block does not parse: line 1"),
])
def test_a_bad_edit_is_sent_back_with_what_to_do(code, problem):
    merged, said = design_form.merge(STARTERS["router"], code, "router")
    assert merged is None and problem in said


@pytest.mark.parametrize(("code", "said"), [
    ("def choose(request, replicas):\n    return min(replicas, key=lambda r: r.arrived_at)\n",
     "choose(request, replicas) reads r.arrived_at, but r is a replica: arrived_at is a field of the request "
     "(request.arrived_at), not of a replica. A replica has: replica_id,"),
    ("def priority(request):\n    return request.free_blocks\n",
     "priority(request) reads request.free_blocks: free_blocks is a field of the replica (replica.free_blocks), not "
     "of a request"),
    ("def choose(request, replicas):\n    for rep in replicas:\n        if rep.num_restarts:\n"
     "            return rep\n    return replicas[0]\n", "rep.num_restarts, but rep is a replica"),
    ("def admit(request, replica):\n    return len(replicas) > 2\n",
     "admit(request, replica) reads replicas, which it does not have (`return len(replicas) > 2`): replicas is an "
     "argument of choose(request, replicas) only"),
    ("def priority(request):\n    return LIMIT - request.arrived_at\n", "LIMIT is defined nowhere in the file"),
    # as the 1.5B model wrote them (probes of the functions form's prompt): a path that returns None
    ("def choose(request, replicas):\n    if request.num_restarts > 0:\n        return replicas[0]\n    else:\n"
     "        return None\n", "choose() returns None on a path: it must return one of replicas (those that admit it): "
                             "where it goes. To keep a request waiting, have admit return False."),
    ("def admit(request, replica):\n    if replica.free_blocks > 10:\n        return True\n",
     "admit() can end without a return (then it returns None): every path must return True if"),
])
def test_a_name_or_field_a_function_cannot_have_is_refused_before_it_runs(code, said):
    merged, problem = design_form.merge(STARTERS["router"], code, "router")
    assert merged is None and problem.startswith("Not run, not charged: ") and said in problem


def test_what_the_check_cannot_be_sure_of_is_left_to_the_run():
    code = ("import math\nLIMIT = 8\n\n\ndef spare(replica):\n    return replica.free_blocks - LIMIT\n\n\n"
            "def choose(request, replicas):\n    best = [r for r in replicas if spare(r) > 0]\n"
            "    return max(best or replicas, key=lambda r: spare(r) / math.log(2 + r.num_active_requests))\n")
    merged, problem = design_form.merge(STARTERS["router"], code, "router")
    assert problem is None and "def spare(replica):" in merged
    # the autoscaler's view, the batch layer's now: their own fields pass
    assert design_form.merge(STARTERS["autoscaler"], "def cooldown(view):\n    return 2 * view.interval_s\n",
                             "autoscaler")[1] is None
    assert design_form.merge(STARTERS["batch"], "def priority(request, now):\n    return now - request.arrived_at\n",
                             "batch")[1] is None


def test_an_unused_import_is_dropped_a_used_one_kept():
    merged, problem = design_form.merge(STARTERS["router"], "import os\nimport math\nfrom typing import List\n"
                                        "from glia.simulator import RoutingFunctions, Replica\n\n\n"
                                        "def priority(request):\n    return math.log(1 + request.arrived_at)\n",
                                        "router")
    assert problem is None and "import math" in merged
    assert "import os" not in merged and "typing" not in merged and "Replica" not in merged


def test_a_field_read_on_the_wrong_object_at_run_time_names_the_object_that_has_it(tmp_path):
    merged, problem = design_form.merge(STARTERS["router"], "def choose(request, replicas):\n"
                                        "    return replicas[0] if replicas[0].arrived_at > 1 else replicas[-1]\n",
                                        "router")
    assert problem is None  # replicas[0] is not followed by the check: the driver says it at run time
    out = simulate_seed(small_config(REQUESTS[:50], num_blocks=300, num_replicas=2), write(tmp_path, "p.py", merged),
                        0)
    assert "a replica has no arrived_at (a field of the request: request.arrived_at); a replica has replica_id" in \
        out.error["message"]


def test_a_change_that_altered_no_decision_is_said_so():
    # as the 1.5B model's first edit (run small3 functions-1, c1-e002): request.num_prefill_tokens added to every
    # replica's score in choose, so every figure equals the starter's
    figures = {"mean_e2e_s": 49.148, "p99_e2e_s": 218.777}
    ledger = [{"id": "c1-e001", "metrics": figures}, {"id": "c1-e002", "metrics": dict(figures)}]
    note = design_form.unchanged_decisions(ledger)
    assert note.startswith("c1-e002 measured exactly what c1-e001 did, every figure equal: its change altered no "
                           "decision")
    assert design_form.unchanged_decisions([*ledger[:1], {"id": "c1-e002", "metrics": {**figures, "p99_e2e_s": 1}}]) \
        == ""
    assert design_form.unchanged_decisions([*ledger[:1], {"id": "c1-e002", "error": {"kind": "x"}, "metrics": {}}]) \
        == ""


def test_a_repeated_error_is_answered_with_its_specific_fix():
    def failed(i, message):
        return {"id": f"c1-e00{i}", "error": {"kind": "exception", "message": message}}
    tuple_error = "policy raised TypeError in schedule() at p.py:9: 'tuple' object has no attribute 'x'"
    note = design_form.repeated_error([failed(2, tuple_error), failed(3, tuple_error)], "router", "functions")
    assert "The same error twice (c1-e003): requests and replicas are objects, not tuples" in note
    assert "free_blocks" in note
    # one failure already gets its fix; a different error before it is not "the same error twice"
    assert design_form.repeated_error([failed(2, tuple_error), failed(3, "division by zero")], "router",
                                      "functions") == "c1-e003 failed; the fix: guard each division: divide by " \
                                                      "max(x, 1)."
    wrong = "policy raised AttributeError in schedule() at p.py:3: 'Request' object has no attribute 'free_blocks'"
    assert "free_blocks is a field of the replica (replica.free_blocks), not of a request" in \
        design_form.repeated_error([failed(2, wrong)], "router", "functions")
    assert design_form.repeated_error([{"id": "c1-e001", "metrics": {}}], "router", "functions") == ""


def test_weak_models_get_the_functions_form_strong_ones_the_class(monkeypatch):
    from glia.nodes.llm.endpoint import Check, EndpointProfile

    def profile(auto: str) -> EndpointProfile:
        checks = {"auto": Check(outcome=auto, ok=auto == "native"), "named": Check(outcome="honoured", ok=True)}
        return EndpointProfile(base_url="http://x/v1", model="m", probed_at="", checks=checks)
    assert choose_modes(profile("native")).design_form == "class"
    assert choose_modes(profile("tool_call_tag")).design_form == "functions"
    assert choose_modes(profile("native"), overrides={"researcher": {"design_form": "functions"}}).design_form == \
        "functions"


def test_the_prompt_shows_a_worked_edit_from_another_domain_never_the_answer():
    api, protocol = design_form.api_text("router"), prompts.PROTOCOL_FUNCTIONS
    assert "def priority(request):" in api and "blocks_for(request)" in api
    assert "lift controller" in protocol and "def pick(call, cars):" in protocol
    for hint in ("kv", "cache", "shortest", "prompt", "hold", "90 %"):
        assert hint not in protocol.lower().split("example")[1]
    assert "90 %" not in prompts.IDEA and "KV" not in prompts.IDEA


# -- a whole run in the functions form --------------------------------------------------------------------------------
ADMIT = """[harness] Keep room for the requests already there.
```python
def admit(request, replica):
    return replica.free_blocks >= replica.blocks_for(request) + 8
```"""
NAME_ERROR = """```python
def choose(request, replicas):
    if replica.num_pending_requests + replica.num_active_requests == 0:
        return min(replicas, key=lambda r: r.num_blocks)
    return min(replicas, key=lambda r: r.num_pending_requests + r.num_active_requests)
```"""  # as the 1.5B model wrote it (s17 functions-1, c1-e002: NameError at run time, charged a simulation)
TUPLE = """```python
def choose(request, replicas):
    return replicas[0][1]
```"""


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    ws = tmp_path_factory.mktemp("functions")
    researcher = ScriptedChatModel(messages=iter([
        reply(ADMIT),                                                        # one function: merged and run
        reply("```python\ndef admit(request, replica, extra):\n    return True\n```"),   # bad signature: sent back
        reply(NAME_ERROR),                                                   # replica in choose: sent back, free
        reply(TUPLE), reply(TUPLE.replace("[1]", "[2]")),                     # the same error twice: the fix
        reply(TUPLE.replace("[1]", "[3]")),                                  # a third failure: the form switches
        reply("", ("finish", {"summary": "Proposal: admit only with room for the prompt plus 8 blocks"})),
    ]))
    analyst = ScriptedChatModel(messages=iter([reply("DONE"), reply('{"findings": [{"text": "queues are long"}]}')]
                                              * 4))
    supervisor = ScriptedChatModel(messages=iter(['{"decision": "continue", "message": "Go on."}'] * 2
                                                 + ['{"decision": "approve", "message": "Ship it."}'] * 3))
    summarizer = ScriptedChatModel(messages=iter(["Summary."] * 6))
    models = {"researcher": researcher, "analyst": analyst, "supervisor": supervisor, "summarizer": summarizer}
    config = RunConfig.build(TASK, budget_sims=7, llm=True, workspace=ws, settings={"retry_base_s": 0.0})
    config.modes = {"researcher": {"tools": "text", "design_form": "functions"}}
    return start_run(config, models=models), models, config


def test_the_run_measures_the_functions_starter_then_the_models_edit(run):
    out, m, _ = run
    ledger = sorted(out.state["ledger"], key=lambda e: e["seq"])
    assert [e["label"] for e in ledger][:2] == ["starter (functions form)", "Keep room for the requests already there"]
    assert not any(e["label"].startswith("[harness]") for e in ledger)
    assert not ledger[0].get("error") and not ledger[1].get("error")
    first = "\n".join(text(x) for x in m["researcher"].calls[0])
    assert "def admit(request, replica):  # returns True if the request may go to that replica now" in first
    assert "Example of an edit (another domain" in first and "class Router(RoutingFunctions)" in first


def test_a_small_models_prompt_holds_the_last_exchange_and_the_findings_once(run):
    _, m, _ = run
    first, second = m["researcher"].calls[:2]
    assert not any(getattr(x, "name", None) in ("analyst", "harness") for x in first + second)
    assert "[result of run_simulation]" in "\n".join(text(x) for x in first)   # the starter's figures stay
    assert "Newest findings:" in text(second[-1]) and "queues are long" in text(second[-1])
    assert text(second[-1]).endswith(prompts.NEXT_FUNCTIONS)
    assert "Idea: send the nearest car, because" in prompts.NEXT_FUNCTIONS   # an example to follow, not a template
    assert "Keep room for the requests already there" in "\n".join(text(x) for x in second)  # its last reply
    # its reply ends where a small model would go on to echo the workbench with results it invented
    assert all("\nExperiments (" in (stop or ()) for stop in m["researcher"].stops[:6])
    # system, task, the last reply with its results (or what answered it), the supervisor's word, the workbench
    assert all(len(call) <= 7 for call in m["researcher"].calls[:6])   # the 7th: class form


def test_a_bad_signature_is_sent_back_before_it_runs(run):
    _, m, _ = run
    assert "admit must keep its arguments: def admit(request, replica):" in "\n".join(
        text(x) for x in m["researcher"].calls[2])


def test_a_name_another_function_has_is_sent_back_before_it_runs_with_the_fix(run):
    out, m, _ = run
    said = "\n".join(text(x) for x in m["researcher"].calls[3])
    assert ("Not run, not charged: choose(request, replicas) reads replica, which it does not have (`if "
            "replica.num_pending_requests + replica.num_active_requests == 0:`): replica is an argument of "
            "admit(request, replica) only") in said
    assert "for replica in replicas" in said
    assert not any("NameError" in str(e.get("error")) for e in out.state["ledger"])


def test_a_repeated_error_gets_the_fix_and_a_third_switches_the_form(run):
    out, m, _ = run
    ledger = sorted(out.state["ledger"], key=lambda e: e["seq"])
    assert [bool(e.get("error")) for e in ledger] == [False, False, True, True, True]
    third = "\n".join(text(x) for x in m["researcher"].calls[4])
    assert "c1-e003 failed; the fix: requests and replicas are objects, not tuples" in third
    fourth = "\n".join(text(x) for x in m["researcher"].calls[5])
    assert "The same error twice (c1-e004): requests and replicas are objects, not tuples" in fourth
    last = "\n".join(text(x) for x in m["researcher"].calls[6])
    assert "3 designs in a row failed in the functions form" in last
    assert "class Router(BaseGlobalScheduler)" in last.split("Design file policy.py now:")[1]


def test_the_best_functions_design_is_re_measured_held_out_and_reported(run):
    out, _, config = run
    best = out.state["best"]
    assert best["hardened"]["agree"]
    kept = (config.run_dir / "best_policy.py").read_text()
    assert design_form.is_functions_file(kept) and "replica.blocks_for(request) + 8" in kept
    assert out.state["heldout"]["best"]["heldout"].get("metrics")
    report = (config.run_dir / "report.md").read_text()
    assert "replica.blocks_for(request) + 8" in report and "in the functions form" in report
    assert not any("Proposal: Proposal:" in str(getattr(x, "content", "")) for x in
                   out.state.get("researcher_messages", []) if isinstance(x, AIMessage))


def test_a_design_that_breaks_a_static_rule_is_refused_without_a_simulation():
    merged, _ = design_form.merge(STARTERS["router"], "def priority(request):\n"
                                  "    return getattr(request, 'arrived_at')\n", "router")
    with pytest.raises(PolicyViolation, match="uses getattr"):
        load_policy_from_text(merged)


def load_policy_from_text(source: str):
    import tempfile
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(source)
    return load_policy(f.name)
