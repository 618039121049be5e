"""How responsive the TUI stays: the graph drawing's layout time, and the runs browser with many runs.

The app runs headless (Textual's test driver) on a workspace holding one real run (the offline graph with canned
simulations, as in graph_overhead.py) and N copies of its run.json. A 10 ms timer on the app's event loop measures
the longest stall while the runs are listed (in a worker) and put in the tree, and while the real run's checkpoints
are read (in a worker) and shown.

    python -m benchmarks.tui_responsiveness [--runs 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

import glia.nodes.analyst as analyst
import glia.nodes.steps as harness
from benchmarks.graph_overhead import fake_baseline, fake_diagnose, fake_execute
from glia.graph.builder import build_graph
from glia.graph.config import RunConfig
from glia.graph.runs import start_run
from glia.tui.app import GliaApp
from glia.tui.drawing import fit


def drawing_times() -> None:
    for contexts in (1, 2):
        g = build_graph(contexts=contexts).compile().get_graph(xray=1)
        nodes, edges = list(g.nodes), [(e.source, e.target) for e in g.edges]
        for size in ((78, 11), (118, 19), (198, 31), (40, 40)):
            start = time.perf_counter()
            d = fit(nodes, edges, *size)
            ms = 1000 * (time.perf_counter() - start)
            print(f"layout, {contexts} context(s), room {size[0]} x {size[1]}: {ms:.0f} ms "
                  f"({d.width} x {d.height}, {'framed' if d.style.framed else 'one-row'} boxes, "
                  f"{'left to right' if d.style.across else 'top to bottom'})")


async def browse(workspace: Path, runs: int, real: str) -> None:
    app = GliaApp(workspace)
    stalls: list[float] = []
    async with app.run_test(size=(80, 24)) as pilot:
        last = time.perf_counter()

        def tick() -> None:
            nonlocal last
            now = time.perf_counter()
            stalls.append(now - last)
            last = now

        app.set_interval(0.01, tick)
        tree = app.query_one("#runs")
        start = time.perf_counter()
        while len(tree.root.children) < runs + 1:
            await pilot.pause(0.01)
        listed = time.perf_counter() - start
        print(f"{runs + 1} runs listed and shown in {listed:.2f} s; longest UI stall {1000 * max(stalls):.0f} ms")
        stalls.clear()
        node = next(n for n in tree.root.children if n.data["thread_id"] == real)
        start = time.perf_counter()
        node.expand()
        while not any("step" in str(n.label) for n in node.children):
            await pilot.pause(0.01)
        read = time.perf_counter() - start
        print(f"one run's {len(list(node.children))} checkpoints read and shown in {read:.2f} s; "
              f"longest UI stall {1000 * max(stalls or [0]):.0f} ms")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=1000)
    args = ap.parse_args()
    drawing_times()
    harness.execute, harness.run_baseline, analyst.diagnose = fake_execute, fake_baseline, fake_diagnose
    with tempfile.TemporaryDirectory() as ws:
        out = start_run(RunConfig.build("routing", budget_sims=8, offline=True, workspace=ws))
        meta = json.loads((Path(ws) / "runs" / out.thread_id / "run.json").read_text())
        for i in range(args.runs):
            copy = Path(ws) / "runs" / f"run-copy-{i:05d}"
            copy.mkdir()
            (copy / "run.json").write_text(json.dumps({**meta, "thread_id": copy.name}))
        asyncio.run(browse(Path(ws), args.runs, out.thread_id))


if __name__ == "__main__":
    main()
