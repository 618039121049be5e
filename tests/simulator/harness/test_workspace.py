"""One workspace layout (``simulator/harness/workspace.py``) that every command takes its paths from."""

from __future__ import annotations

from pathlib import Path

from glia.graph.config import RunConfig
from glia.nodes.llm.endpoint import CACHE_FILE
from glia.simulator.harness.workspace import DEFAULT_WORKSPACE, Paths
from glia.state import GliaContext


def test_the_layout():
    ws = Paths(Path("/w"))
    assert (ws.db, ws.checkpoints, ws.runs, ws.simulations, ws.endpoints, ws.sim_to_real) == (
        Path("/w/telemetry.duckdb"), Path("/w/checkpoints.sqlite"), Path("/w/runs"), Path("/w/simulations"),
        Path("/w/endpoints.json"), Path("/w/sim-to-real"))
    assert len({ws.runs, ws.simulations}) == 2   # glia simulate and glia run no longer share a folder


def test_the_defaults_come_from_it(tmp_path):
    assert GliaContext().db == f"{DEFAULT_WORKSPACE}/telemetry.duckdb"
    assert CACHE_FILE == Paths(tmp_path).endpoints.name
    config = RunConfig.build("routing", workspace=tmp_path, env={})
    assert config.run_dir == Paths(tmp_path).runs / config.thread_id
    assert config.context().db == str(Paths(tmp_path).db)
