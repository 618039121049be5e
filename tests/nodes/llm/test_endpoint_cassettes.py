"""The endpoint probe and representative researcher turns against the real local model (Qwen2.5-Coder-1.5B-Instruct
on llama-cpp-python), served with the GGUF's own chat template and with ``chatml-function-calling``, replayed from
cassettes (tests/nodes/llm/cassettes/test_endpoint_cassettes/) with sockets blocked.

To re-record (a few minutes of model time), start both servers as /work/shared/tools/local-llm.sh documents (the
template one on 8765, ``GLIA_LLM_FORMAT=chatml-function-calling`` on 8766), delete the cassettes to replace, then
``python -m pytest tests/nodes/llm/test_endpoint_cassettes.py --record-mode=once``. The probe's cassettes match on the
request body (a changed probe prompt needs a re-recording); the researcher turns match in order."""

from __future__ import annotations

from pathlib import Path

import pytest
from langchain_core.messages import HumanMessage, SystemMessage
from langchain_openai import ChatOpenAI

from glia.nodes import prompts
from glia.nodes.llm.endpoint import probe
from glia.nodes.llm.modes import choose_action_tool, choose_modes
from glia.nodes.llm.replies import POLICY, parse_reply
from glia.nodes.llm.structured import SupervisorDecision, decision_from_text, structured_answer
from glia.simulator.policy.loader import load_policy
from glia.state import load_task
from glia.tools.toolkit import RESEARCHER_TOOLS, langchain_tools

TEMPLATE = "http://127.0.0.1:8765/v1"  # the model's own chat template (the server's default)
FUNCTION_CALLING = "http://127.0.0.1:8766/v1"  # --chat_format chatml-function-calling
NONCE = "ZEBRA-4172"

IN_ORDER = pytest.mark.vcr(match_on=["method", "scheme", "host", "port", "path"])


@pytest.fixture(scope="module")
def vcr_config():
    return {"filter_headers": ["authorization", "x-stainless-arch", "x-stainless-os", "x-stainless-runtime-version",
                               "x-stainless-package-version", "user-agent"],
            "match_on": ["method", "scheme", "host", "port", "path", "body"], "decode_compressed_response": True}


def real_model(base_url: str, model: str = "qwen-coder", max_tokens: int | None = None) -> ChatOpenAI:
    limit = {"max_tokens": max_tokens, "extra_body": {"max_tokens": max_tokens}} if max_tokens else {}
    return ChatOpenAI(model=model, base_url=base_url, api_key="not-needed", temperature=0.0, max_retries=0,
                      timeout=300, **limit)


def factory(base_url, model):
    return real_model(base_url, model)


# the researcher's system prompt as it was when the replies were recorded (requests are matched by their body)
RECORDED_SYSTEM = (Path(__file__).parent / "cassettes" / "test_endpoint_cassettes" / "researcher_system.txt"
                   ).read_text()


def researcher_turn(request: str) -> list:
    task = load_task("routing")
    design = task["design"]["starter_source"]
    return [SystemMessage(content=RECORDED_SYSTEM),
            HumanMessage(content=f"{prompts.task_brief(task)}\nSimulations left: 6.\nCurrent design file policy.py:\n"
                                 f"```python\n{design}```\n{request}")]


@pytest.mark.vcr
def test_the_template_server_honours_only_named_choices_so_the_researcher_writes_text_and_the_analyst_is_forced():
    profile = probe(TEMPLATE, "qwen-coder", factory, nonce=NONCE)
    assert {k: c.outcome for k, c in profile.checks.items()} == {
        "named": "honoured", "required": "ignored", "auto": "json", "tool_history": "error", "tool_results": "seen",
        "json_schema": "error", "json_mode": "valid", "json_object_schema": "enforced"}
    assert profile.checks["named"].detail == 'record_word {"word": "done"}'  # it asked for finish
    assert profile.checks["tool_results"].detail == f"'{NONCE}'"
    assert profile.checks["json_object_schema"].detail == """'{"color": "amber"}'"""  # the sky is not amber
    researcher, analyst = choose_modes(profile, "researcher"), choose_modes(profile, "analyst")
    # no native or forced calls: the researcher on the text protocol (its small-model runs), the analyst's queries
    # through the two-stage forced choice
    assert (researcher.tools, researcher.tool_results, researcher.tool_call_text) == ("text", "tool_messages", True)
    assert (researcher.design_form, researcher.max_tokens) == ("functions", 600)
    assert (analyst.tools, analyst.structured) == ("named_router", "json_object_schema")


@pytest.mark.vcr
def test_the_function_calling_server_drops_tool_results_so_they_go_back_as_user_messages():
    profile = probe(FUNCTION_CALLING, "qwen-coder", factory, nonce=NONCE)
    assert {k: c.outcome for k, c in profile.checks.items()} == {
        "named": "honoured", "required": "error", "auto": "native", "tool_history": "error",
        "tool_results": "dropped", "json_schema": "error", "json_mode": "valid", "json_object_schema": "enforced"}
    assert profile.checks["required"].error == "HTTP 500: (empty error message)"
    assert NONCE not in profile.checks["tool_results"].detail
    modes = choose_modes(profile, "analyst")
    assert (modes.tools, modes.tool_results, modes.structured) == ("native_auto", "user_messages",
                                                                    "json_object_schema")


@IN_ORDER
@pytest.mark.parametrize(("base_url", "shape", "args"), [
    (TEMPLATE, "json", {"candidate": "policy.py", "label": "baseline", "hypothesis": ""}),
    (FUNCTION_CALLING, "functions_prefix", {})], ids=["template", "function_calling"])
def test_a_request_for_a_tool_call_is_answered_with_a_call_the_parser_reads(base_url, shape, args):
    model = real_model(base_url, max_tokens=200).bind_tools(langchain_tools(RESEARCHER_TOOLS), tool_choice="auto")
    reply = model.invoke(researcher_turn("First measure the starting design: call run_simulation."))
    assert not reply.tool_calls  # neither server returned a native call for this turn
    parsed = parse_reply(reply)
    assert parsed.ok and [(a.name, a.args, a.source) for a in parsed.actions] == [("run_simulation", args, shape)]


@IN_ORDER
@pytest.mark.parametrize(("base_url", "class_name"), [(TEMPLATE, "Router"), (FUNCTION_CALLING, "ImprovedRouter")],
                         ids=["template", "function_calling"])
def test_a_request_for_a_policy_is_answered_with_code_that_loads(base_url, class_name, tmp_path):
    reply = real_model(base_url, max_tokens=700).invoke(researcher_turn(
        "Write an improved policy: the whole file in one ```python block defining a class with a schedule(self) "
        "method. Prefer the replica with the most free KV blocks."))
    parsed = parse_reply(reply)
    assert parsed.ok and parsed.shape == "code_block"
    action = parsed.actions[0]
    assert action.name == POLICY and action.args["class_name"] == class_name
    path = tmp_path / "policy.py"
    path.write_text(action.args["code"])
    assert load_policy(str(path)).__name__ == class_name
    assert "&#" not in action.args["code"]


@IN_ORDER
def test_the_two_stage_router_gets_a_valid_call_from_the_template_server():
    base = real_model(TEMPLATE, max_tokens=60)
    messages = researcher_turn("First measure the starting design.")
    choose = base.bind_tools([choose_action_tool(RESEARCHER_TOOLS)], tool_choice="choose_action").invoke(messages)
    action = choose.tool_calls[0]["args"]["action"]
    assert action == "run_simulation"
    call = base.bind_tools(langchain_tools(RESEARCHER_TOOLS), tool_choice=action).invoke(messages)
    parsed = parse_reply(call)
    assert parsed.ok and [(a.name, a.source) for a in parsed.actions] == [("run_simulation", "native")]
    assert parsed.actions[0].args == {"label": "Starting Design", "hypothesis": ""}


LEDGER = [{"id": "c1-e1", "label": "baseline llq", "candidate": "policy.py", "metrics": {"mean_e2e_s": 40.2,
                                                                                        "restart_fraction": 0.19},
           "verdict": "baseline"},
          {"id": "c1-e2", "label": "head-room admission", "candidate": "policy.py",
           "metrics": {"mean_e2e_s": 24.9, "restart_fraction": 0.02}, "verdict": "improved"}]


@IN_ORDER
@pytest.mark.parametrize("base_url", [TEMPLATE, FUNCTION_CALLING], ids=["template", "function_calling"])
def test_a_supervisor_decision_from_the_real_model_is_valid_by_the_method_the_probe_chose(base_url):
    task = load_task("routing")
    request = prompts.supervisor_request(task, "the researcher wants to stop", LEDGER,
                                         [{"text": "19 % of requests restarted under llq"}],
                                         "Head-room admission removes almost all restarts.",
                                         {"id": "c1-e2", "label": "head-room admission", "value": 24.9})
    messages = [SystemMessage(content=prompts.SUPERVISOR_SYSTEM), HumanMessage(content=request)]
    answer = structured_answer(real_model(base_url, max_tokens=150), SupervisorDecision, messages,
                               "json_object_schema", decision_from_text)
    assert answer.method == "json_object_schema" and not answer.errors and len(answer.raws) == 1
    assert answer.value.decision == "combine" and "head-room admission" in answer.value.message
    assert answer.raws[0].usage_metadata["output_tokens"] < 150
