"""Runs: start, resume, list and report, with a SQLite checkpointer and the telemetry database in a workspace.

Workspace layout: ``telemetry.duckdb`` (shared by every run), ``checkpoints.sqlite``, and ``runs/THREAD/`` with
``run.json`` (how the run was started), ``contexts/cN/`` (each context's design files, experiments and
transcript), and, when the run ends, ``best_<design file>``, ``report.md`` and ``transcript.jsonl``.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Callable

from glia.nodes.registry import ROLES, resolve

from .session import RunOutcome, RunSession
from .task import load_task

DEFAULT_WORKSPACE = "glia-workspace"


def paths(workspace: str | Path) -> dict[str, Path]:
    ws = Path(workspace).resolve()
    return {"workspace": ws, "db": ws / "telemetry.duckdb", "checkpoints": ws / "checkpoints.sqlite",
            "runs": ws / "runs"}


def configured_model() -> str | None:
    """The model named by GLIA_MODEL, if any (a run is offline otherwise)."""
    return os.environ.get("GLIA_MODEL") or None


def prepare_run(task: str = "routing", contexts: int = 1, mode: str = "parallel", budget_sims: int | None = None,
                implementations: dict[str, str] | None = None, model: str | None = None,
                base_url: str | None = None, llm: bool = False, workspace: str | Path = DEFAULT_WORKSPACE,
                thread_id: str | None = None, context_settings: dict | None = None) -> tuple[dict, dict, dict]:
    """Create the run's directory and ``run.json``; return (meta, paths, initial state)."""
    t = load_task(task)
    if budget_sims is not None:
        if budget_sims < 1:
            raise ValueError(f"--budget-sims must be >= 1, got {budget_sims}")
        t["budget"]["simulations"] = budget_sims
    if contexts < 1:
        raise ValueError(f"--contexts must be >= 1, got {contexts}")
    impl = resolve(implementations if implementations is not None else
                   ({r: "llm" for r in ROLES} if (model or llm) else None))
    p = paths(workspace)
    thread_id = thread_id or datetime.now(UTC).strftime("run-%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:4]
    run_dir = p["runs"] / thread_id
    if (run_dir / "run.json").exists():
        raise ValueError(f"run {thread_id} exists already; resume it with `glia resume {thread_id}`")
    run_dir.mkdir(parents=True, exist_ok=True)
    meta = {"thread_id": thread_id, "task": task, "contexts": contexts, "mode": mode,
            "budget_sims": t["budget"]["simulations"], "implementations": impl,
            "models": ({r: {"model": model, "base_url": base_url} for r, n in impl.items() if n == "llm"}
                       if model else {}),
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"), "context_settings": context_settings or {}}
    (run_dir / "run.json").write_text(json.dumps(meta, indent=2))
    state = {"task": t, "thread_id": thread_id, "run_dir": str(run_dir), "budget": t["budget"],
             "started_at": time.time()}
    if contexts == 1:  # the flat graph runs the one context directly
        state.update(context_id="c1", workspace=str(run_dir / "contexts" / "c1"), ledger=[])
    else:
        state.update(context_id="run", workspace=str(run_dir))
    return meta, p, state


def load_meta(thread_id: str, workspace: str | Path = DEFAULT_WORKSPACE,
              implementations: dict | None = None) -> tuple[dict, dict]:
    """A run's ``run.json`` (updated with other implementations, the ablation switch) and its paths."""
    p = paths(workspace)
    meta_path = p["runs"] / thread_id / "run.json"
    if not meta_path.exists():
        raise ValueError(f"no run {thread_id} in {p['workspace']}; `glia runs` lists them")
    meta = json.loads(meta_path.read_text())
    if implementations:
        meta["implementations"] = resolve({**meta["implementations"], **implementations})
        meta_path.write_text(json.dumps(meta, indent=2))
    return meta, p


def start_run(task: str = "routing", contexts: int = 1, mode: str = "parallel", budget_sims: int | None = None,
              implementations: dict[str, str] | None = None, model: str | None = None, base_url: str | None = None,
              models: dict | None = None, workspace: str | Path = DEFAULT_WORKSPACE, thread_id: str | None = None,
              on_event: Callable[[dict], None] | None = None, context_settings: dict | None = None) -> RunOutcome:
    """Start a run and carry it to its end. With ``model`` (or test ``models``) the roles default to their LLM
    implementations."""
    meta, p, state = prepare_run(task, contexts, mode, budget_sims, implementations, model, base_url, bool(models),
                                 workspace, thread_id, context_settings)
    return _execute(RunSession(meta, p, models), state, on_event)


def resume_run(thread_id: str, workspace: str | Path = DEFAULT_WORKSPACE, implementations: dict | None = None,
               models: dict | None = None, on_event: Callable[[dict], None] | None = None,
               checkpoint_id: str | None = None) -> RunOutcome:
    """Continue a run from its last checkpoint (or fork it from ``checkpoint_id``), optionally with other
    implementations."""
    meta, p = load_meta(thread_id, workspace, implementations)
    return _execute(RunSession(meta, p, models), None, on_event, checkpoint_id)


def _execute(session: RunSession, state: dict | None, on_event, checkpoint_id: str | None = None) -> RunOutcome:
    try:
        for event in session.events(state, checkpoint_id):
            if on_event:
                on_event(event)
        return session.outcome()
    finally:
        session.close()


def list_runs(workspace: str | Path = DEFAULT_WORKSPACE) -> list[dict]:
    p = paths(workspace)
    out = []
    for meta_path in sorted(p["runs"].glob("*/run.json")):
        meta = json.loads(meta_path.read_text())
        run_dir = meta_path.parent
        out.append({"thread_id": meta["thread_id"], "task": meta["task"], "created_at": meta["created_at"],
                    "contexts": meta["contexts"], "mode": meta["mode"], "budget_sims": meta["budget_sims"],
                    "implementations": meta["implementations"],
                    "finished": (run_dir / "report.md").exists()})
    return out


def run_state(thread_id: str, workspace: str | Path = DEFAULT_WORKSPACE) -> RunOutcome:
    """The current state of a run, without running anything."""
    meta, p = load_meta(thread_id, workspace)
    session = RunSession(meta, p)
    try:
        return session.outcome()
    finally:
        session.close()
