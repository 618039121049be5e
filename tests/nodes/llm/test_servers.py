"""A whole run against each kind of OpenAI-compatible server, emulated at the HTTP layer (tests/support/servers.py): the
endpoint is probed, each role gets the modes its server supports, and a scripted model that writes designs as a
small model does (fenced code, then a finish) completes the research loop with real simulations, whatever the
server does with tool_choice and response_format. The designs are whole classes, so the researcher is in the class
form whatever the profile would choose (tests/nodes/test_design_form.py runs the functions form)."""

from __future__ import annotations

import html
from pathlib import Path

import pytest

from glia.graph.config import RunConfig
from glia.graph.runs import start_run
from glia.nodes import prompts
from tests.support.helpers import BY_BLOCKS_REPLY
from tests.support.servers import SERVERS, Call, Json, Model, Say, View, typical_model

TASK = str(Path(__file__).parents[2] / "tasks" / "quick.toml")
CLASS_FORM = ["researcher.design_form=class"]
LABELS = ["starter", "A new design: schedule() rewritten", "A new design: schedule() rewritten"]

DESIGNS = [BY_BLOCKS_REPLY, """```python
from glia.simulator import BaseGlobalScheduler


class ShortFirst(BaseGlobalScheduler):
    def schedule(self):
        self._request_queue.sort(key=lambda r: r.num_prefill_tokens)
        out = []
        while self._request_queue:
            rid = min(self._replica_schedulers, key=lambda i: self._replica_schedulers[i].num_active_requests)
            out.append((rid, self._request_queue.pop(0)))
        return out
```"""]


def research_model() -> Model:
    """Answers the probe as a capable model, and each role's turns the way a small model would: designs as fenced
    code, two of them, then a finish; the analyst queries nothing; the supervisor approves when the researcher is
    done."""
    probe = typical_model()

    def turn(view: View):
        system = view.messages[0]["content"] if view.messages and view.messages[0]["role"] == "system" else ""
        last = html.unescape(view.last)
        ran = html.unescape(view.text()).count("-> mean_e2e_s")
        if "Researcher of Glia" in system:
            if "choose_action" in view.tools:
                return Call("choose_action", {"action": "finish" if ran >= 3 else prompts.NEW_POLICY})
            if last.startswith("Now call finish") or (ran >= 3 and "finish" in view.tools):
                return Call("finish", {"summary": "route by KV blocks in use"})
            if ran >= 3:
                return Say('<tool_call>{"name": "finish", "arguments": {"summary": "route by KV blocks"}}</tool_call>')
            return Say(f"A new design:\n{DESIGNS[(ran - 1) % 2]}")
        if "Analyst of Glia" in system:
            return Say("DONE") if last == prompts.ANALYST_QUERY else Json(
                {"findings": [{"text": "restarts are frequent"}]})
        if "Supervisor of Glia" in system:
            done = "Why you are consulted: researcher done" in html.unescape(view.text())
            return Json({"decision": "approve" if done else "continue",
                         "message": "Ship it." if done else "Go on."})
        if "compact a research conversation" in system:
            return Say("The researcher measured two routers.")
        return probe.turns[0](view)

    return Model(turn)


@pytest.mark.parametrize("kind", sorted(SERVERS))
def test_a_whole_run_completes_on_each_kind_of_server(kind, tmp_path):
    server = SERVERS[kind](research_model())
    config = RunConfig.build(TASK, budget_sims=3, model="emulated", base_url=f"http://{kind}.emulated/v1",
                             workspace=tmp_path, settings={"retry_base_s": 0.0}, endpoint=CLASS_FORM)
    out = start_run(config, factory=server.factory)
    assert out.status == "finished", out.message
    ledger = sorted(out.state["ledger"], key=lambda e: e["seq"])
    assert [e["label"] for e in ledger] == LABELS      # what each changed, never its class name
    assert not any(e.get("error") for e in ledger)
    assert out.state["stop_reason"].startswith("approved")
    modes = RunConfig.load(out.thread_id, tmp_path).modes
    assert set(modes) == {"researcher", "analyst", "supervisor", "summarizer"}
    report = Path(out.to_json()["report"]).read_text()
    assert f"researcher modes: tools {modes['researcher']['tools']}" in report
    # no request the server rejects was sent during the run itself (the probe's are its findings)
    run_requests = server.requests[8:]
    assert run_requests and all(r.get("tool_choice") != "required" or kind != "llama-cpp-python-fc"
                                for r in run_requests)


def test_a_researcher_whose_native_calls_come_back_empty_goes_on_with_the_two_stage_choice(tmp_path):
    """Under llama-cpp-python's function-calling format the 1.5B model answered `functions.write_file:` with no
    arguments, turn after turn; once one is sent back the researcher chooses its action first, then writes code."""
    capable = research_model()

    def turn(view: View):
        researcher = view.messages and "Researcher of Glia" in view.messages[0]["content"]
        if researcher and "choose_action" not in view.tools and "write_file" in view.tools:
            return Call("write_file", {})
        return capable.turns[0](view)

    server = SERVERS["llama-cpp-python-fc"](Model(turn))
    config = RunConfig.build(TASK, budget_sims=3, model="emulated", base_url="http://fc.emulated/v1",
                             workspace=tmp_path, settings={"retry_base_s": 0.0}, endpoint=CLASS_FORM)
    out = start_run(config, factory=server.factory)
    assert out.status == "finished", out.message
    assert [e["label"] for e in sorted(out.state["ledger"], key=lambda e: e["seq"])] == LABELS
    usage = out.state["usage"]["researcher"]
    assert usage["repairs"] == 1 and usage["mode_fallbacks"] == 1       # one empty call, then the fallback held
    researcher = [r for r in server.requests[8:] if "Researcher of Glia" in str(r["messages"][0]["content"])]
    assert researcher[0]["tool_choice"] == "auto"
    assert all(r.get("tool_choice") != "auto" for r in researcher[1:])
    report = Path(out.to_json()["report"]).read_text()
    assert "researcher modes: tools native_auto (fallback named_router)" in report
    assert "went on in its fallback tool mode" in report


def test_a_refused_design_keeps_the_native_tool_mode_and_shows_the_call_it_refused(tmp_path):
    """A frontier model's patch that broke a static rule was refused (not charged), and the researcher then fell back
    to the two-stage choice for the rest of the run, which cost it two more turns (frontier-routing-3, request 45).
    A refused design says nothing about the tool-call format: the mode stays native, and the model's refused call is
    shown to it as the call it made, not as "(empty reply)"."""
    capable = research_model()
    refused: list[str] = []

    def turn(view: View):
        researcher = view.messages and "Researcher of Glia" in view.messages[0]["content"]
        if researcher and not refused and "write_file" in view.tools and "mean_e2e_s" in html.unescape(view.text()):
            refused.append("sent")
            code = DESIGNS[1].split("```python\n")[1].split("```")[0].replace("from glia", "import os\nfrom glia")
            return Call("write_file", {"path": "policy.py", "content": code})
        return capable.turns[0](view)

    server = SERVERS["llama-cpp-python-fc"](Model(turn))
    config = RunConfig.build(TASK, budget_sims=3, model="emulated", base_url="http://fc.emulated/v1",
                             workspace=tmp_path, settings={"retry_base_s": 0.0}, endpoint=CLASS_FORM)
    out = start_run(config, factory=server.factory)
    assert out.status == "finished", out.message and refused
    usage = out.state["usage"]["researcher"]
    assert usage["repairs"] == 1 and not usage.get("mode_fallbacks")
    researcher = [r for r in server.requests[8:] if "Researcher of Glia" in str(r["messages"][0]["content"])]
    assert all("choose_action" not in str(r.get("tools")) for r in researcher)
    seen = "\n".join(str(m.get("content")) for m in researcher[-1]["messages"])
    assert "[called write_file on policy.py]" in seen and "(empty reply)" not in seen


def test_a_run_on_a_weak_endpoint_says_at_its_start_which_defaults_it_took_and_recommends_an_offline_analyst(
        tmp_path):
    """llama-cpp-python with the model's own template (calls stay text, "required" ignored): the researcher takes
    the text protocol, the functions form and short replies by default, and the start lines say so and why; the
    analyst stays on the model, with a recommendation, never made offline silently."""
    server = SERVERS["llama-cpp-python"](research_model())
    config = RunConfig.build(TASK, budget_sims=3, model="emulated", base_url="http://weak.emulated/v1",
                             workspace=tmp_path)
    notes = config.choose_modes(server.factory)
    assert config.modes["researcher"]["tools"] == "text" and config.modes["researcher"]["design_form"] == "functions"
    assert config.modes["researcher"]["max_tokens"] == 600 and config.implementations["analyst"] == "llm"
    assert notes[0].startswith("researcher: tools text, ")
    assert any(n.startswith("researcher on a weak endpoint, with the defaults the small-model runs worked with: tools "
                            "text (") for n in notes)
    assert any(n.startswith("analyst on a weak endpoint: recommended --impl analyst=offline") for n in notes)
