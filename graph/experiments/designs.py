"""Designs named on the command line: a built-in policy of a layer, a policy file, or ``run:THREAD``, the best
design of an earlier run in the workspace (its task says which layer it designed)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from glia.graph.config import Paths
from glia.simulator.policy.layers import LAYERS, get_layer
from glia.state import load_task
from glia.state.tasks.task import layer_of, policy_name


@dataclass(frozen=True)
class Design:
    spec: str          # a built-in name or a policy file, as the simulator takes it
    name: str          # how tables and plots call it
    layer: str


def resolve_design(text: str, layer: str, workspace: str | Path) -> Design:
    """``text`` as a policy of ``layer``; a clear error if it is none, or an earlier run's design of another layer."""
    if text.startswith("run:"):
        thread = text[4:]
        run_dir = Paths(Path(workspace).resolve()).runs / thread
        meta = run_dir / "run.json"
        if not meta.is_file():
            raise ValueError(f"no run {thread} in {Path(workspace).resolve()}; `glia runs` lists them")
        task = load_task(json.loads(meta.read_text())["task"])
        if layer_of(task) != layer:
            raise ValueError(f"run {thread} designed a {layer_of(task)} policy (task {task['name']}), not a {layer}")
        best = run_dir / f"best_{Path(task['design']['file']).name}"
        if not best.is_file():
            raise ValueError(f"run {thread} has no best design yet ({best.name} is missing): it did not finish, or "
                             "no design met its task's constraint")
        return Design(str(best), f"{task['name']} run {thread}", layer)
    if get_layer(layer).knows(text):
        return Design(text, text, layer)
    path = Path(text.partition(":")[0])
    if path.suffix == ".py":
        if not path.is_file():
            raise ValueError(f"{layer} policy file not found: {path}")
        return Design(str(path.resolve()) + (":" + text.partition(":")[2] if ":" in text else ""),
                      policy_name(text), layer)
    raise ValueError(f"unknown {layer} policy {text!r}: a built-in ({', '.join(LAYERS[layer].builtins)}), a .py file, "
                     "or run:THREAD (an earlier run's best design)")
