"""A workspace: its default name, its layout, and the runs it holds. Standard library only: ``glia runs`` and the
command line's defaults read it without loading the workflow."""

from __future__ import annotations

import json
from pathlib import Path

from glia.simulator.harness.workspace import DEFAULT_WORKSPACE, Paths


def list_runs(workspace: str | Path = DEFAULT_WORKSPACE) -> list[dict]:
    out = []
    for meta_path in sorted(Paths(Path(workspace).resolve()).runs.glob("*/run.json")):
        meta = json.loads(meta_path.read_text())
        out.append({"thread_id": meta["thread_id"], "task": meta["task"], "created_at": meta["created_at"],
                    "contexts": meta["contexts"], "mode": meta["mode"], "budget_sims": meta["budget_sims"],
                    "implementations": meta["implementations"],
                    "finished": (meta_path.parent / "report.md").exists()})
    return out
