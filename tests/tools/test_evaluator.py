"""The evaluator every method shares: fail-fast seeds, a CPU budget from the baselines, one charge per key, results
read back instead of run again; and the budget ledger under concurrent use."""

from __future__ import annotations

import json
import math
import re
from concurrent.futures import ThreadPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import pytest

from glia.simulator.harness import runner
from glia.simulator.harness.runner import TRUSTED_WALL_S, derive_budget, wall_cap
from glia.simulator.harness.telemetry import reading
from glia.tools.evaluator import Evaluator
from glia.tools.ledger import BudgetLedger

POLICIES = Path(__file__).parents[1] / "policies"


def mean_e2e(metrics: dict) -> float:
    return metrics.get("mean_e2e_s", float("inf"))


def test_the_cpu_budget_is_a_multiple_of_the_slowest_baselines_cpu_per_seed_within_a_floor_and_a_ceiling():
    assert derive_budget([0.3, 0.5]).seconds == 10.0
    assert derive_budget([0.3, 0.5]).basis == "10 x the slowest baseline's 0.50 s of CPU per seed, at least 10 s"
    assert derive_budget([2.0, 4.04]).seconds == 41.0  # whole seconds, as the kernel's limit is
    assert derive_budget([2.0, 4.04]).basis == "10 x the slowest baseline's 4.04 s of CPU per seed"
    assert derive_budget([100.0]).seconds == 300.0
    assert derive_budget([]).seconds == 300.0
    assert "wall time" in derive_budget([2.0], wall=True).basis  # a baseline measured before CPU was counted
    assert wall_cap(derive_budget([0.3])) == 100.0 and wall_cap(None) == TRUSTED_WALL_S


def test_built_in_policies_are_never_stopped_by_a_derived_deadline_and_a_hardened_candidate_gets_four_times_the_cpu():
    ev = Evaluator("paper-routing-short", [0], mean_e2e, layer="batch", fixed={"router": "llq"})
    ev.calibrate([{"seed_cpu_s": 0.4}, {"seed_cpu_s": 2.5}])
    assert ev.cpu.seconds == 25.0 and ev.timeout_s == 250.0
    assert ev.deadline(ev.stack("spf")) == (None, TRUSTED_WALL_S)
    cpu, wall = ev.deadline(ev.stack("my_batch.py"))
    assert cpu.seconds == 25.0 and wall == 250.0
    cpu, wall = ev.deadline(ev.stack("my_batch.py"), hardened=True)
    assert cpu.seconds == 100.0 and wall == 1000.0 and cpu.basis.endswith("x4 for the hardened mode")


def test_a_candidate_that_fails_on_one_seed_does_not_run_its_other_seeds(tmp_path):
    db = tmp_path / "telemetry.duckdb"
    ev = Evaluator("paper-routing-short", [0, 1, 2, 3], mean_e2e, db=db)
    res = ev.measure(str(POLICIES / "raises_on_seed_0.py"), "fragile")
    assert res["error"]["kind"] == "exception" and res["error"]["seed"] == 0
    assert "seed 0 is not supported" in res["error"]["message"]
    assert res["seeds_run"] <= 2  # seed 0, and at most the seed already running beside it on two cores
    with reading(db) as con:
        kinds = dict(con.execute("SELECT seed, error_kind FROM run_seeds WHERE run_id = 'fragile'").fetchall())
    assert kinds[0] == "exception" and kinds[2] == kinds[3] == "skipped"


def test_an_infinite_loop_is_stopped_by_the_kernel_at_a_cpu_budget_derived_from_the_baselines(tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "CPU_FLOOR_S", 1.0)
    monkeypatch.setattr(runner, "CPU_FACTOR", 3.0)
    ev = Evaluator("paper-routing-short", [0, 1], mean_e2e, db=tmp_path / "telemetry.duckdb")
    baseline = ev.measure("llq", "llq")
    assert 0 < baseline["seed_cpu_s"] <= baseline["seed_s"] + 0.05  # the seed process's CPU, as the kernel counted
    ev.calibrate([baseline])
    assert ev.cpu.seconds == max(1.0, math.ceil(3 * baseline["seed_cpu_s"]))
    res = ev.measure(str(POLICIES / "loops_forever.py"), "loop")
    assert res["error"]["kind"] == "timeout" and res["score"] == float("inf")
    assert (f"used its CPU budget of {ev.cpu.seconds:g} s per seed (3 x the slowest baseline's "
            f"{baseline['seed_cpu_s']:.2f} s of CPU per seed") in res["error"]["message"]  # seed 0 or 1: both ran
    assert "and was stopped by the kernel" in res["error"]["message"]


def test_an_evaluation_is_charged_once_per_key_and_refused_past_the_cap(tmp_path):
    ledger = BudgetLedger(tmp_path / "ledger.sqlite")
    ledger.open_unit("u", 2)
    ev = Evaluator("paper-routing-short", [0], mean_e2e, db=tmp_path / "telemetry.duckdb", ledger=ledger, unit="u")
    first = ev.evaluate_source("from glia.simulator.policy.builtin.llq import *\n", tmp_path)
    assert first["status"] == "error" and first["charged"] and first["seq"] == 1  # no scheduler class: load error
    again = ev.evaluate_source("from glia.simulator.policy.builtin.llq import *\n", tmp_path)
    assert again["status"] == "reused" and not again["charged"] and again["seq"] == 1
    llq = (POLICIES.parent.parent / "state" / "tasks" / "builtin" / "routing_starter.py").read_text()
    second = ev.evaluate_source(llq, tmp_path, label="starter")
    assert second["status"] == "ok" and second["seq"] == 2 and second["value"] > 0
    reworded = ev.evaluate_source("# the starter, re-worded\n" + llq.replace("\n\n\n", "\n\n"), tmp_path)
    assert reworded["status"] == "reused" and not reworded["charged"] and reworded["seq"] == 2  # the same program
    third = ev.evaluate_source(llq.replace("Router", "Router2"), tmp_path)
    assert third["status"] == "budget" and not third["charged"]
    rows = ledger.rows("u")
    assert [r["seq"] for r in rows] == [1, 2] and rows[1]["label"] == "starter"
    assert rows[1]["value"] == second["value"] and Path(rows[1]["snapshot"]).read_text() == llq


def _reserve_many(path: str, unit: str, keys: list[str]) -> int:
    ledger = BudgetLedger(path)
    return sum(ledger.reserve(unit, k) is not None for k in keys)


def test_the_ledger_never_goes_past_its_cap_under_threads_and_processes(tmp_path):
    path = str(tmp_path / "ledger.sqlite")
    BudgetLedger(path).open_unit("u", 25)
    keys = [[f"k{w}-{i}" for i in range(20)] for w in range(4)]
    with ThreadPoolExecutor(2) as threads:
        in_threads = list(threads.map(_reserve_many, [path] * 2, ["u"] * 2, keys[:2]))
    ctx = get_context("fork")
    with ctx.Pool(2) as pool:
        in_processes = pool.starmap(_reserve_many, [(path, "u", keys[2]), (path, "u", keys[3])])
    assert sum(in_threads) + sum(in_processes) == 25
    assert BudgetLedger(path).used("u") == 25


def test_glia_simulate_stops_a_policy_file_that_never_returns_and_skips_its_other_seeds(monkeypatch, capsys):
    from glia.graph.cli import main

    monkeypatch.setattr(runner, "CPU_FLOOR_S", 1.0)
    monkeypatch.setattr(runner, "CPU_FACTOR", 2.0)
    code = main(["simulate", "--policy", str(POLICIES / "loops_forever.py"), "--workload", "paper-routing-short",
                 "--seeds", "3", "--jobs", "1", "--no-record", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 1 and out["error"]["kind"] == "timeout" and out["error"]["seed"] == 0
    assert out["error"]["failed_seeds"] == [0, 1, 2]  # seeds 1 and 2 never ran: skipped
    budget = float(re.search(r"used its CPU budget of ([\d.]+) s per seed \(2 x the slowest baseline's",
                             out["error"]["message"]).group(1))
    assert budget < runner.DEFAULT_CPU_S  # derived from llq's CPU time on seed 0, not the 300 s default


def test_a_candidate_of_another_layer_runs_with_the_tasks_fixed_router_and_an_infeasible_one_is_never_best(tmp_path):
    from glia.graph.experiments.compare.report import _scores
    db, ledger = tmp_path / "telemetry.duckdb", BudgetLedger(tmp_path / "ledger.sqlite")
    ledger.open_unit("u", 5)
    probe = Evaluator("paper-routing-short", [0], mean_e2e, db=db, layer="batch", fixed={"router": "llq"})
    fcfs, spf = probe.measure("fcfs", "fcfs")["value"], probe.measure("spf", "spf")["value"]
    bound = (fcfs + spf) / 2  # the task's constraint: mean_e2e_s <= bound, which one of them breaks

    def violation(metrics: dict) -> float:
        return max(0.0, metrics["mean_e2e_s"] / bound - 1)
    ev = Evaluator("paper-routing-short", [0], mean_e2e, db=db, ledger=ledger, unit="u", layer="batch",
                   fixed={"router": "llq"}, judge=violation)
    results = {p: ev.evaluate(p, p) for p in ("fcfs", "spf")}  # read back from the telemetry, charged once each
    slow, fast = sorted(results, key=lambda p: results[p]["value"], reverse=True)
    assert not results[slow]["feasible"] and results[slow]["violation"] == pytest.approx(violation(
        {"mean_e2e_s": results[slow]["value"]}))
    assert results[fast]["feasible"] and results[fast]["violation"] == 0.0
    rows = {r["key"]: r for r in ledger.rows("u")}
    assert rows[slow]["feasible"] == 0 and rows[slow]["violation"] > 0 and rows[fast]["feasible"] == 1
    scores = _scores(ledger.rows("u"))
    assert scores[[r["key"] for r in ledger.rows("u")].index(slow)] == float("inf")  # never on a best-so-far curve
    with reading(db) as con:
        stack = con.execute("SELECT policy, batch_policy FROM runs WHERE run_id = ?", [slow]).fetchone()
    assert stack == ("llq", slow)


def test_a_ledger_written_before_constraints_were_kept_gains_their_columns(tmp_path):
    import sqlite3
    path = tmp_path / "ledger.sqlite"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE evaluations (unit TEXT NOT NULL, key TEXT NOT NULL, seq INTEGER NOT NULL, status TEXT "
                "NOT NULL, score REAL, value REAL, metrics TEXT, error_kind TEXT, error_message TEXT, code_hash TEXT, "
                "snapshot TEXT, label TEXT, sim_s REAL, wall_s REAL, charged_at REAL NOT NULL, finished_at REAL, "
                "tokens INTEGER, PRIMARY KEY (unit, key))")
    con.commit()
    con.close()
    ledger = BudgetLedger(path)
    ledger.open_unit("u", 1)
    ledger.reserve("u", "k")
    ledger.record("u", "k", {"status": "ok", "score": 1.0, "value": 1.0, "feasible": False, "violation": 0.25})
    [row] = ledger.rows("u")
    assert (row["feasible"], row["violation"]) == (0, 0.25)
