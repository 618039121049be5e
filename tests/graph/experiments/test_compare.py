"""``glia compare`` end to end against a scripted model behind an emulated OpenAI-compatible server
(tests/support/servers.py): every method searches the quick routing task through the one evaluator and budget ledger,
the libraries in their own processes over the bridge; the report, the plot, the curves, MCG, the held-out figures and
the telemetry tables come out; an endpoint that goes down pauses the comparison and a resume finishes it without redoing
finished runs."""

from __future__ import annotations

import html
import json
from pathlib import Path

import pytest

from glia.graph.cli import main
from glia.graph.experiments.compare import CompareConfig, resume_compare, start_compare
from glia.graph.experiments.compare.methods import function_template
from glia.nodes import prompts
from glia.simulator.harness.telemetry import reading
from glia.state import load_task
from glia.tools.ledger import BudgetLedger
from tests.support.helpers import BY_BLOCKS_REPLY
from tests.support.servers import Call, HTTPError, Json, Model, OpenAIServer, Say, View, typical_model

TASK = str(Path(__file__).parents[2] / "tasks" / "quick.toml")

POLICY = BY_BLOCKS_REPLY
DIFF = """Route by KV blocks in use.
<<<<<<< SEARCH
        load = {rid: rs.num_pending_requests + rs.num_active_requests
                for rid, rs in self._replica_schedulers.items()}
=======
        load = {rid: rs.num_allocated_blocks
                for rid, rs in self._replica_schedulers.items()}
>>>>>>> REPLACE
"""
FUNCTION = """{Shortest prompt first, to the replica with the fewest KV blocks in use.}
```python
def route(queue, replicas, rng):
    used = {rid: r.num_allocated_blocks for rid, r in replicas.items()}
    out = []
    for request in sorted(queue, key=lambda r: r.num_prefill_tokens):
        rid = min(used, key=used.__getitem__)
        used[rid] += request.num_prefill_tokens // 16 + 1
        out.append((rid, request))
    return out
```"""


def scripted_model(asked: list[str]) -> Model:
    """Each method's asks answered as a small model would: Glia's roles by their protocol (one design, then
    finish), best shot with a policy file, OpenEvolve with a SEARCH/REPLACE diff, EoH and FunSearch with the
    function; the endpoint probe as a capable model."""
    probe = typical_model()

    def turn(view: View):
        system = html.unescape(view.messages[0]["content"]) if view.messages[0]["role"] == "system" else ""
        text = html.unescape(view.text())
        if "Researcher of Glia" in system:
            asked.append("glia")
            if "choose_action" in view.tools:
                return Call("choose_action", {"action": "finish" if "-> mean_e2e_s" in text.split("Experiments")[-1]
                                              and text.count("-> mean_e2e_s") >= 2 else prompts.NEW_POLICY})
            if text.count("-> mean_e2e_s") >= 2:
                return Call("finish", {"summary": "route by KV blocks in use"})
            return Say(f"A new design:\n{POLICY}")
        if "Analyst of Glia" in system:
            return Say("DONE") if view.last == prompts.ANALYST_QUERY else Json({"findings": [{"text": "ok"}]})
        if "Supervisor of Glia" in system:
            done = "Why you are consulted: researcher done" in text
            return Json({"decision": "approve" if done else "continue", "message": "Go on."})
        if "Design the best policy you can" in system:
            asked.append("best_shot")
            return Say(POLICY)
        if "You improve a policy" in system:
            asked.append("openevolve")
            return Say(DIFF)
        if "def route" in text:
            asked.append("llm4ad")
            return Say(FUNCTION)
        return probe.turns[0](view)
    return Model(turn)


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    workspace = tmp_path_factory.mktemp("compare")
    asked: list[str] = []
    server = OpenAIServer(scripted_model(asked))
    config = CompareConfig.build(TASK, methods_=["glia", "offline", "best_shot", "openevolve"], runs=2, budget=2,
                                 model="emulated", base_url="http://openai.emulated/v1", workspace=workspace,
                                 compare_id="cmp-test")
    events: list[dict] = []
    out = start_compare(config, on_event=events.append, factory=server.factory)
    return out, events, asked, workspace


def test_every_method_searches_within_its_budget_through_the_one_ledger(compared):
    out, events, asked, _ = compared
    assert out.status == "finished", out.message
    methods = out.summary["methods"]
    assert list(methods) == ["glia", "offline", "best_shot", "openevolve"]
    assert {"glia", "best_shot", "openevolve"} <= set(asked)
    for name, m in methods.items():
        assert m["runs"] == 2 and 1 <= m["sims_used"] <= 2, name
        assert all(u["status"] == "finished" for u in m["units"]), (name, m["units"])
        runs = 1 if m["deterministic"] else 2   # a deterministic method's runs are one run repeated
        assert m["search"]["n"] == runs and m["search"]["mean"] > 0, name
        assert m["heldout"]["n"] == runs and m["shifted"]["n"] == runs, name
    # the model's designs were measured (routing by blocks in use is worse than llq here), tokens counted
    ledger = BudgetLedger(out.dir / "ledger.sqlite")
    llq = out.summary["baselines"]["llq"]["value"]
    for name in ("glia", "best_shot", "openevolve"):
        assert methods[name]["tokens"] > 0, name
        values = [r["value"] for u in ("r1", "r2") for r in ledger.rows(f"{name}-{u}")]
        assert any(v > llq for v in values), (name, values)
    assert methods["offline"]["tokens"] == 0
    assert [e for e in events if e["event"] == "evaluation" and e["unit"] == "openevolve-r1"]


def test_the_report_has_the_table_the_curves_mcg_and_the_cost(compared):
    out, _, _, _ = compared
    report = Path(out.to_json()["report"]).read_text()
    for text in ("| Glia | 2 |", "| OpenEvolve | 2 |", "| best shot | 2 |",
                 "Glia MCG-Seq", "Glia MCG-Par4", "needs at least 4 runs, has 2", "baseline llq", "## Cost per run",
                 "held-out seeds (1000-1000)", "paper-routing-short (qps x1.25)", "![curves](curves.png)"):
        assert text in report, text
    png = out.dir / "curves.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    seq = out.summary["mcg"]["glia"]["seq"]
    assert seq["curve"] and seq["sims"] == sum(u["sims_used"] for u in out.summary["methods"]["glia"]["units"])
    # MCG's final winner re-measured where the search never looked, beside its search figure
    assert seq["heldout"] > 0 and seq["shifted"] > 0 and seq["winner"].startswith("glia-r")
    # the heuristic researcher is deterministic: its runs are one run, shown without a CI
    offline = out.summary["methods"]["offline"]
    assert offline["deterministic"] and offline["search"]["low"] is None
    assert "deterministic: one distinct run" in report
    # each run's best was hardened; the Runs table says so
    assert all(u["best"]["hardened"].startswith("hardened re-measurement agrees")
               for m in out.summary["methods"].values() for u in m["units"] if u["best"])
    results = json.loads((out.dir / "results.json").read_text())
    assert results["methods"]["glia"]["curve"][0]["sims"] == 1


def test_the_results_are_in_the_telemetry_database(compared):
    out, _, _, workspace = compared
    with reading(workspace / "telemetry.duckdb") as con:
        units = con.execute("SELECT method, count(*), sum(sims_used) FROM compare_units WHERE compare_id = "
                            "'cmp-test' GROUP BY method ORDER BY method").fetchall()
        evals = con.execute("SELECT count(*) FROM compare_evaluations WHERE compare_id = 'cmp-test'").fetchone()[0]
    assert [u[0] for u in units] == sorted(out.summary["methods"])
    assert evals == sum(u[2] for u in units)


def test_eoh_and_funsearch_evolve_the_task_s_function_through_the_same_evaluator(tmp_path):
    pytest.importorskip("llm4ad", reason="pip install --no-deps llm4ad==1.11 (as .ci/run does)")
    template, adapter, doc = function_template(load_task(TASK))
    assert template.rstrip().endswith("return out") and "def route(queue, replicas, rng)" in template
    assert adapter.lstrip().startswith("class FunctionRouter") and "Returns a list of" in doc
    asked: list[str] = []
    server = OpenAIServer(scripted_model(asked))
    config = CompareConfig.build(TASK, methods_=["eoh", "funsearch"], runs=1, budget=2, model="emulated",
                                 base_url="http://openai.emulated/v1", workspace=tmp_path, heldout=False)
    out = start_compare(config, factory=server.factory)
    assert out.status == "finished", out.message
    assert "llm4ad" in asked
    eoh, funsearch = out.summary["methods"]["eoh"], out.summary["methods"]["funsearch"]
    # EoH starts from designs the model writes; FunSearch from the task's function (llq) and then the model's
    assert eoh["sims_used"] >= 1 and funsearch["sims_used"] == 2
    llq = out.summary["baselines"]["llq"]["value"]
    assert funsearch["curve"][0]["mean"] == pytest.approx(llq)
    code = Path(eoh["units"][0]["best"]["snapshot"]).read_text()
    assert "sorted(queue, key=lambda r: r.num_prefill_tokens)" in code and "class FunctionRouter" in code


def test_an_endpoint_that_goes_down_pauses_the_comparison_and_a_resume_finishes_it(tmp_path):
    state = {"down": False, "tripped": False}
    asked: list[str] = []
    answer = scripted_model(asked)

    def flaky(view: View):
        if state["down"]:
            raise HTTPError(503, "the model is loading")
        reply = answer(view)
        if asked.count("best_shot") == 2 and not state["tripped"]:
            state["down"] = state["tripped"] = True
        return reply

    server = OpenAIServer(Model(flaky))
    config = CompareConfig.build(TASK, methods_=["offline", "best_shot"], runs=2, budget=2, model="emulated",
                                 base_url="http://openai.emulated/v1", workspace=tmp_path, compare_id="cmp-flaky",
                                 settings={"retry_base_s": 0.0, "max_retries": 1})
    first = start_compare(config, factory=server.factory)
    assert first.status == "paused" and "best_shot-r1" in first.message
    assert "glia compare --resume cmp-flaky" in first.message
    assert (first.dir / "units" / "offline-r1" / "result.json").is_file()
    offline_wall = json.loads((first.dir / "units" / "offline-r1" / "result.json").read_text())["wall_s"]
    state["down"] = False
    asked.clear()
    second = resume_compare("cmp-flaky", tmp_path, factory=server.factory)
    assert second.status == "finished", second.message
    assert second.summary["methods"]["best_shot"]["runs"] == 2
    assert json.loads((first.dir / "units" / "offline-r1" / "result.json").read_text())["wall_s"] == offline_wall


def test_glia_compare_says_what_is_missing_before_it_runs(tmp_path, capsys):
    assert main(["compare", "--task", TASK, "--methods", "glia", "--workspace", str(tmp_path)]) == 2
    assert "need a model" in capsys.readouterr().err
    assert main(["compare", "--task", TASK, "--methods", "alphaevolve", "--workspace", str(tmp_path)]) == 2
    assert "unknown method 'alphaevolve'" in capsys.readouterr().err
