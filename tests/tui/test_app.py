"""The TUI driven headlessly (tui/app.py): start an offline run, step it, stop, resume, fork with another
implementation of one node; the runs browser filled by workers; the drawn graph at 80 x 24; SVG snapshots; and the
engine imports without Textual."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from textual.widgets import DataTable, Select, Static, TabbedContent, Tree

from glia.nodes.analyst import offline_analyst
from glia.nodes.registry import IMPLEMENTATIONS, register
from glia.tui import backend
from glia.tui.app import GliaApp
from glia.tui.widgets import BestPlot, GraphView

TASK = str(Path(__file__).parents[1] / "tasks" / "quick.toml")
SNAPSHOTS = Path(__file__).parent / "snapshots"
RECORD = os.environ.get("GLIA_RECORD_SNAPSHOTS") == "1"


def terse_analyst(state, runtime) -> dict:
    """Another registered analyst: the offline one under its own name (the graph records which ran)."""
    return offline_analyst(state, runtime)


@pytest.fixture(autouse=True, scope="module")
def registered():
    register("analyst", "terse", terse_analyst)
    yield
    IMPLEMENTATIONS["analyst"].pop("terse", None)


async def wait_for(pilot, cond, timeout=90.0):
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        await pilot.pause(0.05)
        if cond():
            return
    raise AssertionError("the app did not get there in time")


def text_of(widget) -> str:
    return str(widget.render()) if isinstance(widget, GraphView) else str(widget.content)


def details(app) -> list[str]:
    return [strip.text.rstrip() for strip in app.query_one("#details").lines]


async def test_start_step_stop_resume_and_fork(tmp_path):
    app = GliaApp(tmp_path, TASK, budget_sims=3)
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.press("s")
        await pilot.pause()
        await pilot.click("#ok")
        await wait_for(pilot, lambda: app.step_count == 1)
        for n in (2, 3, 4):
            await pilot.press("n")
            await wait_for(pilot, lambda n=n: app.step_count == n)
        rows = app.query_one("#transitions", DataTable)
        nodes = [rows.get_row_at(i)[2] for i in range(rows.row_count)]
        assert nodes == ["baselines", "setup", "researcher", "tools"]
        assert details(app)[0] == "── tools ──"
        rows.move_cursor(row=1)           # choosing an earlier step shows what it did
        await wait_for(pilot, lambda: details(app)[0] == "── setup ──")
        graph = app.query_one("#graph", GraphView)
        assert graph.trace.active == "tools" and graph.trace.last_edge == ("researcher", "tools")
        assert graph.trace.counts[("researcher", "tools")] == 1
        assert "researcher → tools (1×)" in text_of(graph)
        assert "1/3" in text_of(app.query_one("#usage", Static))
        assert "quick · 1 context · 3 sims · every role offline" in text_of(app.query_one("#facts", Static))
        await pilot.press("x")
        await wait_for(pilot, lambda: not app.running)
        assert "stopped (resumable)" in text_of(app.query_one("#status", Static))
        thread = app.session.thread_id

        await pilot.press("r")  # resume the current run from its last checkpoint
        await pilot.pause()
        await pilot.click("#ok")
        await wait_for(pilot, lambda: app.running and app.stepper is not None and app.session.thread_id == thread)
        await pilot.press("c")
        await wait_for(pilot, lambda: not app.running)
        assert "finished" in text_of(app.query_one("#status", Static))
        assert app.query_one("#experiments", DataTable).row_count == 3
        assert app.query_one("#plot", BestPlot).baselines.keys() == {"llq"}

        await pilot.press("3")  # the runs browser: fork from the checkpoint after set-up
        tree = app.query_one("#runs", Tree)
        await wait_for(pilot, lambda: any(str(n.label) == f"{thread}  quick  finished" for n in tree.root.children))
        run_node = next(n for n in tree.root.children if n.data["thread_id"] == thread)
        run_node.expand()
        after_setup = await select(pilot, app, thread, lambda label: "after setup → researcher" in label)
        assert app._selected() == (thread, after_setup["checkpoint_id"])
        await pilot.press("f")
        await pilot.pause()
        app.screen.query_one("#impl-analyst", Select).value = "terse"
        await pilot.click("#ok")
        await wait_for(pilot, lambda: app.running and app.stepper is not None)
        await pilot.press("c")
        await wait_for(pilot, lambda: not app.running)
        assert "finished" in text_of(app.query_one("#status", Static))
        meta = json.loads((tmp_path / "runs" / thread / "run.json").read_text())
        assert meta["implementations"]["analyst"] == "terse"
        state = app.session.snapshot().values
        assert state["contexts"][0]["implementations"]["analyst"] == "terse"
        await wait_for(pilot, lambda: any((n.data or {}).get("thread_id") == thread
                                          for n in app.query_one("#runs", Tree).root.children))
        run_node = next(n for n in app.query_one("#runs", Tree).root.children if n.data["thread_id"] == thread)
        run_node.expand()
        await wait_for(pilot, lambda: any("(fork)" in str(n.label) for n in _walk(run_node)))


async def select(pilot, app, thread: str, chosen) -> dict:
    """Put the runs browser's cursor on the checkpoint of ``thread`` whose label ``chosen`` accepts, once the tree
    settles (a listing or a history read by a worker may rebuild it meanwhile); that checkpoint's data."""
    tree = app.query_one("#runs", Tree)
    found: dict = {}

    def there() -> bool:
        run = next((n for n in tree.root.children if (n.data or {}).get("thread_id") == thread), None)
        if run is None:
            return False
        if not run.is_expanded:
            run.expand()
        node = next((n for n in _walk(run) if chosen(str(n.label)) and (n.data or {}).get("checkpoint_id")), None)
        if node is None:
            return False
        if tree.cursor_node is not node:
            tree.move_cursor(node)
            return False
        found.update(node.data)
        return app._selected() == (thread, node.data["checkpoint_id"])
    await wait_for(pilot, there)
    return found


def _walk(node):
    for child in node.children:
        yield child
        yield from _walk(child)


async def test_the_runs_tab_fills_from_a_worker_while_the_app_keeps_answering(tmp_path, monkeypatch):
    release, asked = threading.Event(), threading.Event()
    runs = [backend.RunListing(f"run-{i:03d}", "routing", i % 2 == 0, {}) for i in range(300)]

    def slow_listing(*, workspace):
        asked.set()
        release.wait(30)
        return runs

    monkeypatch.setattr(backend, "load_runs", slow_listing)
    app = GliaApp(tmp_path, TASK)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, asked.is_set, timeout=10)
        await pilot.press("3")           # the listing is still going: the app answers keys meanwhile
        await pilot.pause()
        assert app.query_one(TabbedContent).active == "runs-tab"
        assert not app.query_one("#runs", Tree).root.children
        await pilot.press("1")
        await pilot.pause()
        assert app.query_one(TabbedContent).active == "graph-tab"
        release.set()
        await wait_for(pilot, lambda: len(app.query_one("#runs", Tree).root.children) == 300, timeout=10)
        first = app.query_one("#runs", Tree).root.children[0]  # as listed (newest first)
        assert str(first.label) == "run-000  routing  finished" and first.allow_expand


async def test_a_runs_checkpoints_load_when_it_is_expanded_and_a_damaged_run_says_why(tmp_path, monkeypatch):
    asked: list[str] = []

    def history(thread_id, *, workspace):
        asked.append(thread_id)
        raise ValueError("checkpoints.sqlite is not a database")

    monkeypatch.setattr(backend, "load_runs", lambda *, workspace: [backend.RunListing("run-x", "routing", False,
                                                                                        {})])
    monkeypatch.setattr(backend, "load_history", history)
    app = GliaApp(tmp_path, TASK)
    async with app.run_test(size=(80, 24)) as pilot:
        tree = app.query_one("#runs", Tree)
        await wait_for(pilot, lambda: len(tree.root.children) == 1, timeout=10)
        assert asked == []                # nothing read before it is asked for
        tree.root.children[0].expand()
        await wait_for(pilot, lambda: any("cannot read" in str(n.label) for n in _walk(tree.root)), timeout=10)
        assert asked == ["run-x"]
        assert str(tree.root.children[0].children[0].label) == \
            "cannot read: ValueError: checkpoints.sqlite is not a database"


async def test_a_run_that_cannot_start_says_why_and_the_app_stays_usable(tmp_path):
    app = GliaApp(tmp_path, str(tmp_path / "missing.toml"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("s")
        await pilot.pause()
        await pilot.click("#ok")
        await wait_for(pilot, lambda: not app.running and "could not start" in text_of(app.query_one("#status")))
        assert "missing.toml" in "\n".join(details(app))
        assert app.session is None and app.stepper is None


async def test_the_drawn_graph_fits_80x24_with_every_node_boxed(tmp_path):
    app = GliaApp(tmp_path, TASK)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        graph = app.query_one("#graph", GraphView)
        lines = text_of(graph).splitlines()
        assert graph.size == (78, 12)   # 80 less padding; 11 rows of drawing and its caption
        assert len(lines) == graph.size.height and lines[-1].strip() == "the compiled graph: 9 nodes, 17 edges"
        drawing = "\n".join(lines[:-1])
        for node in ("baselines", "setup", "researcher", "tools", "analyst", "supervisor", "summarizer",
                     "finalize", "collect"):
            assert re.search(f"[│├┤]{node}[│├┤]", drawing), node
        assert drawing.count("╭") == 9 and "▶" in drawing
        assert app.query_one("#transitions", DataTable).size.height == 6


def _normalise(svg: str) -> str:
    return re.sub(r"terminal-\d+", "terminal", svg)


@pytest.mark.parametrize("name,keys", [("empty_80x24", []), ("implementations_dialog_80x24", ["s"]),
                                       ("experiments_tab_80x24", ["2"])])
async def test_svg_snapshots(name, keys, tmp_path):
    """Compared with tests/tui/snapshots; after a deliberate change of the layout, record them again with
    GLIA_RECORD_SNAPSHOTS=1 and review the pictures before committing them."""
    app = GliaApp(tmp_path, TASK, budget_sims=3)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        for k in keys:
            await pilot.press(k)
        await pilot.pause()
        svg = _normalise(app.export_screenshot())
    expected = SNAPSHOTS / f"{name}.svg"
    if RECORD:
        expected.write_text(svg)
    assert expected.exists(), f"no snapshot {expected.name}: record it with GLIA_RECORD_SNAPSHOTS=1, then review it"
    assert svg == expected.read_text()


def test_the_engine_imports_without_textual():
    code = ("import sys; import glia.graph.cli, glia.graph.runs, glia.nodes, glia.tools, glia.simulator, "
            "glia.state; bad = [m for m in sys.modules if m.split('.')[0] == 'textual']; "
            "assert not bad, bad; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "ok", out.stderr
    root = Path(__file__).parents[2]
    for pkg in ("graph", "nodes", "tools", "simulator", "state"):
        for f in (root / pkg).rglob("*.py"):
            assert not re.search(r"^\s*(from|import)\s+textual", f.read_text(), re.M), f


async def test_a_multi_context_run_shows_where_each_context_is(tmp_path):
    app = GliaApp(tmp_path, TASK, budget_sims=2, contexts=2)
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.press("s")
        await pilot.pause()
        await pilot.click("#ok")
        await wait_for(pilot, lambda: app.step_count >= 1)
        await pilot.press("c")
        await wait_for(pilot, lambda: not app.running)
        graph = app.query_one("#graph", GraphView)
        assert graph.trace.positions == {"c1": "context:finalize", "c2": "context:finalize"}
        assert graph.trace.counts[("baselines", "context:setup")] == 2
        assert graph.trace.last_edge == ("context:finalize", "collect")
        assert "c1@finalize c2@finalize" in text_of(graph)
        rows = app.query_one("#transitions", DataTable)
        assert {rows.get_row_at(i)[1] for i in range(rows.row_count)} == {"-", "c1", "c2"}


async def _finished_run(app, pilot) -> str:
    await pilot.press("s")
    await pilot.pause()
    await pilot.click("#ok")
    await wait_for(pilot, lambda: app.step_count == 1)
    await pilot.press("c")
    await wait_for(pilot, lambda: not app.running)
    return app.session.thread_id


async def test_enter_on_the_start_dialog_chooses_an_implementation_and_starts_nothing(tmp_path):
    app = GliaApp(tmp_path, TASK, budget_sims=3)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("s")
        await pilot.pause()
        assert isinstance(app.focused, Select) and app.focused.id == "impl-researcher"
        await pilot.press("enter")     # opens the researcher's choices
        await pilot.press("escape")
        await pilot.pause()
        assert not app.running and app.session is None
        assert type(app.screen).__name__ == "ImplementationsScreen"


async def test_a_finished_runs_experiments_can_be_viewed_from_the_runs_tab_with_the_arrows_at_once(tmp_path):
    first = GliaApp(tmp_path, TASK, budget_sims=2)
    async with first.run_test(size=(100, 32)) as pilot:
        threads = [await _finished_run(first, pilot)]
        threads.append(await _finished_run(first, pilot))
        status = text_of(first.query_one("#status", Static))
        assert f"{threads[1]}: finished. report: {tmp_path / 'runs' / threads[1] / 'report.md'}" in status
        await pilot.press("4")     # the Log tab: every progress line of the run, timestamped
        await pilot.pause()
        log = [strip.text for strip in first.query_one("#log").lines]
        assert any("of 2 simulations used" in line for line in log), log     # the budget, each experiment
        assert any("] [run] held-out best:" in line for line in log), log   # each held-out figure, timestamped
        assert any(f"`glia resume {threads[1]}`" in line for line in log)   # the resume command at the start
    app = GliaApp(tmp_path, TASK)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("3")
        tree = app.query_one("#runs", Tree)
        await wait_for(pilot, lambda: len(tree.root.children) == 2)
        assert app.focused is tree    # no Tab needed: the arrows move in the runs at once
        start = tree.cursor_line
        await pilot.press("down")
        await pilot.pause()
        assert tree.cursor_line == start + 1
        while tree.cursor_node is None or (tree.cursor_node.data or {}).get("thread_id") != threads[0]:
            await pilot.press("down")
            await pilot.pause()
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.viewed == threads[0] and app.query_one(TabbedContent).active ==
                       "experiments-tab")
        table = app.query_one("#experiments", DataTable)
        assert table.row_count == 2
        assert table.virtual_size.width <= table.size.width   # every column in 80 columns, none cut at the edge
        assert f"{threads[0]} (finished): 2 experiment(s). report:" in text_of(app.query_one("#status", Static))
        assert "2/2" in text_of(app.query_one("#usage", Static))
        await pilot.press("1")     # r resumes (here: re-opens) the run on screen, not the one the tree was on
        await pilot.press("r")
        await pilot.pause()
        assert app.screen.title_text == f"Resume {threads[0]} from its last finished step"


async def test_pausing_says_paused_once_it_is_and_resume_and_fork_name_steps(tmp_path):
    app = GliaApp(tmp_path, TASK, budget_sims=2)
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.press("s")
        await pilot.pause()
        await pilot.click("#ok")
        await wait_for(pilot, lambda: app.step_count == 1)
        await wait_for(pilot, lambda: "paused after step 1 (n step, c continue, x stop)" in
                       text_of(app.query_one("#status", Static)))
        await pilot.press("x")
        await wait_for(pilot, lambda: not app.running)
        thread = app.session.thread_id
        await pilot.press("3")
        await select(pilot, app, thread, lambda label: label.startswith("step 0:"))
        await pilot.press("f")
        await pilot.pause()
        assert app.screen.title_text == f"Fork {thread} at step 0 (after loop → baselines): implementations"


async def test_a_stop_as_the_last_step_ends_says_finished_not_stopped(tmp_path):
    from glia.graph.session import RunOutcome
    from glia.tui.messages import RunEnded
    from glia.tui.stepper import Ended

    app = GliaApp(tmp_path, TASK)
    async with app.run_test(size=(80, 24)) as pilot:
        app.running = True
        app.post_message(RunEnded(Ended(RunOutcome("run-x", "finished", {"stop_reason": "approved"}), stopped=True)))
        await wait_for(pilot, lambda: not app.running)
        assert "run-x: finished." in text_of(app.query_one("#status", Static))


async def test_the_tuis_stop_discards_the_experiment_in_flight_and_resume_runs_it_again(tmp_path):
    """The TUI's x during an experiment: its seed processes stopped, nothing of it in the ledger or the telemetry;
    resumed, the run ends with exactly its budget, each experiment once."""
    from glia.simulator.harness.telemetry import reading
    from tests.support.terminal import _children, _cmdline, state_of

    def seeds() -> list[int]:
        tree = _children()
        servers = [c for c in tree.get(os.getpid(), []) if b"glia.simulator.harness.zygote" in _cmdline(c)]
        return [s for server in servers for s in tree.get(server, []) if state_of(s) not in ("", "Z")]

    def run_ids() -> list[str]:
        with reading(tmp_path / "telemetry.duckdb") as con:
            return [r for (r,) in con.execute("SELECT run_id FROM runs").fetchall()]

    app = GliaApp(tmp_path, TASK, budget_sims=2)
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.press("s")
        await pilot.pause()
        await pilot.click("#ok")
        await wait_for(pilot, lambda: app.step_count == 1)     # baselines
        for n in (2, 3):                                       # setup, researcher
            await pilot.press("n")
            await wait_for(pilot, lambda n=n: app.step_count == n)
        await pilot.press("n")                                 # tools: the first experiment
        frozen: list[int] = []

        def freeze() -> bool:
            for pid in seeds():
                os.kill(pid, signal.SIGSTOP)
                frozen.append(pid)
                return True
            return False
        await wait_for(pilot, freeze)
        await pilot.press("x")
        await wait_for(pilot, lambda: not app.running)
        assert "stopped (resumable)" in text_of(app.query_one("#status", Static))
        assert state_of(frozen[0]) in ("", "Z")                # stopped by the harness, not left behind
        thread = app.session.thread_id
        state = app.session.snapshot().values
        assert state["ledger"] == [] and [r for r in run_ids() if "c1-e" in r] == []
        await pilot.press("r")
        await pilot.pause()
        await pilot.click("#ok")
        await wait_for(pilot, lambda: app.running and app.stepper is not None)
        await pilot.press("c")
        await wait_for(pilot, lambda: not app.running)
        assert "finished" in text_of(app.query_one("#status", Static))
        ledger = app.session.snapshot().values["ledger"]
        assert [e["id"] for e in ledger] == ["c1-e001", "c1-e002"] and not any(e.get("error") for e in ledger)
        assert sorted(r for r in run_ids() if "c1-e" in r) == [f"{thread}/c1-e001", f"{thread}/c1-e002"]


def test_glia_tui_help_describes_every_option(capsys):
    from glia.tui.app import main

    with pytest.raises(SystemExit):
        main(["--help"])
    out = " ".join(capsys.readouterr().out.split())
    for words in ("--workspace WORKSPACE where runs, checkpoints and telemetry are",
                  "--task TASK the task a new run (s) designs for", "--budget-sims BUDGET_SIMS simulations a new run",
                  "--contexts CONTEXTS independent design contexts", "how a new run's contexts share the budget",
                  "--model MODEL chat model for the llm implementations", "--base-url BASE_URL OpenAI-compatible"):
        assert words in out, words
