"""Ctrl-C as a user presses it, at each phase of a real run (real ``glia`` processes, SIGINT to the whole process
group as a terminal sends it): the seed processes never see it and are stopped by the parent, the step in flight is
discarded (not recorded, not charged), the exit names the thread and the command that resumes it, and the resumed
run ends with exactly its budget of experiments, none run twice, none lost, no error left by the interrupt. A second
Ctrl-C exits at once with the same guarantee. The same for a comparison, by unit. No timed assertions: each phase is
held in flight by freezing one of its seed processes (or the fork server) before the signal is sent."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
from pathlib import Path

from glia.graph.runs import run_state
from glia.simulator.harness.telemetry import reading
from tests.support.terminal import Glia, ignores_sigint, run, state_of

TASK = str(Path(__file__).parents[1] / "tasks" / "quick.toml")
INTERRUPT_ERRORS = {"crashed", "unconfined", "internal", "tampered_records", "timeout"}


def telemetry(workspace: Path) -> list[tuple[str, str | None]]:
    db = workspace / "telemetry.duckdb"
    if not db.exists():
        return []
    with reading(db) as con:
        try:
            return con.execute("SELECT run_id, error_kind FROM runs ORDER BY created_at").fetchall()
        except Exception:  # no table yet
            return []


def ledger(workspace: Path, thread: str) -> list[str]:
    return [e["id"] for e in run_state(thread, workspace).state.get("ledger", [])]


def interrupted(g: Glia, thread: str, what: str) -> None:
    """The command stopped on the user's Ctrl-C, saying what it discarded and how to resume."""
    assert g.finish() == 130, g.stderr + g.stdout
    assert f"run {thread}: paused: interrupted: {what} discarded (not recorded, not charged); `glia resume " \
           f"{thread}` continues" in g.stdout, g.stdout
    assert "Traceback" not in g.stderr, g.stderr


def clean(workspace: Path) -> None:
    """What the telemetry holds was measured to its end: each measurement once, none failed by the interrupt."""
    rows = telemetry(workspace)
    assert len({r for r, _ in rows}) == len(rows), rows
    assert not [r for r in rows if r[1] in INTERRUPT_ERRORS], rows


def test_ctrl_c_at_each_phase_of_a_run_then_resume_loses_nothing_and_charges_nothing_twice(tmp_path):
    ws, thread = tmp_path, "t"
    common = ("--workspace", str(ws))

    # 1. the baselines: a seed of llq in flight
    g = Glia("run", "--task", TASK, "--budget-sims", "2", "--thread", thread, *common)
    seed = g.freeze_a_seed(lambda: not telemetry(ws), "a baseline's seed ran")  # recorded before anything else runs
    assert ignores_sigint(seed)  # the user's Ctrl-C is not the seed process's to handle
    g.ctrl_c()
    interrupted(g, thread, "the baselines' measurement")
    assert state_of(seed) in ("", "Z") or not g.seed_processes()  # stopped by the parent
    assert "glia resume t" in g.stderr.splitlines()[2]              # said at the start, too
    assert ledger(ws, thread) == [] and telemetry(ws) == []
    assert not run_state(thread, ws).state.get("baselines")

    # 2. the first experiment: one of its seeds in flight
    g = Glia("resume", thread, *common)
    g.freeze_a_seed(lambda: any("baseline llq" in line for line in g.err)
                    and not [r for r, _ in telemetry(ws) if "c1-e001" in r], "the first experiment's seed ran")
    g.ctrl_c()
    interrupted(g, thread, "experiment c1-e001")
    assert ledger(ws, thread) == []
    clean(ws)
    assert [r for r, _ in telemetry(ws)] == ["t-baseline-llq"]

    # 3. the held-out re-measurement, stopped by two Ctrl-C: the fork server frozen, the first Ctrl-C cannot finish
    # stopping (the next seed process cannot start), the second exits at once
    g = Glia("resume", thread, *common)
    server = g.wait_for(lambda: any("held-out:" in line for line in g.err) and _fork_server(g), "held-out began")
    os.kill(server, signal.SIGSTOP)
    g.wait_for(lambda: not g.seed_processes(), "the seed in flight ended")
    g.ctrl_c()
    g.wait_for(lambda: any("stopping:" in line for line in g.err), "the first Ctrl-C was taken")
    g.ctrl_c()
    assert g.finish() == 130, g.stderr
    assert "stopped at once; `glia resume t` continues from the last finished step" in g.stderr
    g.kill()
    try:  # the frozen fork server, orphaned: a session of its own, so the group's SIGKILL above missed it
        os.kill(server, signal.SIGKILL)
    except ProcessLookupError:
        pass
    state = run_state(thread, ws).state
    assert [e["id"] for e in state["ledger"]] == ["c1-e001", "c1-e002"] and not state.get("heldout")
    clean(ws)

    # 4. resumed to its end: exactly the budget, each experiment once, held-out figures without an error
    g = run("resume", thread, *common, "--json")
    out = json.loads(g.stdout)
    assert g.proc.returncode == 0 and out["status"] == "finished", g.stderr
    assert out["simulations_used"] == 2 and ledger(ws, thread) == ["c1-e001", "c1-e002"]
    assert all(not h[p]["error"] for h in out["heldout"].values() for p in ("heldout", "shifted")), out["heldout"]
    clean(ws)
    ids = [r for r, _ in telemetry(ws)]
    assert sorted(i for i in ids if "/c1-e" in i) == ["t/c1-e001", "t/c1-e002"]


def _fork_server(g: Glia) -> int | None:
    from tests.support.terminal import _children, _cmdline
    return next((c for c in _children().get(g.proc.pid, []) if b"glia.simulator.harness.zygote" in _cmdline(c)), None)


def test_ctrl_c_in_a_comparison_stops_the_unit_in_flight_and_resume_continues_it(tmp_path):
    args = ("compare", "--task", TASK, "--methods", "offline", "--runs", "2", "--budget-sims", "1", "--id", "cmp",
            "--workspace", str(tmp_path), "--no-heldout")
    g = Glia(*args)
    g.freeze_a_seed(lambda: any("offline-r2: starting" in line for line in g.err), "the second unit ran")
    g.ctrl_c()
    code = g.finish()
    assert code == 130, g.stderr + g.stdout
    assert "`glia compare --resume cmp` continues" in g.stdout and "Traceback" not in g.stderr, g.stdout + g.stderr
    book = tmp_path / "compares" / "cmp" / "ledger.sqlite"

    def rows():
        with sqlite3.connect(book) as con:
            return con.execute("SELECT unit, key, status, error_kind FROM evaluations ORDER BY unit, seq").fetchall()
    before = rows()
    assert all(r[2] != "running" for r in before), before  # the evaluation in flight was given back
    assert len([r for r in before if r[0] == "offline-r1"]) == 1
    assert not [r for r in before if r[0] == "offline-r2"]
    g = run("compare", "--resume", "cmp", "--workspace", str(tmp_path))
    assert g.proc.returncode == 0, g.stderr
    after = rows()
    assert [r[:2] for r in after if r[0] == "offline-r1"] == [r[:2] for r in before if r[0] == "offline-r1"]
    for unit in ("offline-r1", "offline-r2"):
        mine = [r for r in after if r[0] == unit]
        assert len(mine) == 1 and mine[0][2] != "running", after
        assert not [r for r in mine if r[3] in INTERRUPT_ERRORS], after
