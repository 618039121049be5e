"""The TUI driven headlessly: start an offline run, step it, stop, resume, fork with another implementation of one
node; a few SVG snapshots; and the engine imports without Textual."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from textual.widgets import DataTable, Select, Static, Tree

from glia.nodes.analyst import offline_analyst
from glia.nodes.registry import IMPLEMENTATIONS, register
from glia.tui.app import GliaApp
from glia.tui.widgets import BestPlot, GraphView

TASK = str(Path(__file__).parent / "tasks" / "quick.toml")
SNAPSHOTS = Path(__file__).parent / "snapshots"


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


async def test_start_step_stop_resume_and_fork(tmp_path):
    app = GliaApp(tmp_path, TASK, budget_sims=3)
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.press("s")
        await pilot.pause()
        await pilot.click("#ok")
        await wait_for(pilot, lambda: app.step_count == 1)
        for n in (2, 3, 4):
            await pilot.press("n")
            await wait_for(pilot, lambda: app.step_count == n)
        rows = app.query_one("#transitions", DataTable)
        nodes = [rows.get_row_at(i)[2] for i in range(rows.row_count)]
        assert nodes == ["baselines", "setup", "researcher", "tools"]
        graph = app.query_one("#graph", GraphView)
        assert graph.active == "tools" and graph.taken[("researcher", "tools")] == 1
        assert "1/3" in str(app.query_one("#usage", Static).content)
        await pilot.press("x")
        await wait_for(pilot, lambda: not app.running)
        assert "stopped (resumable)" in str(app.query_one("#status", Static).content)
        thread = app.session.thread_id

        await pilot.press("r")  # resume the current run from its last checkpoint
        await pilot.pause()
        await pilot.click("#ok")
        await wait_for(pilot, lambda: app.running)
        await pilot.press("c")
        await wait_for(pilot, lambda: not app.running)
        assert "finished" in str(app.query_one("#status", Static).content)
        assert app.query_one("#experiments", DataTable).row_count == 3
        assert app.query_one("#plot", BestPlot).baselines.keys() == {"llq"}

        await pilot.press("3")  # the runs browser: fork from the checkpoint after set-up
        tree = app.query_one("#runs", Tree)
        run_node = next(n for n in tree.root.children if n.data["thread_id"] == thread)
        run_node.expand()
        await pilot.pause()
        after_setup = next(n for n in _walk(run_node) if "after setup → researcher" in str(n.label))
        tree.move_cursor(after_setup)
        await pilot.pause()
        assert app._selected() == (thread, after_setup.data["checkpoint_id"])
        await pilot.press("f")
        await pilot.pause()
        app.screen.query_one("#impl-analyst", Select).value = "terse"
        await pilot.click("#ok")
        await wait_for(pilot, lambda: app.running)
        await pilot.press("c")
        await wait_for(pilot, lambda: not app.running)
        assert "finished" in str(app.query_one("#status", Static).content)
        meta = json.loads((tmp_path / "runs" / thread / "run.json").read_text())
        assert meta["implementations"]["analyst"] == "terse"
        state = app.session.snapshot().values
        assert state["contexts"][0]["implementations"]["analyst"] == "terse"
        app.refresh_runs()
        labels = [str(n.label) for n in _walk(app.query_one("#runs", Tree).root)]
        assert any("(fork)" in label for label in labels)


def _walk(node):
    for child in node.children:
        yield child
        yield from _walk(child)


def _normalise(svg: str) -> str:
    return re.sub(r"terminal-\d+", "terminal", svg)


@pytest.mark.parametrize("name,keys", [("empty_80x24", []), ("implementations_dialog_80x24", ["s"]),
                                       ("experiments_tab_80x24", ["2"])])
async def test_svg_snapshots(name, keys, tmp_path):
    app = GliaApp(tmp_path, TASK, budget_sims=3)
    async with app.run_test(size=(80, 24)) as pilot:
        for k in keys:
            await pilot.press(k)
        await pilot.pause()
        svg = _normalise(app.export_screenshot())
    expected = SNAPSHOTS / f"{name}.svg"
    if not expected.exists():  # first run on a new layout: record it, then review and commit
        expected.write_text(svg)
    assert svg == expected.read_text()


def test_the_engine_imports_without_textual():
    code = ("import sys; import glia.graph.cli, glia.graph.runs, glia.nodes, glia.tools, glia.simulator, "
            "glia.state; bad = [m for m in sys.modules if m.split('.')[0] == 'textual']; "
            "assert not bad, bad; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "ok", out.stderr
    root = Path(__file__).parent.parent
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
        assert set(graph.contexts) == {"c1", "c2"} and set(graph.contexts.values()) == {"finalize"}
        assert "contexts: c1@finalize, c2@finalize" in str(graph.content)
