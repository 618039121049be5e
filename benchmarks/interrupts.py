"""Ctrl-C at each phase of a run, of a comparison and of the TUI, then resume: the ledger and the telemetry before and
after, to show that nothing is charged twice or lost and that no interrupt is recorded as an error.

Each phase is held in flight by freezing one of its seed processes (or the fork server) before SIGINT is sent to the
command's whole process group, as a terminal's Ctrl-C is; the freezing makes the phase certain, not the timing.

    python -m benchmarks.interrupts [--task tests/tasks/quick.toml] [--budget 3] [--workspace DIR]

Prints, per phase: the signal(s), the exit code, the command's last line, the ledger (experiment ids) and the
telemetry's measurements (run ids, with any error) after the stop; then the same after the final resume.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from glia.graph.runs import run_state  # noqa: E402
from glia.simulator.harness.telemetry import reading  # noqa: E402
from tests.support.terminal import Glia, _children, _cmdline, run, state_of  # noqa: E402

INTERRUPT_ERRORS = {"crashed", "unconfined", "internal", "tampered_records", "timeout"}


def telemetry(ws: Path) -> list[tuple[str, str | None]]:
    if not (ws / "telemetry.duckdb").exists():
        return []
    with reading(ws / "telemetry.duckdb") as con:
        try:
            return con.execute("SELECT run_id, error_kind FROM runs ORDER BY created_at").fetchall()
        except Exception:
            return []


def ledger(ws: Path, thread: str) -> list[str]:
    return [e["id"] + (f"({e['error']['kind']})" if e.get("error") else "")
            for e in run_state(thread, ws).state.get("ledger", [])]


def show(title: str, g: Glia | None, ws: Path, thread: str | None, code: int | None = None) -> None:
    print(f"\n== {title}")
    if g is not None:
        last = [line for line in g.out if line.strip()]
        print(f"exit {g.proc.returncode if code is None else code}; says: {last[0] if last else '-'}")
        stopping = [line.strip() for line in g.err if "stopping:" in line or "stopped at once" in line]
        for line in stopping:
            print(f"  stderr: {line}")
    if thread:
        print(f"ledger (checkpointed): {ledger(ws, thread)}")
    rows = telemetry(ws)
    print(f"telemetry: {[r + (f' ({k})' if k else '') for r, k in rows]}")
    bad = [r for r in rows if r[1] in INTERRUPT_ERRORS]
    dup = len(rows) - len({r for r, _ in rows})
    print(f"checks: {len(rows)} measurements, {dup} recorded twice, {len(bad)} failed by an interrupt")


def fork_server(g: Glia) -> int | None:
    return next((c for c in _children().get(g.proc.pid, []) if b"glia.simulator.harness.zygote" in _cmdline(c)), None)


def the_run(task: str, budget: int, ws: Path) -> None:
    thread, common = "bench", ("--workspace", str(ws))
    g = Glia("run", "--task", task, "--budget-sims", str(budget), "--thread", thread, *common)
    g.freeze_a_seed(lambda: not telemetry(ws), "a baseline's seed ran")
    g.ctrl_c()
    g.finish()
    show("run: Ctrl-C during the baselines", g, ws, thread)

    g = Glia("resume", thread, *common)
    g.freeze_a_seed(lambda: any("baseline" in line for line in g.err)
                    and not [r for r, _ in telemetry(ws) if "c1-e001" in r], "the first experiment ran")
    g.ctrl_c()
    g.finish()
    show("resume, then Ctrl-C during experiment c1-e001", g, ws, thread)

    g = Glia("resume", thread, *common)
    g.freeze_a_seed(lambda: any("experiment c1-e001" in line for line in g.err)
                    and not [r for r, _ in telemetry(ws) if "c1-e002" in r], "the second experiment ran")
    g.ctrl_c()
    g.finish()
    show("resume, then Ctrl-C during experiment c1-e002", g, ws, thread)

    g = Glia("resume", thread, *common)
    server = g.wait_for(lambda: any("held-out:" in line for line in g.err) and fork_server(g), "held-out began")
    os.kill(server, signal.SIGSTOP)
    g.wait_for(lambda: not g.seed_processes(), "the seed in flight ended")
    g.ctrl_c()
    g.wait_for(lambda: any("stopping:" in line for line in g.err), "the first Ctrl-C was taken")
    g.ctrl_c()
    g.finish()
    g.kill()
    show("resume, then Ctrl-C twice during the held-out re-measurement", g, ws, thread)

    started = time.monotonic()
    g = run("resume", thread, *common, "--json")
    out = json.loads(g.stdout)
    show(f"resume to the end ({time.monotonic() - started:.0f} s): status {out['status']}, "
         f"{out['simulations_used']} of {out['simulations_budget']} simulations", g, ws, thread)
    print("held-out: " + "; ".join(f"{name} {part} {h[part]['error']['kind'] if h[part]['error'] else 'ok'}"
                                   for name, h in out["heldout"].items() for part in ("heldout", "shifted")))


def the_comparison(task: str, ws: Path) -> None:
    args = ("compare", "--task", task, "--methods", "offline", "--runs", "2", "--budget-sims", "2", "--id", "bench",
            "--workspace", str(ws), "--no-heldout")
    book = ws / "compares" / "bench" / "ledger.sqlite"

    def rows():
        with sqlite3.connect(book) as con:
            return con.execute("SELECT unit, seq, key, status, error_kind FROM evaluations ORDER BY unit, seq"
                               ).fetchall()
    g = Glia(*args)
    g.freeze_a_seed(lambda: any("offline-r2: starting" in line for line in g.err), "the second unit ran")
    g.ctrl_c()
    g.finish()
    print("\n== compare: Ctrl-C during unit offline-r2")
    print(f"exit {g.proc.returncode}; says: {g.out[0] if g.out else '-'}")
    print(f"budget ledger: {rows()}")
    g = run("compare", "--resume", "bench", "--workspace", str(ws))
    print(f"\n== compare --resume: exit {g.proc.returncode}; says: {g.out[0] if g.out else '-'}")
    after = rows()
    print(f"budget ledger: {after}")
    per_unit = {u: [r for r in after if r[0] == u] for u in ("offline-r1", "offline-r2")}
    print("checks: " + "; ".join(f"{u}: {len(r)} charged, {len({x[2] for x in r})} distinct, "
                                 f"{sum(x[3] == 'running' for x in r)} running"
                                 for u, r in per_unit.items()))


def the_tui(task: str, ws: Path) -> None:
    from glia.tui.app import GliaApp

    def seeds() -> list[int]:
        tree = _children()
        servers = [c for c in tree.get(os.getpid(), []) if b"glia.simulator.harness.zygote" in _cmdline(c)]
        return [s for server in servers for s in tree.get(server, []) if state_of(s) not in ("", "Z")]

    async def until(pilot, cond, cap=240.0):
        end = time.monotonic() + cap
        while time.monotonic() < end:
            await pilot.pause(0.05)
            if cond():
                return
        raise RuntimeError("the TUI did not get there")

    async def drive():
        app = GliaApp(ws, task, budget_sims=2)
        async with app.run_test(size=(100, 32)) as pilot:
            await pilot.press("s")
            await pilot.pause()
            await pilot.click("#ok")
            await until(pilot, lambda: app.step_count == 1)
            for n in (2, 3, 4):
                await pilot.press("n")
                if n < 4:
                    await until(pilot, lambda n=n: app.step_count == n)

            def freeze() -> bool:
                for pid in seeds():
                    os.kill(pid, signal.SIGSTOP)
                    return True
                return False
            await until(pilot, freeze)
            await pilot.press("x")
            await until(pilot, lambda: not app.running)
            thread = app.session.thread_id
            print("\n== TUI: x during experiment c1-e001")
            print(f"status: {app.query_one('#status').content}")
            show("TUI state after the stop", None, ws, thread)
            await pilot.press("r")
            await pilot.pause()
            await pilot.click("#ok")
            await until(pilot, lambda: app.running and app.stepper is not None)
            await pilot.press("c")
            await until(pilot, lambda: not app.running)
            print(f"\n== TUI: r, then c\nstatus: {app.query_one('#status').content}")
            show("TUI state after resuming", None, ws, thread)
    asyncio.run(drive())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default=str(ROOT / "tests" / "tasks" / "quick.toml"))
    ap.add_argument("--budget", type=int, default=3)
    ap.add_argument("--workspace", default=None)
    args = ap.parse_args()
    base = Path(args.workspace or tempfile.mkdtemp(prefix="glia-interrupts-"))
    print(f"task {args.task}, {args.budget} simulations, offline researcher; workspaces under {base}")
    the_run(args.task, args.budget, base / "run")
    the_comparison(args.task, base / "compare")
    the_tui(args.task, base / "tui")


if __name__ == "__main__":
    main()
