"""Deadlines in CPU time, on a loaded machine: with two busy processes beside the evaluation, a candidate that loops
forever is stopped by the kernel at the CPU budget derived from the baselines (not at a wall-clock time that moves
with the load), and neither the baselines nor the held-out and shifted re-measurements time out. No timed
assertions: what is checked is who stopped what and why, in the figures the kernel counted."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from glia.simulator.harness import runner
from glia.tools.evaluator import Evaluator
from glia.tools.heldout import measure_heldout

POLICIES = Path(__file__).parents[2] / "policies"
STARTER = Path(__file__).parents[3] / "state" / "tasks" / "builtin" / "routing_starter.py"


@pytest.fixture
def busy():
    """Two processes that keep both cores busy for as long as the test runs (the load the budget must ignore)."""
    procs = [subprocess.Popen([sys.executable, "-c", "while 1: pass"]) for _ in range(2)]
    try:
        yield procs
    finally:
        for p in procs:
            p.kill()
            p.wait()


def test_under_load_a_looping_candidate_is_stopped_at_its_cpu_budget_and_no_baseline_or_heldout_figure_times_out(
        tmp_path, monkeypatch, busy):
    monkeypatch.setattr(runner, "CPU_FLOOR_S", 1.0)   # a small budget keeps the test short; the rule is the same
    monkeypatch.setattr(runner, "CPU_FACTOR", 3.0)
    task = {"benchmark": {"workload": "paper-routing-short", "seeds": [0, 1]}, "heldout": {"seeds": 2}}
    ev = Evaluator("paper-routing-short", [0, 1], lambda m: m.get("mean_e2e_s", float("inf")),
                   db=tmp_path / "telemetry.duckdb")
    baseline = ev.measure("llq", "baseline-llq", context="baselines")
    assert baseline["error"] is None and baseline["seed_cpu_s"] > 0
    budget = ev.calibrate([baseline])
    assert budget.seconds == max(1.0, float(-(-3 * baseline["seed_cpu_s"] // 1)))
    assert ev.deadline(ev.stack("llq"))[0] is None  # the built-in baseline: never a derived deadline

    res = ev.measure(str(POLICIES / "loops_forever.py"), "loop")
    err = res["error"]
    assert err["kind"] == "timeout" and res["score"] == float("inf") and res["seeds_run"] <= 2
    assert f"used its CPU budget of {budget.seconds:g} s per seed (3 x the slowest baseline's" in err["message"]
    used = float(re.search(r"stopped by the kernel \(([\d.]+) s of CPU", err["message"]).group(1))
    # SIGXCPU at the budget (SIGKILL a second later); the rusage the kernel reports can read a little under it
    assert 0.7 * budget.seconds <= used <= budget.seconds + 1.1
    assert "of wall time (killed)" not in err["message"]  # the wall-clock cap behind it never came into play

    figures = measure_heldout(ev, task, {"llq": "llq", "best": str(STARTER)}, "run")
    for design, parts in figures.items():
        for part, fig in parts.items():
            assert fig["error"] is None, (design, part, fig["error"])
            assert fig["value"] > 0
    assert figures["best"]["heldout"]["hardened"] and not figures["llq"]["heldout"]["hardened"]



def test_the_wall_clock_cap_behind_a_cpu_budget_says_how_much_of_the_budget_was_used():
    from glia.simulator.harness.sandbox import CpuBudget, run_seeds
    from glia.simulator.presets import get_preset
    # a cap far below what the seed needs, as on a machine loaded beyond the cap's margin
    [out] = run_seeds(get_preset("paper-routing"), "llq", [0], timeout_s=0.05, cpu=CpuBudget(60, "a test's"))
    assert out.error["kind"] == "timeout"
    assert out.error["message"].startswith("seed 0 did not finish within 0.05 s of wall time (killed); it had used ")
    assert "s of CPU, under its budget of 60 s" in out.error["message"] and out.cpu_s < 60
