"""Structured answers by each method, against emulated servers: valid objects whatever the server does, one repair
with the validation error, and a plain-text fallback that never approves by accident."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage

from glia.nodes.llm.structured import (
    REPAIR_PROMPT,
    AnalystFindings,
    SupervisorDecision,
    decision_from_text,
    findings_from_text,
    structured_answer,
)
from tests.support.servers import SERVERS, Call, Json, Model, Say

DATA = Path(__file__).parents[2] / "data"

ASK = [SystemMessage(content="You are the Supervisor."), HumanMessage(content="The best design beats llq by 30 %.")]
APPROVE = {"decision": "approve", "message": "Ship it."}


def ask(kind: str, model: Model, method: str, schema=SupervisorDecision, fallback=decision_from_text):
    server = SERVERS[kind](model)
    return structured_answer(server.chat_model(), schema, ASK, method, fallback), server


@pytest.mark.parametrize(("kind", "method"), [("openai", "json_schema"), ("openai", "function_calling"),
                                              ("llama-server", "json_schema"), ("ollama", "json_mode"),
                                              ("llama-cpp-python", "json_object_schema"),
                                              ("llama-cpp-python-fc", "json_object_schema")])
def test_a_valid_answer_comes_back_by_the_method_the_profile_chose(kind, method):
    answer, server = ask(kind, Model(Json(APPROVE)), method)
    assert answer.value == SupervisorDecision(**APPROVE) and answer.method == method and not answer.errors
    assert len(answer.raws) == 1 and answer.raws[0].usage_metadata["input_tokens"] > 0
    body = server.requests[0]
    sent = {"json_schema": lambda b: b["response_format"]["type"] == "json_schema",
            "function_calling": lambda b: b["tool_choice"]["function"]["name"] == "SupervisorDecision",
            "json_mode": lambda b: b["response_format"] == {"type": "json_object"},
            "json_object_schema": lambda b: b["response_format"]["schema"]["required"] == ["decision", "message"]}
    assert sent[method](body)
    schema_in_prompt = '"enum": ["approve", "continue", "stop_line", "combine"]' in body["messages"][0]["content"]
    assert schema_in_prompt == (method in ("json_mode", "json_object_schema"))


def test_a_grammar_makes_an_out_of_schema_wish_valid():
    answer, _ = ask("llama-cpp-python", Model(Json({"decision": "ship it", "message": "Good."})),
                    "json_object_schema")
    assert answer.value.decision == "approve" and answer.method == "json_object_schema"  # the enum's first value


def test_an_invalid_answer_is_repaired_once_with_the_validation_error():
    answer, server = ask("ollama", Model(Json({"decision": "ship it", "message": "Good."}), Json(APPROVE)),
                         "json_mode")
    assert answer.value.decision == "approve" and answer.method == "json_mode" and len(answer.raws) == 2
    repair = server.requests[1]["messages"]
    assert repair[-2] == {"content": json.dumps({"decision": "ship it", "message": "Good."}), "role": "assistant"}
    assert repair[-1]["content"].startswith(REPAIR_PROMPT.split("{error}")[0])
    assert "decision: Input should be 'approve', 'continue', 'stop_line' or 'combine'" in repair[-1]["content"]


def test_a_server_that_ignores_a_forced_function_still_yields_a_decision_from_the_text():
    answer, server = ask("ollama", Model(Say("I approve: the design is measured and better.")), "function_calling")
    assert answer.method == "text_fallback" and len(server.requests) == 2
    assert answer.value == SupervisorDecision(decision="continue",
                                              message="I approve: the design is measured and better.")
    assert answer.errors == ["not a JSON object of the schema: 'I approve: the design is measured and better.'"] * 2


def test_a_method_the_server_rejects_falls_back_to_asking_in_plain_text():
    answer, server = ask("llama-cpp-python", Model(Say('Sure: {"decision": "stop_line", "message": "Enough."}')),
                         "json_schema")
    assert answer.value == SupervisorDecision(decision="stop_line", message="Enough.")
    assert answer.method == "text" and answer.errors == [
        "json_schema: HTTP 500: request rejected: response_format.type: Input should be 'text' or 'json_object'"]
    last = server.requests[-1]
    assert "response_format" not in last and "JSON schema" in last["messages"][0]["content"]


def test_a_model_that_never_answers_in_json_still_gives_valid_findings():
    prose = "Findings:\n- 21 % of requests restarted\n- KV cache 97 % full\nThat is all."
    answer, server = ask("openai", Model(Say(prose)), "text", AnalystFindings, findings_from_text)
    assert answer.method == "text_fallback" and len(server.requests) == 2
    assert [f.text for f in answer.value.findings] == ["21 % of requests restarted", "KV cache 97 % full"]


def test_a_decision_is_read_from_prose_only_when_named_and_is_never_an_accidental_approval():
    assert decision_from_text("Decision: stop_line. The tail is hopeless.").decision == "stop_line"
    assert decision_from_text("approve - it is twice as fast").decision == "approve"
    assert decision_from_text("I cannot approve a design that was never measured.").decision == "continue"
    assert decision_from_text("").message == "Continue."
    assert findings_from_text("One plain sentence.").findings[0].text == "One plain sentence."


def test_a_json_answer_escaped_as_html_is_read():
    escaped = "{&quot;decision&quot;: &quot;combine&quot;, &quot;message&quot;: &quot;Mix H1 and H2.&quot;}"
    answer, _ = ask("openai", Model(Say(escaped)), "text")
    assert answer.value == SupervisorDecision(decision="combine", message="Mix H1 and H2.")
    assert answer.method == "text_fallback"


def test_the_forced_function_call_of_a_server_that_honours_it_is_the_answer():
    answer, server = ask("llama-cpp-python", Model(Call("SupervisorDecision", APPROVE)), "function_calling")
    assert answer.value.decision == "approve" and answer.method == "function_calling"
    assert server.requests[0]["tool_choice"] == {"type": "function", "function": {"name": "SupervisorDecision"}}


def test_an_endpoint_that_rejects_every_request_still_yields_a_valid_default_and_says_why():
    server = SERVERS["llama-cpp-python"](Model(Say("unused")))
    chat = server.chat_model()
    call = {"name": "run_simulation", "args": {}, "id": "c1", "type": "tool_call"}
    history = [*ASK, AIMessage(content="", tool_calls=[call]), ToolMessage(content="{}", tool_call_id="c1")]
    answer = structured_answer(chat, SupervisorDecision, history, "json_object_schema", decision_from_text)
    assert answer.value == SupervisorDecision(decision="continue", message="Continue.")
    assert answer.method == "text_fallback" and len(answer.errors) == 2 and not answer.raws
    assert all("messages.2.content: Input should be a valid string" in e for e in answer.errors)


class HandServer(SERVERS["openai"]):
    """The hand-answered endpoint the frontier runs went through: it takes a json_schema response_format and
    enforces nothing (the reply is what its player wrote)."""

    kind = "hand"
    json_schema = False


def test_prose_findings_asked_again_as_json_are_told_why_and_the_shape_wanted():
    """routing-4 requests 12-13: the analyst's findings came back as prose under a json_schema response_format; the
    harness asked again with the schema in the system message and no word on why (the player: "unclear whether
    req12 was rejected or this is a planned structured pass")."""
    replies = [r for r in json.loads((DATA / "frontier-routing-4" / "replay.json").read_text())["replies"]
               if r["n"] in (12, 13)]
    prose, again = replies[0]["content"], replies[1]["content"]
    assert prose.startswith("1. Preemption is the dominant cost") and again.startswith('{"findings"')
    server = HandServer(Model(Say(prose), Say(again)))
    asked = [SystemMessage(content="You are the Analyst of Glia."), HumanMessage(content="Write your findings.")]
    answer = structured_answer(server.chat_model(), AnalystFindings, asked, "json_schema", findings_from_text)
    assert len(answer.value.findings) == 5 and answer.value.findings[0].text.startswith("Preemption is the dominant")
    first, second = server.requests
    assert first["response_format"]["type"] == "json_schema"
    said, why = second["messages"][-2:]
    assert said == {"role": "assistant", "content": prose}   # its own answer, which it is asked to re-send
    assert why["content"].startswith("[harness] Your answer came back as prose, not the JSON object this step needs")
    assert "Invalid JSON" in why["content"] and why["content"].endswith('{"findings": [{"text": "..."}]}')
    assert "JSON schema" in second["messages"][0]["content"] and "response_format" not in second
