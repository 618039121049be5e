"""Choosing each role's modes from a profile, overriding them, adapting a conversation to the endpoint, and the
two-stage router on a server that honours only named choices."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage

from glia.nodes.llm.endpoint import Check, EndpointProfile
from glia.nodes.llm.modes import (
    adapt_messages,
    advice,
    choose_action_tool,
    choose_modes,
    endpoint_lines,
    parse_overrides,
)
from glia.tools.toolkit import RESEARCHER_TOOLS
from tests.support.servers import SERVERS, Call, Model

GOOD = {"named": "honoured", "required": "honoured", "auto": "native", "tool_history": "accepted",
        "tool_results": "seen", "json_schema": "enforced", "json_mode": "valid", "json_object_schema": "enforced"}


def profile(**outcomes) -> EndpointProfile:
    checks = {k: Check(outcome=v, ok=v in ("honoured", "native", "accepted", "seen", "enforced", "valid"))
              for k, v in {**GOOD, **outcomes}.items()}
    return EndpointProfile(base_url="http://x/v1", model="m", probed_at="2026-01-01T00:00:00+00:00", checks=checks)


@pytest.mark.parametrize(("outcomes", "tools"), [
    ({}, "native_auto"),
    ({"auto": "json"}, "required"),
    ({"auto": "none", "required": "error"}, "named_router"),
    ({"auto": "tool_call_tag", "required": "ignored", "named": "ignored"}, "text"),
])
def test_the_best_tool_mode_the_endpoint_supports_is_chosen(outcomes, tools):
    assert choose_modes(profile(**outcomes), "analyst").tools == tools
    # the researcher, on an endpoint with no native or forced calls, writes its action as text
    assert choose_modes(profile(**outcomes)).tools == (tools if tools in ("native_auto", "required") else "text")


@pytest.mark.parametrize(("outcomes", "method"), [
    ({}, "json_schema"),
    ({"json_schema": "error"}, "json_object_schema"),
    ({"json_schema": "not_enforced", "json_object_schema": "not_enforced"}, "json_mode"),
    ({"json_schema": "error", "json_object_schema": "error", "json_mode": "error"}, "function_calling"),
    ({"json_schema": "error", "json_object_schema": "error", "json_mode": "invalid", "named": "ignored"}, "text"),
])
def test_the_best_structured_output_method_is_chosen(outcomes, method):
    assert choose_modes(profile(**outcomes), "supervisor").structured == method


def test_dropped_tool_results_and_rejected_tool_call_turns_change_how_the_conversation_is_sent():
    modes = choose_modes(profile(tool_results="dropped", tool_history="error"))
    assert (modes.tool_results, modes.tool_call_text) == ("user_messages", True)
    assert modes.why == {"tools": "auto native, required honoured, named honoured",
                         "structured": "json_schema enforced, json_object + schema enforced, JSON mode valid",
                         "tool_results": "tool results dropped", "tool_call_text": "tool-call turn without text error",
                         "max_tokens": "the researcher's default", "design_form": "tools native_auto: the whole class"}


def test_overrides_apply_to_all_roles_then_to_one_and_say_so():
    overrides = parse_overrides(["all.structured=json_mode", "researcher.tools=text"],
                                {"supervisor": {"structured": "text"}, "all": {"tool_call_text": True}})
    assert overrides == {"all": {"structured": "json_mode", "tool_call_text": "true"},
                         "researcher": {"tools": "text"}, "supervisor": {"structured": "text"}}
    researcher = choose_modes(profile(), "researcher", overrides)
    assert (researcher.tools, researcher.structured, researcher.tool_call_text) == ("text", "json_mode", True)
    assert researcher.why["tools"] == "override"
    assert choose_modes(profile(), "supervisor", overrides).structured == "text"
    assert choose_modes(profile(), "analyst", overrides).tools == "native_auto"


@pytest.mark.parametrize(("pairs", "message"), [
    (["researcher.tools"], "an endpoint override is ROLE.KEY=VALUE"),
    (["tools=text"], "an endpoint override is ROLE.KEY=VALUE"),
    (["critic.tools=text"], "unknown role 'critic' in endpoint overrides; roles: researcher, analyst, supervisor"),
    (["analyst.speed=fast"], "unknown endpoint override key 'speed' for analyst; keys: tools, structured"),
    (["all.tool_results=email"], "all.tool_results must be one of tool_messages, user_messages, got 'email'"),
])
def test_a_bad_override_names_what_is_allowed(pairs, message):
    with pytest.raises(ValueError, match=message):
        parse_overrides(pairs)


def conversation():
    call = {"name": "run_simulation", "args": {"label": "base"}, "id": "c1", "type": "tool_call"}
    return [SystemMessage(content="sys"), HumanMessage(content="go"), AIMessage(content="", tool_calls=[call]),
            ToolMessage(content='{"mean_e2e_s": 40.2}', tool_call_id="c1", name="run_simulation")]


def test_a_conversation_is_adapted_to_an_endpoint_that_drops_tool_results():
    modes = choose_modes(profile(tool_results="dropped", tool_history="error"))
    sys_msg, human, ai, result = adapt_messages(conversation(), modes)
    assert (sys_msg.content, human.content) == ("sys", "go")
    assert isinstance(ai, AIMessage) and not ai.tool_calls
    assert ai.content == '<tool_call>{"name": "run_simulation", "arguments": {"label": "base"}}</tool_call>'
    assert isinstance(result, HumanMessage) and result.content == '[result of run_simulation]\n{"mean_e2e_s": 40.2}'


def test_a_tool_call_turn_gets_a_text_only_where_the_endpoint_needs_one():
    needs = adapt_messages(conversation(), choose_modes(profile(tool_history="error")))
    assert needs[2].content == "Calling run_simulation." and needs[2].tool_calls[0]["id"] == "c1"
    assert isinstance(needs[3], ToolMessage)
    assert adapt_messages(conversation(), choose_modes(profile())) == conversation()


def test_the_two_stage_router_forces_a_listed_action_then_its_arguments_on_a_named_only_server():
    server = SERVERS["llama-cpp-python"](Model(Call("choose_action", {"action": "dance"}),
                                               Call("run_simulation", {"label": "baseline"})))
    chat = server.chat_model()
    first = chat.bind_tools([choose_action_tool(RESEARCHER_TOOLS)], tool_choice="choose_action").invoke("go")
    action = first.tool_calls[0]["args"]["action"]
    assert action in RESEARCHER_TOOLS  # the grammar allows only the listed actions
    second = chat.bind_tools([choose_action_tool(["run_simulation"])], tool_choice="choose_action").invoke("go")
    assert second.tool_calls[0]["args"] == {"action": "run_simulation"}
    enum = server.requests[0]["tools"][0]["function"]["parameters"]["properties"]["action"]["enum"]
    assert enum == list(RESEARCHER_TOOLS)


def test_advice_names_the_server_setting_to_change():
    fc = advice(profile(required="error", tool_results="dropped", tool_history="error", json_schema="error"))
    assert fc[0].startswith("This looks like llama-cpp-python's chatml-function-calling format")
    assert "Prefer the model's own template" in fc[0]
    assert any("with the schema as a grammar" in tip for tip in fc)
    template = advice(profile(required="ignored", auto="json", tool_history="error", json_schema="error"))
    assert any('tool calls come back as text (json): replies are parsed for them' in tip for tip in template)
    assert advice(profile()) == ["Everything Glia uses works natively on this endpoint."]
    assert any("named tool_choice is ignored" in tip for tip in advice(profile(named="ignored")))


def test_the_doctor_table_lists_every_check_and_role():
    lines = endpoint_lines(profile(auto="json", required="ignored"), cached=True)
    assert lines[0] == ("endpoint http://x/v1  model m  probed 2026-01-01T00:00:00+00:00  (cached; --refresh probes "
                        "again)")
    assert lines[2].split() == ["check", "result", "ok", "latency", "detail"]
    assert lines[5] == 'tool_choice "auto"       json           no     0.00s'
    assert "researcher  text          tool_messages  -" in lines
    assert "analyst     named_router  tool_messages  json_schema" in lines
    assert "  tools named_router: auto json, required ignored, named honoured" in lines
    assert all(len(line) <= 120 for line in lines)


def test_a_long_error_wraps_under_its_detail_column():
    long = "HTTP 500: request rejected: response_format.type: Input should be 'text' or 'json_object'"
    checks = profile().checks | {"json_schema": Check(outcome="error", ok=False, error=long)}
    lines = endpoint_lines(profile().model_copy(update={"checks": checks}))
    at = next(i for i, line in enumerate(lines) if line.startswith("json_schema enforced"))
    assert lines[at].endswith("HTTP 500: request rejected: response_format.type: Input should be")
    assert lines[at + 1] == " " * 54 + "'text' or 'json_object'"


def test_a_weak_endpoint_gives_the_researcher_the_defaults_the_small_model_runs_found_and_says_why():
    """The local 1.5B model's profile (llama.cpp: calls come back as JSON text, "required" ignored, a named choice
    honoured): its runs worked with the text protocol, the functions form and 600-token replies, passed as flags
    (benchmarks/real_model.py); they are the defaults now, said at the run's start, and overridable."""
    from glia.nodes.llm.modes import weak_notes
    small = profile(auto="json", required="ignored", json_schema="error", tool_history="error")
    modes = {role: choose_modes(small, role).model_dump() for role in ("researcher", "analyst")}
    r = modes["researcher"]
    assert (r["tools"], r["design_form"], r["max_tokens"]) == ("text", "functions", 600)
    assert r["why"]["tools"].endswith("no reliable native or forced tool calls: the text protocol (not named_router)")
    notes = weak_notes(modes, {"researcher": "llm", "analyst": "llm"})
    assert notes[0].startswith("researcher on a weak endpoint, with the defaults the small-model runs worked with: "
                               "tools text (auto json, required ignored, named honoured; no reliable native")
    assert "design_form functions (" in notes[0] and "max_tokens 600 (" in notes[0]
    assert notes[0].endswith("Override with --endpoint researcher.tools=named_router, researcher.design_form=class "
                             "or researcher.max_tokens=N.")
    # the analyst is not made offline behind the user's back: it is recommended, and stays on the model
    assert notes[1].startswith("analyst on a weak endpoint: recommended --impl analyst=offline")
    assert modes["analyst"]["tools"] == "named_router"
    assert weak_notes(modes, {"researcher": "llm", "analyst": "offline"}) == notes[:1]
    # every default gives way to an override, and the note names only what was not overridden
    over = choose_modes(small, "researcher", parse_overrides(["researcher.tools=named_router",
                                                               "researcher.design_form=class"]))
    assert (over.tools, over.design_form, over.max_tokens) == ("named_router", "class", 4096)
    assert weak_notes({"researcher": over.model_dump()}, {"researcher": "llm"}) == []
    # a strong endpoint: nothing to say
    strong = {role: choose_modes(profile(), role).model_dump() for role in ("researcher", "analyst")}
    assert weak_notes(strong, {"researcher": "llm", "analyst": "llm"}) == []
