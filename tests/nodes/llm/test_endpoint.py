"""The endpoint probe against emulated servers of each kind (the real ChatOpenAI client over an in-process HTTP
transport), its cache in the workspace, and ``glia doctor``."""

from __future__ import annotations

import json

import httpx
import pytest
from langchain_openai import ChatOpenAI

from glia.graph.cli import main
from glia.graph.config import RunConfig
from glia.nodes.llm import endpoint
from glia.nodes.llm.endpoint import CACHE_FILE, EndpointUnreachable, probe, profile_for
from glia.nodes.llm.modes import choose_modes
from glia.simulator.isolation import confine
from tests.support.servers import SERVERS, Model, Say, typical_model

NONCE = "ZEBRA-1234"

EXPECTED = {  # kind -> (check outcomes in probe order, the analyst's tools / tool results / structured / text)
    "openai": (["honoured", "honoured", "native", "accepted", "seen", "enforced", "valid", "not_enforced"],
               ("native_auto", "tool_messages", "json_schema", False)),
    "ollama": (["ignored", "ignored", "native", "accepted", "seen", "enforced", "valid", "not_enforced"],
               ("native_auto", "tool_messages", "json_schema", False)),
    "llama-server": (["ignored", "honoured", "native", "accepted", "seen", "enforced", "valid", "not_enforced"],
                     ("native_auto", "tool_messages", "json_schema", False)),
    "llama-cpp-python-fc": (["honoured", "error", "native", "error", "dropped", "error", "valid", "enforced"],
                            ("native_auto", "user_messages", "json_object_schema", True)),
    "llama-cpp-python": (["honoured", "ignored", "tool_call_tag", "error", "seen", "error", "valid", "enforced"],
                         ("named_router", "tool_messages", "json_object_schema", True)),
}


@pytest.mark.parametrize("kind", list(EXPECTED))
def test_the_probe_finds_what_each_server_kind_does_and_picks_modes_from_it(kind):
    server = SERVERS[kind](typical_model())
    profile = probe("http://emulated/v1", "m", server.factory, nonce=NONCE)
    outcomes, modes = EXPECTED[kind]
    assert [c.outcome for c in profile.checks.values()] == outcomes
    assert list(profile.checks) == list(endpoint.CHECKS)
    chosen = choose_modes(profile, "analyst")
    assert (chosen.tools, chosen.tool_results, chosen.structured, chosen.tool_call_text) == modes
    assert all(c.latency_s >= 0 for c in profile.checks.values())


def test_the_probe_sends_each_check_as_the_server_needs_to_see_it():
    server = SERVERS["openai"](typical_model())
    probe("http://emulated/v1", "m", server.factory, nonce=NONCE)
    named, required, auto, history, results, schema, mode, object_schema = server.requests
    assert named["tool_choice"] == {"type": "function", "function": {"name": "record_word"}}
    assert required["tool_choice"] == "required" and auto["tool_choice"] == "auto"
    assert history["messages"][2]["content"] is None and results["messages"][2]["content"] == endpoint.CALLING
    assert results["messages"][3] == {"content": f"The code is {NONCE}.", "role": "tool",
                                      "tool_call_id": "call_probe_note"}
    assert schema["response_format"]["type"] == "json_schema"
    assert mode["response_format"] == {"type": "json_object"} and "schema" in mode["messages"][0]["content"]
    assert object_schema["response_format"]["schema"]["properties"]["color"]["enum"] == ["amber", "teal"]
    for body, check in zip(server.requests, endpoint.CHECKS, strict=True):
        limit = endpoint.LIMITS[check]
        assert (body["temperature"], body["max_completion_tokens"], body["max_tokens"]) == (0.0, limit, limit)


def test_openais_own_endpoint_is_probed_without_token_limits_for_its_reasoning_models():
    server = SERVERS["openai"](typical_model())
    profile = probe(None, "gpt-5-mini", server.factory, nonce=NONCE)
    assert profile.base_url == endpoint.OPENAI_URL
    assert not any("max_tokens" in body or "max_completion_tokens" in body for body in server.requests)


def test_the_function_calling_server_hides_tool_results_and_escapes_text_from_the_model():
    model = typical_model()
    probe("http://emulated/v1", "m", SERVERS["llama-cpp-python-fc"](model).factory, nonce=NONCE)
    note_view = next(v for v in model.views if v.last == endpoint.PROMPTS["tool_results"])
    assert [m["content"] for m in note_view.messages if m["role"] == "tool"] == [""]
    assert NONCE not in note_view.text()
    auto_view = next(v for v in model.views if "kiwi" in v.last)
    assert auto_view.last == "Call the record_word tool with the word &#39;kiwi&#39;."  # as the template renders it


def test_a_check_that_fails_is_recorded_with_its_error_and_the_rest_still_run():
    model = typical_model()
    calls = {"n": 0}
    server = SERVERS["openai"](model)

    def flaky(request):
        calls["n"] += 1
        if calls["n"] == 3:  # the auto check
            raise httpx.ReadTimeout("timed out", request=request)
        return server(request)

    def factory(base_url, name):
        return ChatOpenAI(model=name, base_url=base_url, api_key="k", max_retries=0,
                          http_client=httpx.Client(transport=httpx.MockTransport(flaky)))
    profile = probe("http://emulated/v1", "m", factory, nonce=NONCE)
    auto = profile.checks["auto"]
    assert (auto.outcome, auto.ok, auto.error) == ("error", False, "no answer within 120 s")
    assert profile.checks["json_schema"].outcome == "enforced"
    fc = probe("http://emulated/v1", "m", SERVERS["llama-cpp-python-fc"](typical_model()).factory, nonce=NONCE)
    assert fc.checks["required"].error == "HTTP 500: (empty error message)"
    assert fc.checks["tool_history"].error == ("HTTP 500: request rejected: messages.2.content: Input should be a "
                                               "valid string")
    assert fc.checks["json_schema"].error == ("HTTP 500: request rejected: response_format.type: Input should be "
                                              "'text' or 'json_object'")


def test_an_endpoint_that_is_not_there_raises_and_nothing_is_cached(tmp_path):
    def refuse(request):
        raise httpx.ConnectError("connection refused", request=request)

    def factory(base_url, name):
        return ChatOpenAI(model=name, base_url=base_url, api_key="k", max_retries=0,
                          http_client=httpx.Client(transport=httpx.MockTransport(refuse)))
    with pytest.raises(EndpointUnreachable, match=r"cannot reach the model endpoint http://127.0.0.1:9/v1 \(model m\): "
                                                  r"connection refused; .*`glia doctor --model m --base-url "):
        profile_for(tmp_path, "http://127.0.0.1:9/v1", "m", factory)
    assert not (tmp_path / CACHE_FILE).exists()


def test_profiles_are_cached_per_endpoint_and_model_and_probed_again_when_asked_or_stale(tmp_path, user_cache):
    server = SERVERS["ollama"](typical_model())
    first, source = profile_for(tmp_path, "http://a/v1", "m", server.factory)
    assert source == "probed" and len(server.requests) == len(endpoint.CHECKS)
    again, source = profile_for(tmp_path, "http://a/v1/", "m", server.factory)
    assert source == "workspace" and again == first and len(server.requests) == len(endpoint.CHECKS)
    profile_for(tmp_path, "http://a/v1", "other", server.factory)
    profile_for(tmp_path, "http://a/v1", "m", server.factory, refresh=True)
    assert len(server.requests) == 3 * len(endpoint.CHECKS)
    for where in (tmp_path / CACHE_FILE, user_cache / CACHE_FILE):  # the workspace's and the user's, alike
        stored = json.loads(where.read_text())
        assert sorted(stored) == ["http://a/v1 m", "http://a/v1 other"]
        stored["http://a/v1 m"]["probe_version"] = 0
        where.write_text(json.dumps(stored))
    assert profile_for(tmp_path, "http://a/v1", "m", server.factory)[1] == "probed"  # stale in both
    for where in (tmp_path / CACHE_FILE, user_cache / CACHE_FILE):
        where.write_text("{not json")
    assert profile_for(tmp_path, "http://a/v1", "m", server.factory)[1] == "probed"


def test_a_new_workspace_reads_the_users_cached_profile_instead_of_probing_again(tmp_path, user_cache, monkeypatch):
    """A slow local server took 8 calls and about 9 minutes to probe, again in every new workspace: the profile is
    kept per user too (``GLIA_CACHE_DIR``, else ``$XDG_CACHE_HOME/glia``, else ``~/.cache/glia``), read after the
    workspace's, and copied into the new workspace; ``refresh`` still probes."""
    server = SERVERS["ollama"](typical_model())
    first, source = profile_for(tmp_path / "ws1", "http://a/v1", "m", server.factory)
    assert source == "probed" and (user_cache / CACHE_FILE).is_file()
    again, source = profile_for(tmp_path / "ws2", "http://a/v1", "m", server.factory)
    assert source == "user cache" and again == first and len(server.requests) == len(endpoint.CHECKS)
    assert json.loads((tmp_path / "ws2" / CACHE_FILE).read_text()) == {"http://a/v1 m": first.model_dump()}
    assert profile_for(tmp_path / "ws2", "http://a/v1", "m", server.factory)[1] == "workspace"
    assert profile_for(tmp_path / "ws3", "http://a/v1", "m", server.factory, refresh=True)[1] == "probed"
    assert len(server.requests) == 2 * len(endpoint.CHECKS)
    monkeypatch.delenv("GLIA_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert endpoint.user_cache() == tmp_path / "xdg" / "glia" / CACHE_FILE
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert endpoint.user_cache() == tmp_path / "home" / ".cache" / "glia" / CACHE_FILE


def test_the_run_says_its_endpoint_profile_came_from_the_users_cache(tmp_path):
    server = SERVERS["ollama"](typical_model())
    profile_for(tmp_path / "elsewhere", "http://a/v1", "m", server.factory)
    config = RunConfig.build("job-placement", budget_sims=1, model="m", base_url="http://a/v1", llm=True,
                             workspace=tmp_path / "new")
    notes = config.choose_modes(server.factory)
    # the first role's profile comes from the user's cache into the workspace, where the other roles find it
    assert notes[0].endswith("(m at http://a/v1, cached profile (user cache))")
    assert len(notes) == 4 and all(n.endswith("(m at http://a/v1, cached profile)") for n in notes[1:])
    assert len(server.requests) == len(endpoint.CHECKS)  # probed once, in the other workspace


@pytest.fixture
def emulated(monkeypatch):
    """``glia doctor`` on an emulated llama-cpp-python chatml-function-calling server."""
    server = SERVERS["llama-cpp-python-fc"](typical_model())
    monkeypatch.setattr(endpoint, "default_factory", server.factory)
    return server


def test_glia_doctor_prints_each_check_the_modes_and_advice_and_caches_the_profile(emulated, tmp_path, capsys):
    args = ["doctor", "--model", "qwen-coder", "--base-url", "http://127.0.0.1:8766/v1", "--workspace",
            str(tmp_path)]
    assert main(args) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == f"isolation: {confine.available().level}"  # the isolation section comes first
    lines = lines[lines.index("  shell commands: confined") + 1:]
    assert lines[0].startswith("endpoint http://127.0.0.1:8766/v1  model qwen-coder  probed ")
    assert any(line.startswith('tool_choice "required"   error          no ') and "HTTP 500" in line
               for line in lines)
    assert any(line.startswith("tool results seen        dropped        no ") for line in lines)
    assert "researcher  native_auto   user_messages  -" in lines
    assert "supervisor  -             -              json_object_schema" in lines
    assert "summarizer  -             -              -  (plain text)" in lines
    assert "- This looks like llama-cpp-python's chatml-function-calling format" in out
    assert (tmp_path / CACHE_FILE).exists()
    requests = len(emulated.requests)
    assert main(args + ["--endpoint", "researcher.tools=text"]) == 0
    again = capsys.readouterr().out
    endpoint_line = next(line for line in again.splitlines() if line.startswith("endpoint "))
    assert "(cached; --refresh probes again)" in endpoint_line and len(emulated.requests) == requests
    assert "researcher  text          user_messages  -" in again
    assert main(args + ["--json", "--refresh"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["cached"] is False and data["modes"]["supervisor"]["structured"] == "json_object_schema"
    assert data["isolation"]["level"] == confine.available().level and data["isolation"]["confined"]
    assert data["profile"]["checks"]["tool_results"]["outcome"] == "dropped"


def test_glia_doctor_explains_a_bad_override_or_a_missing_model(emulated, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("GLIA_MODEL", raising=False)
    assert main(["doctor", "--workspace", str(tmp_path)]) == 0  # the isolation section alone
    assert capsys.readouterr().out.splitlines()[-1] == (
        "model endpoint: none configured (pass --model or set GLIA_MODEL to probe one)")
    assert main(["doctor", "--model", "m", "--workspace", str(tmp_path), "--endpoint", "researcher.tools=fast"]) == 2
    assert ("researcher.tools must be one of native_auto, required, named_router, text, got 'fast'"
            in capsys.readouterr().err)
    assert not emulated.requests


def test_a_model_that_answers_prose_everywhere_is_probed_without_crashing():
    server = SERVERS["openai"](Model(Say("I am not sure.")))
    profile = probe("http://emulated/v1", "m", server.factory, nonce=NONCE)
    assert profile.checks["auto"].outcome == "none" and profile.checks["tool_results"].outcome == "dropped"
    assert profile.checks["json_mode"].outcome == "valid"  # the server's JSON mode wraps whatever was said
