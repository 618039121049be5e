"""The graph LangGraph's dev server loads (langgraph.json): a factory it accepts, whose prepare step turns a small
input into a run in the context's workspace, which then runs to its end."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

from langgraph.checkpoint.memory import InMemorySaver

from glia.graph.studio import make_graph
from glia.state import GliaContext

ROOT = Path(__file__).parents[2]
TASK = str(Path(__file__).parents[1] / "tasks" / "quick.toml")


def test_langgraph_json_names_a_factory_the_dev_server_accepts():
    spec = json.loads((ROOT / "langgraph.json").read_text())
    assert spec["graphs"] == {"glia": "glia.graph.studio:make_graph"}
    assert len(inspect.signature(make_graph).parameters) <= 2   # the server's rule for graph factories


def test_a_studio_run_prepares_a_run_and_finishes_it(tmp_path):
    graph = make_graph({"configurable": {}}).compile(checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "studio-1"}}
    out = graph.invoke({"task": TASK, "budget_sims": 1}, config,
                       context=GliaContext(db=str(tmp_path / "telemetry.duckdb")))
    assert len(out["ledger"]) == 1 and out["stop_reason"]
    assert (tmp_path / "runs" / "studio-1" / "run.json").is_file()
    assert (tmp_path / "runs" / "studio-1" / "report.md").is_file()
