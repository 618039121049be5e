"""Program tasks wired into a run: `glia init` -> `glia run` offline (the program-constants search) and with scripted
models; evaluations through the one ledger (keyed by program and benchmark, charged once, read back); the starter's
noise band; the fresh-copy re-measurement of a new best; held-out variants or the report's plain "no held-out
check"; the telemetry tables the Analyst reads; and the contained failures (a program that loops, writes into the
evaluator's directory, reads its expected answers; an evaluator that crashes or prints no JSON) going through a run
that carries on and loses nothing."""

from __future__ import annotations

import json
import math
import shutil
import textwrap
from pathlib import Path

import duckdb
import pytest

from glia.graph.cli import main
from glia.graph.config import RunConfig
from glia.graph.progress import Eta, describe
from glia.graph.runs import resume_run, start_run
from glia.nodes.heuristic.program_constants import apply, parse_label, tunable
from glia.nodes.programs.harness import verdict
from glia.state import load_task
from glia.state.tasks.task import TASKS_DIR, TaskError
from glia.tools.ledger import BudgetLedger, charged
from glia.tools.programs import spec_for_task
from glia.tools.programs.evaluator import ProgramEvaluator, evaluation_key
from tests.support.fakes import ScriptedChatModel, reply

EXAMPLES = TASKS_DIR / "programs"

# a small OpenEvolve-format problem: the evaluator keeps the expected answers in its own directory
EVALUATOR = '''
import importlib.util, json

def evaluate(program_path):
    answers = json.load(open("answers.json"))
    spec = importlib.util.spec_from_file_location("candidate", program_path)
    program = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(program)
    got = [program.solve(x) for x in answers["inputs"]]
    right = sum(abs(g - e) < 1e-9 for g, e in zip(got, answers["expected"]))
    return {"combined_score": right / len(got), "validity": 1.0 if right else 0.0,
            "cases": [{"x": x, "got": g, "error": abs(g - e)} for x, g, e in zip(answers["inputs"], got,
                                                                             answers["expected"])]}
'''
STARTER = '''"""Triple x (the starter doubles it)."""

# EVOLVE-BLOCK-START
FACTOR = 2  # the factor


def solve(x):
    return x * FACTOR
# EVOLVE-BLOCK-END
'''
TOML = '''name = "triple"
[objective]
metric = "combined_score"
[objective.constraint]
metric = "validity"
min = 1.0
[design]
layer = "program"
file = "prog.py"
starter = "problem/prog.py"
[evaluator]
format = "openevolve"
workdir = "problem"
timeout_s = {timeout}
[budget]
evaluations = {budget}
'''


def small_task(tmp_path: Path, timeout: float = 20, budget: int = 4, evaluator: str = EVALUATOR) -> Path:
    d = tmp_path / "problem"
    d.mkdir(parents=True)
    (d / "prog.py").write_text(STARTER)
    (d / "evaluator.py").write_text(evaluator)
    (d / "answers.json").write_text(json.dumps({"inputs": [1, 2, 3], "expected": [3, 6, 9]}))
    path = tmp_path / "triple.toml"
    path.write_text(TOML.format(timeout=timeout, budget=budget))
    return path


def program(body: str) -> str:
    """The starter with its block replaced by ``body``."""
    head, rest = STARTER.split("# EVOLVE-BLOCK-START\n")
    return head + "# EVOLVE-BLOCK-START\n" + textwrap.dedent(body).strip() + "\n# EVOLVE-BLOCK-END\n"


def scripted(researcher_replies: list) -> dict:
    return {"researcher": ScriptedChatModel(messages=iter(researcher_replies)),
            "analyst": ScriptedChatModel(messages=iter([reply("DONE"), reply('{"findings": [{"text": "ok"}]}')] * 8)),
            "supervisor": ScriptedChatModel(messages=iter(['{"decision": "continue", "message": "Go on."}']
                                                          + ['{"decision": "approve", "message": "Ship it."}'] * 6)),
            "summarizer": ScriptedChatModel(messages=iter(["Summary."] * 8))}


# -- the task file and the new user's path ----------------------------------------------------------------------------
def test_the_examples_are_built_in_program_tasks_with_held_out_variants():
    for name in ("cache-eviction", "job-placement"):
        task = load_task(name)
        assert task["design"]["layer"] == "program" and task["design"]["blocks"]
        assert sorted(task["evaluator"]["variants"]) == ["heldout", "shifted"]
        assert task["offline"]["space"] == "program-constants" and task["benchmark"]["baselines"] == []


def test_a_bad_program_task_names_the_file(tmp_path):
    path = small_task(tmp_path)
    path.write_text(path.read_text().replace('format = "openevolve"', 'format = "openevolv"'))
    with pytest.raises(TaskError, match=r"triple\.toml: evaluator\.format must be one of"):
        load_task(str(path))


def test_init_from_openevolve_then_run_offline_finishes_and_reports_no_held_out_check(tmp_path, capsys):
    problem = tmp_path / "cache"
    shutil.copytree(EXAMPLES / "cache-eviction", problem)
    assert main(["init", "--from-openevolve", str(problem), "--out", str(tmp_path / "cache.toml")]) == 0
    assert main(["run", "--task", str(tmp_path / "cache.toml"), "--offline", "--budget-sims", "1", "--workspace",
                 str(tmp_path / "ws")]) == 0
    out, err = capsys.readouterr()
    # a program task's budget is evaluations, in every line the user sees
    assert "task cache, 1 evaluations, 1 context" in err and "· 1 of 1 evaluations used" in err
    assert "simulation" not in err and "simulation" not in out
    assert "finished" in out and "evaluations used: 1 of 1" in out and "baseline starter: combined_score 0.216" in out
    report = next((tmp_path / "ws" / "runs").glob("*/report.md")).read_text()
    assert "offline program-constants search" in report and "`PROTECTED_FRACTION`" in report
    assert "There is no held-out check" in report
    assert "worst cases in case_traces by hit_ratio" in report     # the analyst read the per-trace table
    # the isolation each evaluation recorded (not what the machine printing the report offers)
    assert "ran confined: `evaluator: " in report and "program: " in report


# -- the offline search, the ledger, the telemetry --------------------------------------------------------------------
@pytest.fixture(scope="module")
def placement(tmp_path_factory):
    ws = tmp_path_factory.mktemp("placement")
    config = RunConfig.build("job-placement", budget_sims=3, offline=True, workspace=ws)
    return start_run(config), ws


def test_the_offline_search_tunes_the_starters_constants_and_says_that_is_all(placement):
    out, ws = placement
    assert out.status == "finished"
    ledger = sorted(out.state["ledger"], key=lambda e: e["seq"])
    assert len(ledger) == 4 and ledger[0]["label"] == "baseline: constants: WORK_WEIGHT=0.0, SPEED_EXPONENT=0.0"
    # the unchanged starter is its baseline measurement read back, not run again and not charged: 3 evaluations
    assert ledger[0]["baseline"] and ledger[0]["verdict"] == "baseline" and not any(e["baseline"] for e in ledger[1:])
    assert out.to_json()["simulations_used"] == 3
    assert all(parse_label(e["label"]) for e in ledger)
    assert ledger[1]["label"] == "constants: WORK_WEIGHT=0.1, SPEED_EXPONENT=0.0"   # the first move from 0.0
    starter = out.state["baselines"][0]
    assert starter["policy"] == "starter" and starter["runs"] == 3 and len(starter["values"]) == 3
    best = out.state["best"]
    assert best["hardened"]["agree"] and best["hardened"]["fresh_copy"]
    assert best["value"] > starter["metrics"]["combined_score"]
    report = (Path(out.run_dir) / "report.md").read_text()
    assert "All it did was tune the starter's numeric constants (`WORK_WEIGHT`, `SPEED_EXPONENT`)" in report
    # held-out on the evaluator's own variants, both designs
    assert set(out.state["heldout"]) == {"best", "starter"}
    assert set(out.state["heldout"]["best"]) == {"heldout", "shifted"}
    assert "| **best design** |" in report


def test_each_evaluation_is_in_duckdb_with_its_tables_and_nothing_private(placement):
    out, ws = placement
    con = duckdb.connect(str(ws / "telemetry.duckdb"), read_only=True)
    try:
        runs = con.execute("SELECT run_id, context, status FROM program_runs").fetchall()
        assert len([r for r in runs if r[1] == "baselines"]) == 3 and len([r for r in runs if r[1] == "c1"]) == 3
        assert all(r[0].startswith("prog-") for r in runs)
        metrics = {m for (m,) in con.execute("SELECT DISTINCT metric FROM program_metrics").fetchall()}
        assert {"combined_score", "correct", "mean_jct"} <= metrics
        tables = {t for (t,) in con.execute("SELECT DISTINCT table_name FROM program_tables").fetchall()}
        assert {"case_instances", "case_worst_jobs"} <= tables
        assert con.execute("SELECT count(*) FROM case_instances").fetchone()[0] > 0
        texts = con.execute("SELECT string_agg(text, ' ') FROM program_texts").fetchone()[0] or ""
        assert "private" not in " ".join(metrics) and "secret_" not in texts
    finally:
        con.close()
    findings = [f for f in out.state["findings"] if f["topic"].startswith("cases:")]
    assert findings and "worst cases in case_worst_jobs" in " ".join(f["text"] for f in findings)
    objective = next(f for f in out.state["findings"] if f["topic"] == "objective")
    assert "against the starter's" in objective["text"]


def test_private_metrics_are_read_back_with_a_reused_evaluation_but_never_shown_to_the_sql_tool(placement):
    from glia.tools.telemetry_query import QueryRefused, query_telemetry, schema
    out, ws = placement
    db = ws / "telemetry.duckdb"
    best = out.state["best"]
    assert set(best["private"]) == {"instances"} and best["private"]["instances"] > 0       # measured live
    assert out.state["baselines"][0]["private"]["instances"] > 0                            # the starter's mean
    task = load_task("job-placement")
    ev = ProgramEvaluator(spec_for_task(task), lambda m: -m.get("combined_score", -math.inf), db=db)
    again = ev.evaluate(best["snapshot"], "read-back")
    assert again["status"] == "reused" and again["private"] == best["private"]             # not lost, not re-run
    assert "private" not in schema(db)
    with pytest.raises(QueryRefused, match="no table '_program_private'"):
        query_telemetry(db, "SELECT * FROM _program_private")
    shown = query_telemetry(db, "SELECT DISTINCT metric FROM program_metrics UNION ALL SELECT DISTINCT name FROM "
                            "program_scalars", max_rows=500)
    assert "instances" not in shown and "combined_score" in shown


def test_an_evaluation_is_keyed_by_program_and_benchmark_charged_once_and_capped(tmp_path):
    task = load_task(str(small_task(tmp_path)))
    ledger = BudgetLedger(tmp_path / "ledger.sqlite")
    ledger.open_unit("u", 2)
    ev = ProgramEvaluator(spec_for_task(task), lambda m: -m.get("combined_score", -math.inf), None,
                          db=tmp_path / "t.duckdb", ledger=ledger, unit="u")
    a = tmp_path / "a.py"
    a.write_text(program("def solve(x):\n    return x * 3"))
    first = ev.evaluate(str(a), "exp1")
    assert first["status"] == "ok" and first["charged"] and first["value"] == 1.0
    assert first["key"] == evaluation_key(a.read_text(), ev.spec)
    assert first["key"].endswith(ev.spec.identity())
    a.write_text(program("def solve(x):\n    # re-worded\n    return x * 3"))   # the same program
    again = ev.evaluate(str(a), "exp2")
    assert again["status"] == "reused" and not again["charged"] and ledger.used("u") == 1
    b = tmp_path / "b.py"
    b.write_text(STARTER)
    assert ev.evaluate(str(b), "exp3")["charged"]
    b.write_text(program("def solve(x):\n    return x + x + x"))
    assert ev.evaluate(str(b), "exp4")["status"] == "budget"
    # another benchmark (a changed test case) is another key
    (Path(task["evaluator"]["workdir"]) / "answers.json").write_text(json.dumps({"inputs": [1], "expected": [3]}))
    assert evaluation_key(a.read_text(), ev.spec) != first["key"]


def test_a_gain_inside_the_noise_band_is_not_called_a_gain():
    assert verdict({}, -1.05, -1.0, noise=0.1) == "within noise"
    assert verdict({}, -1.2, -1.0, noise=0.1) == "improved"
    assert verdict({}, -1.2, -1.0, noise=0.0) == "improved"
    assert verdict({"error": {"kind": "program_error"}}, math.inf, -1.0, noise=0.0) == "error"
    assert verdict({"valid": False, "feasible": False}, 0.0, math.inf, noise=0.0) == "invalid"


def test_constants_marked_or_top_level_are_found_and_set():
    src = "A = 1\nB = 2.5  # glia: tune\nclass C:\n    D = 3\n"
    assert [c.name for c in tunable(src)] == ["B"]                      # a marked one wins
    src = "A = 1\nB = -2.5\nflag = True\n"
    cs = tunable(src)
    assert [(c.name, c.whole) for c in cs] == [("A", True), ("B", False)]  # booleans are no constants
    assert apply(src, cs, {"A": 4.0, "B": 0.5}) == "A = 4\nB = 0.5\nflag = True\n"
    assert tunable(STARTER, blocks=True)[0].name == "FACTOR"


# -- scripted models --------------------------------------------------------------------------------------------------
SWF = '''
WORK_WEIGHT = 1.0
SPEED_EXPONENT = 1.0


def place(jobs: list, machines: list) -> list:
    """Speed-aware placement by estimated finish time; shortest work first."""
    load = {m["id"]: 0.0 for m in machines}
    out = []
    for job in jobs:
        fits = [m for m in machines if m["cores"] >= job["cores"] and m["mem_gb"] >= job["mem_gb"]]
        target = min(fits, key=lambda m: ((load[m["id"]] + job["work"]) / m["speed"], m["id"]))
        load[target["id"]] += job["work"] * job["cores"] / target["cores"]
        out.append((target["id"], job["release"] + WORK_WEIGHT * job["work"]))
    return out
'''


def test_a_scripted_model_designs_a_placement_program_end_to_end(tmp_path):
    starter = load_task("job-placement")["design"]["starter_source"]
    head, rest = starter.split("# EVOLVE-BLOCK-START\n")
    tail = rest.split("# EVOLVE-BLOCK-END\n")[1]
    new = head + "# EVOLVE-BLOCK-START\n" + SWF.strip() + "\n# EVOLVE-BLOCK-END\n" + tail
    outside = new.replace("return place(jobs, machines)", "return [(0, 0.0)] * len(jobs)")
    models = scripted([
        reply("Hypothesis: estimated finish time and shortest work first cut completion times.",
              ("write_file", {"path": "initial.py", "content": new}), ("run_simulation", {"label": "swf"})),
        reply("Change the harness too.", ("write_file", {"path": "initial.py", "content": outside}),
              ("run_simulation", {"label": "outside"})),
        reply("", ("finish", {"summary": "speed-aware placement with shortest work first"})),
    ])
    # the starter is not charged: at 1 of 2 evaluations the supervisor looks in (and says "continue")
    config = RunConfig.build("job-placement", budget_sims=2, llm=True, workspace=tmp_path,
                             settings={"retry_base_s": 0.0})
    events: list = []
    out = start_run(config, models=models, on_event=events.append)
    assert out.status == "finished"
    ledger = sorted(out.state["ledger"], key=lambda e: e["seq"])
    assert [e["label"] for e in ledger] == ["starter", "swf"]        # the block-breaking one was never charged
    # the unchanged starter, measured 3 times for the baseline, is read back: not run again, not charged, and not
    # called an improvement over itself
    assert ledger[0]["baseline"] and ledger[0]["verdict"] == "baseline" and ledger[1]["verdict"] == "improved"
    assert ledger[0]["metrics"] == out.state["baselines"][0]["metrics"] and out.to_json()["simulations_used"] == 1
    lines = [describe(e["data"], "combined_score", Eta()) for e in events
             if e["mode"] == "custom" and e["data"].get("event") == "experiment"]
    assert lines[0].startswith("[c1] experiment c1-e001: starter -> combined_score 1.363")
    assert lines[0].endswith("(the starter's baseline, read back: not charged) · 0 of 2 evaluations used")
    assert lines[1].endswith("(improved) · 1 of 2 evaluations used")
    told = "\n".join(str(m.content) for m in models["researcher"].calls[0])
    assert "the unchanged starter: its baseline measurement, the mean of 3 runs, read back" in told
    assert "Evaluations left: 2." in told
    assert out.state["best"]["label"] == "swf" and out.state["best"]["hardened"]["agree"]
    first = "\n".join(str(m.content) for m in models["researcher"].calls[0])
    assert "EVOLVE-BLOCK-START" in first and "The starter, measured 3 times" in first
    assert "Evaluations left" in first or "Simulations left" in first
    refused = "\n".join(str(m.content) for m in models["researcher"].calls[2])
    assert "changes code outside the EVOLVE-BLOCK regions" in refused
    report = (Path(out.run_dir) / "report.md").read_text()
    assert "researcher: llm" in report and "| **best design** |" in report


def test_a_small_model_on_the_text_protocol_is_asked_for_an_idea_and_the_blocks_code_not_shown_a_menu(tmp_path):
    """The 1.5B model echoed the menu that ended its prompt ("a new design: the whole file ...", "a tool call:") and
    wrote no program; told of it, it sent the starter back unchanged under an idea. On the text protocol a program
    task's prompt ends on the reply wanted (an 'Idea:' line, then the code of its one EVOLVE-BLOCK), its system prompt
    has no bulleted menu; a copy of the design file is sent back free, saying the change is not in the code; the
    block's code alone is spliced into the file and run, labelled by the idea. No "design form" is named."""
    from glia.nodes import prompts
    starter = load_task("job-placement")["design"]["starter_source"]
    # the starter is not charged: at 1 of 2 evaluations the supervisor looks in (and says "continue")
    models = scripted([
        reply(f"Idea: shortest work first\n```python\n{starter}```"),                     # the starter, unchanged
        reply(f"Idea: place each job where it finishes first, shortest work first\n```python\n{SWF.strip()}\n```"),
        reply('<tool_call>{"name": "finish", "arguments": {"summary": "estimated finish time"}}</tool_call>')])
    config = RunConfig.build("job-placement", budget_sims=2, llm=True, workspace=tmp_path,
                             settings={"retry_base_s": 0.0})
    config.modes = {"researcher": {"tools": "text"}}
    out = start_run(config, models=models)
    ledger = sorted(out.state["ledger"], key=lambda e: e["seq"])
    assert [e["label"] for e in ledger] == ["starter",
                                            "place each job where it finishes first, shortest work first"]
    score = [e["metrics"]["combined_score"] for e in ledger]
    assert not ledger[1].get("error") and score[1] > score[0]
    first, second = models["researcher"].calls[:2]
    assert str(first[-1].content).endswith(prompts.NEXT_PROGRAM_BLOCK)
    assert "- a new design" not in str(first[0].content) and "- a tool call" not in str(first[0].content)
    assert "reply with one line starting 'Idea:'" in str(first[0].content)
    assert "identical to experiment c1-e001, the design file as it is; unchanged" in "\n".join(
        str(m.content) for m in second)
    written = (tmp_path / "runs" / out.thread_id).glob("**/c1-e002*")
    assert any("EVOLVE-BLOCK-END" in p.read_text() and "SPEED_EXPONENT = 1.0" in p.read_text()
               for p in written if p.is_file())


def test_contained_failures_go_through_the_run_with_clear_errors_and_nothing_lost(tmp_path):
    path = small_task(tmp_path, timeout=8)
    loops = program("def solve(x):\n    while True:\n        pass")
    writes = program("open('../work/answers.json', 'w').write('{}')\n\n\ndef solve(x):\n    return x * 3")
    reads = program("import json\nANSWERS = json.load(open('answers.json'))\n\n\ndef solve(x):\n"
                    "    return ANSWERS['expected'][ANSWERS['inputs'].index(x)]")
    good = program("FACTOR = 3\n\n\ndef solve(x):\n    return x * FACTOR")
    wrong = program("def solve(x):\n    return -1")
    models = scripted([reply("wrong", ("write_file", {"path": "prog.py", "content": wrong}),
                             ("run_simulation", {"label": "wrong"})),
                       reply("loop", ("write_file", {"path": "prog.py", "content": loops}),
                             ("run_simulation", {"label": "loops"})),
                       reply("write", ("write_file", {"path": "prog.py", "content": writes}),
                             ("run_simulation", {"label": "writes"})),
                       reply("read", ("write_file", {"path": "prog.py", "content": reads}),
                             ("run_simulation", {"label": "reads"})),
                       reply("triple", ("write_file", {"path": "prog.py", "content": good}),
                             ("run_simulation", {"label": "triple"})),
                       reply("", ("finish", {"summary": "triple"}))])
    config = RunConfig.build(str(path), budget_sims=7, llm=True, workspace=tmp_path / "ws",
                             settings={"retry_base_s": 0.0, "stagnation_window": 10})
    out = start_run(config, models=models)
    assert out.status == "finished"
    by = {e["label"]: e for e in out.state["ledger"]}
    assert by["loops"]["error"]["kind"] == "program_timeout" and by["loops"]["error"]["who"] == "program"
    for label in ("writes", "reads"):
        assert by[label]["error"]["who"] == "program", by[label]["error"]
    assert not by["triple"].get("error") and out.state["best"]["label"] == "triple"
    # an invalid program (validity 0) is measured, never the best, and the report says why
    assert not by["wrong"].get("error") and by["wrong"]["valid"] is False and not by["wrong"]["feasible"]
    assert by["wrong"]["verdict"] == "invalid"
    assert json.loads((tmp_path / "problem" / "answers.json").read_text())["expected"] == [3, 6, 9]
    report = (Path(out.run_dir) / "report.md").read_text()
    assert "program_timeout (program)" in report and "There is no held-out check" in report


def test_an_evaluator_that_crashes_or_prints_no_json_is_its_failure_and_the_run_goes_on(tmp_path):
    crash = small_task(tmp_path / "a", evaluator="def evaluate(program_path):\n    raise RuntimeError('boom')\n")
    out = start_run(RunConfig.build(str(crash), budget_sims=2, offline=True, workspace=tmp_path / "wa"))
    assert out.status == "finished" and out.state.get("best") is None
    errors = [e["error"] for e in out.state["ledger"]]
    assert errors and all(e["who"] == "evaluator" and e["kind"] == "evaluator_error" for e in errors)
    assert "boom" in errors[0]["message"] + errors[0].get("detail", "")
    assert "No experiment succeeded" in (Path(out.run_dir) / "report.md").read_text()
    quiet = tmp_path / "b"
    small_task(quiet)
    (quiet / "problem" / "score.py").write_text("print('no json here')\n")
    toml = (quiet / "triple.toml").read_text().replace('format = "openevolve"', 'format = "command"\n'
                                                       'command = ["python", "score.py", "{program}"]')
    (quiet / "triple.toml").write_text(toml)
    out = start_run(RunConfig.build(str(quiet / "triple.toml"), budget_sims=1, offline=True,
                                    workspace=tmp_path / "wb"))
    assert out.status == "finished"
    [entry] = out.state["ledger"]
    assert entry["error"]["kind"] == "no_metrics" and entry["error"]["who"] == "evaluator"


def test_a_resumed_program_run_reads_back_what_it_measured(tmp_path):
    path = small_task(tmp_path, budget=2)
    config = RunConfig.build(str(path), budget_sims=2, offline=True, workspace=tmp_path / "ws")
    out = start_run(config)
    assert out.status == "finished"
    again = resume_run(out.thread_id, tmp_path / "ws")
    assert again.status == "finished" and len(again.state["ledger"]) == 3  # the starter's baseline, 2 evaluations
    assert again.to_json()["simulations_used"] == 2


def test_the_researchers_shell_runs_the_problems_pieces_but_never_sees_the_evaluators_files(tmp_path):
    from glia.nodes.programs.harness import copy_problem
    from glia.tools.workspace import shell
    path = small_task(tmp_path)
    (tmp_path / "problem" / "helper.py").write_text("def case():\n    return 21\n")
    path.write_text(path.read_text().replace("timeout_s = 20", 'timeout_s = 20\nhidden = ["answers.json"]'))
    task = load_task(str(path))
    assert task["evaluator"]["hidden"] == ["evaluator.py", "answers.json"]
    ws = tmp_path / "ws"
    ws.mkdir()
    assert copy_problem(ws, task) == 1
    out = shell(ws, "ls problem; cd problem && python -c 'import helper; print(helper.case() * 2)'")
    assert "helper.py" in out and "42" in out and "answers.json" not in out and "evaluator.py" not in out
    try:                                                      # the original is out of the shell's reach
        seen = shell(ws, f"cat {tmp_path / 'problem' / 'answers.json'}")
    except Exception as exc:                                  # refused by the sandbox
        seen = str(exc)
    assert "expected" not in seen


# -- glia compare -----------------------------------------------------------------------------------------------------
def test_repeated_offline_compare_runs_are_distinct_runs_and_a_run_repeated_is_the_same(tmp_path):
    from glia.graph.experiments.compare import CompareConfig, start_compare
    path = small_task(tmp_path)

    def programs(compare_id: str, runs: int) -> dict[str, list[str]]:
        config = CompareConfig.build(str(path), methods_=["offline"], runs=runs, budget=2, workspace=tmp_path / "ws",
                                     compare_id=compare_id, heldout=False)
        out = start_compare(config)
        assert out.status == "finished", out.message
        ledger = BudgetLedger(out.dir / "ledger.sqlite")
        return {f"r{r}": [row["key"] for row in sorted(ledger.rows(f"offline-r{r}"), key=lambda x: x["seq"])]
                for r in range(1, runs + 1)}

    first = programs("cmp-a", 2)
    assert len(first["r1"]) == len(first["r2"]) == 3  # the starter's baseline (not charged), 2 evaluations
    starter = evaluation_key(STARTER, spec_for_task(load_task(str(path))))
    assert first["r1"][0] == first["r2"][0] == starter  # both start from the starter
    assert first["r1"] != first["r2"]                  # run 2 walks the constants search with a seed of its own
    assert programs("cmp-b", 1)["r1"] == first["r1"]     # run 1 again: the same run


def test_glia_compare_runs_every_method_on_a_program_task_through_the_one_ledger(tmp_path):
    import html

    from glia.graph.experiments.compare import CompareConfig, start_compare
    from glia.nodes import prompts as glia_prompts
    from tests.support.servers import Json, Model, OpenAIServer, Say, View, typical_model

    starter = load_task("job-placement")["design"]["starter_source"]
    better = starter.replace("WORK_WEIGHT = 0.0", "WORK_WEIGHT = 1.0")
    line = next(x for x in starter.splitlines() if x.startswith("WORK_WEIGHT"))
    probe = typical_model()

    def turn(view: View):
        system = html.unescape(view.messages[0]["content"]) if view.messages[0]["role"] == "system" else ""
        text = html.unescape(view.text())
        if "Researcher of Glia" in system:
            if "Weighted-by-work priorities" in text.split("Experiments")[-1]:
                return Say('{"name": "finish", "arguments": {"summary": "work-weighted priorities"}}') \
                    if "choose_action" not in view.tools else Json({"action": "finish"})
            return Say(f"Weighted-by-work priorities.\n```python\n{better}```")
        if "Analyst of Glia" in system:
            return Say("DONE") if view.last == glia_prompts.ANALYST_QUERY else Json({"findings": [{"text": "ok"}]})
        if "Supervisor of Glia" in system:
            return Json({"decision": "approve" if "researcher done" in text else "continue", "message": "Go on."})
        if "Design the best policy you can" in system:
            return Say(f"```python\n{better}```")
        if "You improve a policy" in system:
            return Say(f"Weight by work.\n<<<<<<< SEARCH\n{line}\n=======\n{line.replace('0.0', '2.0', 1)}\n"
                       ">>>>>>> REPLACE\n")
        return probe.turns[0](view)

    server = OpenAIServer(Model(turn))
    config = CompareConfig.build("job-placement", methods_=["glia", "best_shot", "openevolve"], runs=1,
                                 budget=1, model="emulated", base_url="http://openai.emulated/v1",
                                 workspace=tmp_path, compare_id="cmp-prog")
    out = start_compare(config, factory=server.factory)
    assert out.status == "finished", out.message
    ledger = BudgetLedger(tmp_path / "compares" / "cmp-prog" / "ledger.sqlite")
    for method in ("glia", "best_shot", "openevolve"):
        rows = charged(ledger.rows(f"{method}-r1"))
        assert len(rows) == 1 and rows[0]["key"].startswith("prog-"), (method, rows)
    # Glia's first experiment, the unchanged starter, is its baseline: a row of the unit, never charged
    assert [r["status"] for r in ledger.rows("glia-r1")][0] == "baseline" and ledger.used("glia-r1") == 1
    summary = out.summary
    assert summary["baselines"]["starter"]["value"] == pytest.approx(1.3627, abs=1e-3) and summary["program"]
    assert summary["baselines"]["starter"]["heldout"] is not None
    assert summary["methods"]["best_shot"]["search"]["mean"] > 1.3627
    report = (tmp_path / "compares" / "cmp-prog" / "report.md").read_text()
    assert "baseline starter" in report
    # the report speaks of the program task's evaluations and variants, not of a simulator's seeds
    assert "by the evaluator's variants heldout (`--split heldout`), shifted (`--split shifted`)" in report
    assert "as the shinka evaluator `evaluate.py` reports it on its own cases (the search), valid only with " \
           "`correct` >= 1. Budget: 1 evaluations per run" in report
    assert "Timeout per evaluation: 60 s of wall time (the evaluator and the program together)" in report
    assert "| method | runs | evaluations used | search | held-out variant | shifted variant |" in report
    assert "## Best design so far against evaluations" in report and "| run | status | evaluations |" in report
    assert "- Hardened: each run's best program evaluated again in a fresh copy of the working directory" in report
    for simulator_term in ("over seeds", "seed", "simulations used", "simulation time", "shifted workload"):
        assert simulator_term not in report.lower(), simulator_term


def test_glia_compare_takes_glias_role_implementations_and_endpoint_modes_and_says_so(tmp_path):
    """A user with a slow or small model compares Glia with its analyst, supervisor and summarizer offline and the
    researcher on the text protocol (as `glia run --impl/--endpoint` allow): the unit runs that way, a resume keeps
    it, and the report says which Glia it was."""
    from glia.graph.experiments.compare import CompareConfig, start_compare
    from glia.graph.experiments.compare.runner import CompareConfig as Loaded
    from tests.support.servers import Model, OpenAIServer, Say, View

    def turn(view: View):
        return Say('<tool_call>{"name": "finish", "arguments": {"summary": "the starter"}}</tool_call>')

    server = OpenAIServer(Model(turn))
    impl = {"analyst": "offline", "supervisor": "offline", "summarizer": "offline"}
    with pytest.raises(ValueError, match="analyst"):
        CompareConfig.build("job-placement", methods_=["glia"], runs=1, budget=1, model="m",
                            base_url="http://openai.emulated/v1", workspace=tmp_path, glia_impl={"analyst": "nope"})
    config = CompareConfig.build("job-placement", methods_=["glia"], runs=1, budget=1, model="emulated",
                                 base_url="http://openai.emulated/v1", workspace=tmp_path, compare_id="cmp-impl",
                                 glia_impl=impl, endpoint=["researcher.tools=text"], heldout=False)
    out = start_compare(config, factory=server.factory)
    assert out.status == "finished", out.message
    run = json.loads(next((tmp_path / "compares" / "cmp-impl" / "units").glob("glia-r1/runs/*/run.json")).read_text())
    assert run["implementations"] == {"researcher": "llm", **impl}
    assert run["modes"]["researcher"]["tools"] == "text" and set(run["modes"]) == {"researcher"}
    assert Loaded.load("cmp-impl", tmp_path).glia_impl == impl      # a resume runs the same Glia
    report = (tmp_path / "compares" / "cmp-impl" / "report.md").read_text()
    assert ("Glia's roles: researcher=llm, analyst=offline, supervisor=offline, summarizer=offline; endpoint modes "
            "researcher.tools=text.") in report


def test_compare_progress_lines_on_a_program_task_count_evaluations(capsys):
    from glia.graph.experiments.compare.commands import progress

    say = progress(quiet=False)
    say({"event": "timeout", "seconds": 60, "cpu_s": None, "basis": "", "program": True})
    say({"event": "unit_start", "unit": "glia-r1", "budget": 2, "used": 0})
    say({"event": "evaluation", "unit": "glia-r1", "used": 1, "budget": 2, "label": "swf", "value": 1.5})
    say({"event": "heldout", "what": "baselines"})
    err = capsys.readouterr().err
    assert "timeout per evaluation of a program: 60 s of wall time" in err and "seed" not in err
    assert "(0 of 2 evaluations used)" in err and "glia-r1: evaluation 1/2 swf -> 1.500" in err
    assert "re-measuring the baselines with the evaluator's held-out and shifted variants" in err


def test_compare_summary_lines_on_a_program_task_count_evaluations():
    from glia.graph.experiments.compare.commands import summary_lines

    method = {"name": "Glia", "search": {"mean": 1.4, "n": 1}, "heldout": {"mean": 1.5, "n": 1}, "runs": 1,
              "sims_used": 2.0, "wall_s": 30.0, "tokens": 0.0}
    data = {"compare_id": "c", "status": "finished", "message": "", "methods": {"glia": method}, "report": None}
    assert summary_lines({**data, "program": True})[1].endswith("(1 runs, 2.0 evaluations, 30 s, 0 tokens per run)")
    assert "sims" not in "\n".join(summary_lines({**data, "program": True}))
    assert summary_lines(data)[1].endswith("(1 runs, 2.0 sims, 30 s, 0 tokens per run)")


# the speed-aware, shortest-work-first function as EoH and FunSearch ask for it (a thought, then the function)
PLACE = ("{Shortest work first, on the machine that would finish the job soonest.}\n```python\ndef place"
         + SWF.split("def place", 1)[1].replace('WORK_WEIGHT * job["work"]', '1.0 * job["work"]') + "```")


def test_the_function_eoh_and_funsearch_evolve_is_named_by_the_task_or_they_say_how_to_name_one(tmp_path):
    from glia.graph.experiments.compare import CompareConfig
    from glia.graph.experiments.compare.methods import function_template
    from glia.tools.programs.functions import splice_function
    task = load_task("job-placement")
    template, adapter, doc = function_template(task)
    assert template.startswith('"""Job placement') and template.rstrip().endswith("return out")
    assert template.count("def ") == 1 and "def place(jobs: list, machines: list)" in template
    assert adapter == "" and "one (machine_id, priority) per job" in doc
    # an evolved function (renamed by the library, or not) goes back in its place; the harness is untouched
    starter = task["design"]["starter_source"]
    new = splice_function(starter, "place", "import math\n\n\ndef place_v2(jobs, machines):\n    return []\n")
    assert "def place(jobs, machines):\n    return []\n# EVOLVE-BLOCK-END" in new
    assert new.split("def place(")[0] == starter.split("def place(")[0]
    assert new.split("# EVOLVE-BLOCK-END")[1] == starter.split("# EVOLVE-BLOCK-END")[1]
    # a task that names none: a clear error before anything runs, saying how to name one
    with pytest.raises(ValueError, match=r"names no function to evolve.*function = \"place\""):
        function_template(load_task("cache-eviction"))
    pytest.importorskip("llm4ad", reason="pip install --no-deps llm4ad==1.11 (as .ci/run does)")
    with pytest.raises(ValueError, match="'cache-eviction' names no function to evolve"):
        CompareConfig.build("cache-eviction", methods_=["eoh"], model="m", workspace=tmp_path)


@pytest.mark.parametrize("function, message", [
    ("nope", "'nope' is not a top-level function of the starter"),
    ("helper", "'helper' lies outside the starter's EVOLVE-BLOCK regions")])
def test_a_function_the_starter_lacks_or_keeps_outside_its_blocks_is_refused(tmp_path, function, message):
    path = small_task(tmp_path)
    starter = tmp_path / "problem" / "prog.py"
    starter.write_text(STARTER + "\n\ndef helper(x):\n    return solve(x)\n")
    path.write_text(path.read_text().replace('starter = "problem/prog.py"',
                                             f'starter = "problem/prog.py"\nfunction = "{function}"'))
    with pytest.raises(TaskError, match=message):
        load_task(str(path))


def test_eoh_and_funsearch_evolve_a_program_tasks_function_through_the_one_evaluator(tmp_path):
    pytest.importorskip("llm4ad", reason="pip install --no-deps llm4ad==1.11 (as .ci/run does)")
    from glia.graph.experiments.compare import CompareConfig, start_compare
    from tests.support.servers import Model, OpenAIServer, Say, View, typical_model
    probe = typical_model()
    asked = []

    def turn(view: View):
        if "def place" in view.text():
            asked.append(view.text())
            return Say(PLACE)
        return probe.turns[0](view)

    server = OpenAIServer(Model(turn))
    config = CompareConfig.build("job-placement", methods_=["eoh", "funsearch"], runs=1, budget=2, model="emulated",
                                 base_url="http://openai.emulated/v1", workspace=tmp_path, compare_id="cmp-fn",
                                 heldout=False)
    out = start_compare(config, factory=server.factory)
    assert out.status == "finished", out.message
    assert asked and "EVOLVE-BLOCK" not in asked[0].split("def place")[1]   # the function, not the harness
    starter = out.summary["baselines"]["starter"]["value"]
    ledger = BudgetLedger(out.dir / "ledger.sqlite")
    for method in ("eoh", "funsearch"):
        rows = ledger.rows(f"{method}-r1")
        assert 1 <= len(charged(rows)) <= 2 and all(r["key"].startswith("prog-") for r in rows), (method, rows)
        assert all(r["status"] in ("ok", "reused", "baseline") for r in rows), (method, rows)
        best = out.summary["methods"][method]["units"][0]["best"]
        code = Path(best["snapshot"]).read_text()
        assert "def run_placement(jobs: list, machines: list) -> list:" in code   # a whole program, harness kept
        assert "+ 1.0 * job[\"work\"]" in code and best["value"] > starter, (method, best)
    # FunSearch measures the task's own function first (the starter): the same program, the same figure
    assert min(r["value"] for r in ledger.rows("funsearch-r1")) == pytest.approx(starter)


def test_a_design_that_breaks_the_constraint_is_said_to_break_it_not_shown_a_bare_gain():
    """A model-written placement scored 0 with correct 0: its progress line said "INFEASIBLE (+100.0 %)", which read
    as a gain; it says the constraint is broken, and by how much."""
    from glia.graph.progress import infeasible
    assert infeasible({"feasible": False, "violation": 1.0}) == ", INFEASIBLE (its constraint broken by 100.0 %)"
    assert infeasible({"feasible": True}) == ""


def test_a_function_the_harness_calls_must_keep_its_arguments_or_it_is_sent_back_free():
    """The 1.5B model gave ``place`` a third argument; the harness (outside the EVOLVE-BLOCK) calls place(jobs,
    machines), so the evaluation was spent on a TypeError. Such a program is sent back before it runs; a new argument
    with a default, or another function's arguments, are the model's to choose."""
    from glia.nodes.researcher import _called_signature
    starter = load_task("job-placement")["design"]["starter_source"]
    third = starter.replace("def place(jobs: list, machines: list) -> list:",
                            "def place(jobs: list, machines: list, estimated_finish_time) -> list:")
    assert third != starter
    said = _called_signature(starter, third)
    assert said.startswith("place must keep its arguments: def place(jobs, machines), as the code outside the "
                           "EVOLVE-BLOCK calls it (yours takes jobs, machines, estimated_finish_time")
    assert _called_signature(starter, third.replace("estimated_finish_time)", "estimated_finish_time=None)")) is None
    assert _called_signature(starter, starter.replace("def place(jobs: list, machines: list)",
                                                      "def place(jobs: list)")) is not None
    assert _called_signature(starter, starter) is None
