"""The LLM implementations, run by the real graph against scripted fake chat models (no network): a whole
single-context run in which the researcher writes a policy and runs it, the analyst queries, the supervisor
intervenes and the summarizer compacts; malformed model output is handled."""

from __future__ import annotations

from pathlib import Path

import pytest
from langchain_core.messages import HumanMessage, ToolMessage

from glia.graph.config import RunConfig
from glia.graph.runs import start_run
from glia.nodes.supervisor import parse_decision

from fakes import ScriptedChatModel, reply, text

TASK = str(Path(__file__).parent / "tasks" / "quick.toml")

POLICY = '''from glia.simulator import BaseGlobalScheduler


class ByBlocks(BaseGlobalScheduler):
    def schedule(self):
        self.sort_requests()
        out = []
        while self._request_queue:
            rid = min(self._replica_schedulers, key=lambda i: self._replica_schedulers[i].num_allocated_blocks
                      + len(self._replica_schedulers[i].pending_queue) * 8)
            out.append((rid, self._request_queue.pop(0)))
        return out
'''


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    ws = tmp_path_factory.mktemp("llm")
    researcher = ScriptedChatModel(messages=iter([
        reply("Measure the starting design first.", ("run_simulation", {"label": "baseline"})),
        reply("Hypothesis: KV blocks are a better load signal.", ("write_file", {"path": "policy.py",
                                                                                "content": POLICY}),
              ("run_simulation", {"label": "blocks", "hypothesis": "H1"})),
        reply("", ("query_telemetry", {})),                                   # bad arguments
        reply("I wonder whether the queue matters."),                          # no tool call
        reply("", ("write_file", {"path": "policy.py", "content": "def schedule(:\n"}),
              ("run_simulation", {"label": "garbage"})),                       # garbage code
        reply("", ("finish", {"summary": "route by KV blocks in use"})),
    ] + [reply("", ("finish", {"summary": "done"}))] * 4))
    analyst = ScriptedChatModel(messages=iter(
        [reply("", ("query_telemetry", {"sql": "SELECT avg(num_restarts) FROM requests"})),
         reply("- restarts are frequent\n- memory is full")] + [reply("- nothing new")] * 6))
    supervisor = ScriptedChatModel(messages=iter(
        ["I am not answering in JSON, but: what about the tail?",
         '{"decision": "approve", "message": "Ship the block-based router."}'] + ['{"decision": "approve"}'] * 4))
    summarizer = ScriptedChatModel(messages=iter(["The researcher measured the baseline and a block router."] * 6))
    models = {"researcher": researcher, "analyst": analyst, "supervisor": supervisor, "summarizer": summarizer}
    config = RunConfig.build(TASK, budget_sims=4, llm=True, workspace=ws,
                             settings={"summary_token_limit": 300, "keep_recent_messages": 3, "retry_base_s": 0.0})
    out = start_run(config, models=models)
    return out, models


def test_the_run_finishes_with_every_llm_implementation(run):
    out, _ = run
    assert out.status == "finished"
    assert out.to_json()["implementations"] == {"researcher": "llm", "analyst": "llm", "supervisor": "llm",
                                                "summarizer": "llm"}
    ledger = sorted(out.state["ledger"], key=lambda e: e["seq"])
    assert [e.get("label") for e in ledger] == ["baseline", "blocks", "garbage"]
    assert ledger[2]["error"]["kind"] == "load_error"
    assert out.state["best"]["label"] in ("baseline", "blocks")
    usage = out.state["usage"]
    assert usage["tokens"] > 0 and usage["usd"] > 0 and usage["researcher"]["calls"] >= 6


def test_the_researcher_saw_results_errors_and_nudges(run):
    _, m = run
    calls = m["researcher"].calls
    assert m["researcher"].bound and "run_simulation" in m["researcher"].bound[0]
    seen = ["\n".join(text(x) for x in c) for c in calls]
    assert any("mean_e2e_s" in s and "[analyst]" in s for s in seen[1:3])
    assert any("bad arguments for query_telemetry: sql: Field required" in s for s in seen)
    assert any("[harness] Your reply had no tool call" in s for s in seen)
    assert any("load_error" in s and "syntax error" in s for s in seen)
    assert any("Summary of the earlier conversation" in s for s in seen)
    tool_results = [x for c in calls for x in c if isinstance(x, ToolMessage)]
    assert all(t.tool_call_id.startswith("call") for t in tool_results)


def test_the_analyst_queried_telemetry_for_the_new_experiment(run):
    out, m = run
    first = "\n".join(text(x) for x in m["analyst"].calls[0])
    assert "c1-call" in first and "requests(run_id" in first
    assert any(isinstance(x, ToolMessage) and "avg(num_restarts)" in text(x) for x in m["analyst"].calls[1])
    assert any("restarts are frequent" in f["text"] for f in out.state["findings"])


def test_the_supervisor_never_sees_code_and_its_interventions_are_recorded(run):
    out, m = run
    for call in m["supervisor"].calls:
        seen = "\n".join(text(x) for x in call)
        assert "def schedule" not in seen and "BaseGlobalScheduler" not in seen.split("Policies")[0]
        assert "Experiments:" in seen
    decisions = [i["decision"] for i in out.state["interventions"]]
    assert decisions[0] == "continue" and decisions[-1] == "approve"
    assert "what about the tail" in out.state["interventions"][0]["text"]


def test_the_summarizer_compacted_the_history(run):
    out, m = run
    assert m["summarizer"].calls
    assert "Messages to compact" in text(m["summarizer"].calls[0][-1])
    assert "block router" in out.state.get("summary", "") or any(
        "Summary" in text(x) for c in m["researcher"].calls for x in c if isinstance(x, HumanMessage))


def test_supervisor_replies_are_parsed_leniently():
    assert parse_decision('ok {"decision": "stop_line", "message": "enough"}') == ("stop_line", "enough")
    assert parse_decision("{broken json")[0] == "continue"
    assert parse_decision('{"decision": "dance"}') == ("continue", '{"decision": "dance"}')


class DownChatModel(ScriptedChatModel):
    """An endpoint that keeps failing with a connection error."""

    def _generate(self, messages, stop=None, run_manager=None, **kwargs):
        import httpx
        import openai
        self.calls.append(list(messages))
        raise openai.APIConnectionError(request=httpx.Request("POST", "http://127.0.0.1:9/v1/chat/completions"))


def test_an_endpoint_that_stays_down_pauses_the_run_resumably(tmp_path):
    from glia.graph.runs import resume_run

    down = DownChatModel(messages=iter([]))
    models = {r: down for r in ("researcher", "analyst", "supervisor", "summarizer")}
    out = start_run(RunConfig.build(TASK, budget_sims=1, llm=True, workspace=tmp_path,
                                    settings={"retry_base_s": 0.0, "max_retries": 2}), models=models)
    assert out.status == "paused" and "failed 3 times" in out.message and len(down.calls) == 3
    assert out.state["baselines"]  # finished work is kept
    up = {"researcher": ScriptedChatModel(messages=iter([reply("", ("run_simulation", {"label": "starter"}))])),
          "analyst": ScriptedChatModel(messages=iter(["- nothing notable"])),
          "supervisor": ScriptedChatModel(messages=iter(['{"decision": "approve", "message": "fine"}'])),
          "summarizer": down}
    again = resume_run(out.thread_id, tmp_path, models=up)
    assert again.status == "finished" and again.state["stop_reason"].startswith("approved")
    assert [e["label"] for e in again.state["ledger"]] == ["starter"]
