"""The LLM implementations, run by the real graph against scripted fake chat models (no network): a whole
single-context run in which the researcher writes policies (as a tool call and as a fenced block) and runs them,
bad replies go back with specific errors, invented results are answered with the ledger, an unchanged design is not
run twice; the analyst queries and writes structured findings; the supervisor's decisions are repaired when they
are not JSON; the summarizer compacts. Assertions are on what each model call received."""

from __future__ import annotations

from pathlib import Path

import pytest
from langchain_core.messages import ToolMessage

from glia.graph.config import RunConfig
from glia.graph.runs import start_run
from tests.support.fakes import ScriptedChatModel, reply, text

TASK = str(Path(__file__).parents[1] / "tasks" / "quick.toml")

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


HEDGED = """```python
from glia.simulator import BaseGlobalScheduler


class Hedged(BaseGlobalScheduler):
    def schedule(self):
        self.sort_requests()
        out = []
        while self._request_queue:
            rid = min(self._replica_schedulers, key=lambda i: self._replica_schedulers[i].num_active_requests)
            out.append((rid, self._request_queue.pop(0)))
        return out
```"""


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    ws = tmp_path_factory.mktemp("llm")
    researcher = ScriptedChatModel(messages=iter([
        reply("Two routers:\n```python\n" + POLICY + "\n\nclass Other(ByBlocks):\n    def schedule(self):\n"
              "        return super().schedule()\n```"),                                  # two classes: which one?
        reply("Hypothesis: KV blocks are a better load signal.", ("write_file", {"path": "policy.py",
                                                                                "content": POLICY}),
              ("run_simulation", {"label": "blocks", "hypothesis": "H1"})),
        reply("", ("query_telemetry", {})),                                                 # bad arguments
        reply("Increasing the KV cache reduced mean latency by 15 % to 41.7 s."),           # an invented result
        reply("A router on active requests:\n" + HEDGED),                                   # a design as text
        reply("", ("run_simulation", {"label": "again"})),                                  # the same design again
        reply("", ("finish", {"summary": "route by KV blocks in use; it cut latency by 30 %"})),
    ]))
    analyst = ScriptedChatModel(messages=iter([
        reply("", ("query_telemetry", {"sql": "SELECT avg(num_restarts) AS r FROM requests"})), reply("DONE"),
        reply('{"findings": [{"text": "restarts are frequent"}, {"text": "memory is full"}]}'),
        reply("DONE"), reply('{"findings": [{"text": "blocks balance load"}, {"text": "mean latency is higher '
                             'than the paper\'s 28.5 s"}]}'),
        reply("DONE"), reply("- nothing new"), reply("- still nothing new"),               # text, twice: fallback
    ]))
    supervisor = ScriptedChatModel(messages=iter([
        "I am not answering in JSON, but: what about the tail?",
        '{"decision": "continue", "message": "What about the tail?"}',
        '{"decision": "approve", "message": "Ship the block-based router."}']))
    summarizer = ScriptedChatModel(messages=iter(["The researcher measured the baseline and a block router."] * 6))
    models = {"researcher": researcher, "analyst": analyst, "supervisor": supervisor, "summarizer": summarizer}
    config = RunConfig.build(TASK, budget_sims=5, llm=True, workspace=ws,
                             settings={"summary_token_limit": 700, "keep_recent_messages": 4, "retry_base_s": 0.0})
    out = start_run(config, models=models)
    return out, models


def seen(model) -> list[str]:
    return ["\n".join(text(x) for x in call) for call in model.calls]


def test_the_run_finishes_with_every_llm_implementation(run):
    out, _ = run
    assert out.status == "finished"
    assert out.to_json()["implementations"] == {"researcher": "llm", "analyst": "llm", "supervisor": "llm",
                                                "summarizer": "llm"}
    ledger = sorted(out.state["ledger"], key=lambda e: e["seq"])
    # a run the model did not name is labelled by the idea its reply states, never by its class name
    assert [e.get("label") for e in ledger] == ["starter", "blocks", "A router on active requests"]
    assert all(not e.get("error") for e in ledger)
    assert out.state["best"]["label"] in ("starter", "blocks", "Hedged")
    usage = out.state["usage"]
    assert usage["tokens"] > 0 and usage["usd"] > 0
    assert usage["researcher"]["replies"] == 7 and usage["researcher"]["parsed_from_text"] == 1
    assert usage["researcher"]["repairs"] == 4


def test_every_researcher_turn_shows_the_workbench_and_asks_for_tools(run):
    out, m = run
    calls = seen(m["researcher"])
    assert all("Design file policy.py now:" in c and "Simulations left:" in c for c in calls)
    # the harness measured the starter before the model's first turn, which sees its figures
    assert "Simulations left: 4." in calls[0] and "c1-e001: starter" in calls[0]
    assert "llq (least-loaded-queue" in calls[0]
    assert "class ByBlocks" in calls[3]                       # the design file as it is now
    assert all(b["tool_choice"] == "auto" and "run_simulation" in b["tools"] for b in m["researcher"].bound)


def test_bad_replies_go_back_with_what_was_wrong(run):
    _, m = run
    calls = seen(m["researcher"])
    assert "defines 2 scheduler classes (ByBlocks, Other)" in calls[1]
    assert "Bad arguments for query_telemetry: sql: Field required" in calls[3]
    assert "No experiment measured 15 %, 41.7: only run_simulation results count" in calls[4]
    assert "c1-e002: blocks" in calls[4].split("No experiment measured")[1]      # answered with the real ledger
    assert "identical to experiment c1-e003" in calls[6]
    tool_results = [x for c in m["researcher"].calls for x in c if isinstance(x, ToolMessage)]
    assert tool_results and all(t.tool_call_id for t in tool_results)


def test_the_analyst_starts_from_diagnostics_queries_and_answers_in_the_schema(run):
    out, m = run
    calls = seen(m["analyst"])
    assert "Standard diagnostics of the new experiments:" in calls[0] and "requests(run_id" in calls[0]
    results = [x for x in m["analyst"].calls[1] if isinstance(x, ToolMessage)]   # a native call: a tool message
    assert len(results) == 1 and text(results[0]).startswith("r\n0.1")
    assert "JSON schema" in calls[2]
    texts = [f["text"] for f in out.state["findings"] if f["topic"] == "llm"]
    assert {"restarts are frequent", "memory is full", "blocks balance load", "still nothing new"} <= set(texts)
    invented = "mean latency is higher than the paper's 28.5 [unmeasured] s"   # marked once, before anyone reads it
    assert invented in texts and any(invented in c for c in seen(m["researcher"]))
    assert invented in Path(out.to_json()["report"]).read_text()
    assert out.state["usage"]["analyst"]["structured_fallbacks"] == 1


def test_the_supervisor_never_sees_code_and_its_answers_are_repaired(run):
    out, m = run
    for call in seen(m["supervisor"]):
        assert "def schedule" not in call and "class ByBlocks" not in call
        assert "Experiments:" in call
    assert "could not be used" in seen(m["supervisor"])[1]
    decisions = [i["decision"] for i in out.state["interventions"]]
    assert decisions == ["continue", "approve"]
    assert "30 % [unmeasured]" in seen(m["supervisor"])[-1]       # the proposal's invented figure is marked


def test_the_report_says_how_the_replies_were_read(run):
    out, _ = run
    report = Path(out.to_json()["report"]).read_text()
    assert "researcher replies: 7; read from text (not native tool calls): 1; sent back with an error: 4" in report


def test_the_summarizer_compacted_the_history(run):
    out, m = run
    assert m["summarizer"].calls
    assert "Messages to compact" in text(m["summarizer"].calls[0][-1])
    assert any("Summary of the earlier conversation" in c for c in seen(m["researcher"]))


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


def test_a_design_that_does_what_a_measured_one_does_is_not_run_again():
    from langchain_core.messages import AIMessage

    from glia.nodes.llm.replies import parse_reply
    from glia.nodes.researcher import _repeat
    from glia.tools.evaluator import program_key

    code = HEDGED.removeprefix("```python\n").removesuffix("```")
    measured = {"id": "c1-e003", "context": "c1", "seq": 3, "metrics": {"mean_e2e_s": 41.25}, "error": None,
                "hash": "not-this-text", "program": program_key(code)}
    state = {"context_id": "c1", "ledger": [measured], "task": {"objective": {"metric": "mean_e2e_s"}}}
    reworded = code.replace("class Hedged", '"""Route to the replica with the fewest active requests."""\n\n\n'
                            "class Hedged").replace("out = []", "out = [ ]  # routed pairs")
    said = _repeat(state, parse_reply(AIMessage(content=f"```python\n{reworded}```")), "policy.py")
    assert said == ("[harness] This design is experiment c1-e003 with only its comments, docstrings or layout "
                    "changed: it does the same (mean_e2e_s 41.250); running it again would measure nothing new and "
                    "cost a simulation. Change what the code does, or finish.")
    changed = reworded.replace("num_active_requests", "num_pending_requests")
    assert _repeat(state, parse_reply(AIMessage(content=f"```python\n{changed}```")), "policy.py") is None


class OneExperimentThenDown(ScriptedChatModel):
    """A researcher model that runs one experiment, then stops answering (the run pauses there)."""

    def _generate(self, messages, stop=None, run_manager=None, **kwargs):
        if self.calls:
            import httpx
            import openai
            raise openai.APIConnectionError(request=httpx.Request("POST", "http://127.0.0.1:9/v1/chat/completions"))
        return super()._generate(messages, stop=stop, run_manager=run_manager, **kwargs)


def test_the_offline_researcher_swapped_in_mid_run_continues_the_search_from_the_ledger(tmp_path):
    from glia.graph.runs import resume_run

    researcher = OneExperimentThenDown(messages=iter([reply("", ("write_file", {"path": "policy.py",
                                                                                "content": POLICY}),
                                                            ("run_simulation", {"label": "blocks"}))]))
    offline = {"analyst": "offline", "supervisor": "offline", "summarizer": "offline"}
    out = start_run(RunConfig.build(TASK, budget_sims=4, llm=True, implementations=offline, workspace=tmp_path,
                                    settings={"retry_base_s": 0.0, "max_retries": 0}),
                    models={"researcher": researcher})
    assert out.status == "paused" and [e["label"] for e in out.state["ledger"]] == ["starter", "blocks"]
    again = resume_run(out.thread_id, tmp_path, implementations={"researcher": "offline"})
    assert again.status == "finished", again.message
    ledger = sorted(again.state["ledger"], key=lambda e: e["seq"])
    assert len(ledger) == 4 and [e["label"] for e in ledger[:2]] == ["starter", "blocks"]
    # its own designs (the starter, measured already, is its starting design), until the budget is used: not an
    # approval of what was there
    assert all(e["label"].startswith("signal=") for e in ledger[2:]), [e["label"] for e in ledger]
    assert "count" not in ledger[2]["label"].split(",")[0]  # not its starting design again
    assert again.state["stop_reason"].startswith("approved") and "budget" in again.state["stop_reason"].lower()
