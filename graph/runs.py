"""Runs: start, resume, list and report, with a SQLite checkpointer and the telemetry database in a workspace.

Workspace layout: ``telemetry.duckdb`` (shared by every run), ``checkpoints.sqlite``, and ``runs/THREAD/`` with
``run.json`` (how the run was started), ``contexts/cN/`` (each context's design files, experiments and
transcript), and, when the run ends, ``best_<design file>``, ``report.md`` and ``transcript.jsonl``.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Callable

from langgraph.checkpoint.sqlite import SqliteSaver

from glia.nodes.common import GliaContext
from glia.nodes.llm import EndpointDown, make_chat_model
from glia.nodes.registry import ROLES, resolve

from .builder import build_graph
from .task import load_task

DEFAULT_WORKSPACE = "glia-workspace"


@dataclass
class RunOutcome:
    thread_id: str
    status: str                      # finished | paused | error
    state: dict = field(default_factory=dict)
    message: str = ""
    run_dir: str = ""
    configured: dict = field(default_factory=dict)   # role -> implementation the run was built with

    def to_json(self) -> dict:
        s = self.state
        best = s.get("best")
        metric = s.get("task", {}).get("objective", {}).get("metric", "mean_e2e_s")
        design = s.get("task", {}).get("design", {}).get("file", "policy.py")
        impls: dict[str, set] = {}
        for c in s.get("contexts", []):
            for role, name in c.get("implementations", {}).items():
                impls.setdefault(role, set()).add(name)
        return {
            "thread_id": self.thread_id, "status": self.status, "message": self.message,
            "simulations_used": len(s.get("ledger", [])),
            "simulations_budget": s.get("budget", {}).get("simulations"),
            "best": ({"path": str(Path(self.run_dir) / f"best_{Path(design).name}"), "experiment": best["id"],
                      "label": best.get("label", ""), metric: best["value"],
                      "mean_e2e_s": best["metrics"].get("mean_e2e_s"), "ci90": best.get("ci90")} if best else None),
            "baselines": {b["policy"]: {"mean_e2e_s": b["metrics"].get("mean_e2e_s"), "ci90": b.get("mean_e2e_ci90"),
                                        metric: b["metrics"].get(metric)} for b in s.get("baselines", [])},
            "implementations": {**self.configured, **{r: "/".join(sorted(v)) for r, v in impls.items()}},
            "contexts": len(s.get("contexts", [])), "stop_reason": s.get("stop_reason"),
            "usage": {k: v for k, v in s.get("usage", {}).items() if not isinstance(v, dict)},
            "report": str(Path(self.run_dir) / "report.md") if (Path(self.run_dir) / "report.md").exists() else None,
        }


def paths(workspace: str | Path) -> dict[str, Path]:
    ws = Path(workspace).resolve()
    return {"workspace": ws, "db": ws / "telemetry.duckdb", "checkpoints": ws / "checkpoints.sqlite",
            "runs": ws / "runs"}


def configured_model() -> str | None:
    """The model named by GLIA_MODEL, if any (a run is offline otherwise)."""
    return os.environ.get("GLIA_MODEL") or None


def _models(meta: dict, supplied: dict | None) -> dict:
    if supplied is not None:
        return supplied
    settings = meta.get("models") or {}
    return {role: (lambda s=s: make_chat_model(s["model"], s.get("base_url"))) for role, s in settings.items()}


def _checkpointer(path: Path) -> SqliteSaver:
    path.parent.mkdir(parents=True, exist_ok=True)
    return SqliteSaver(sqlite3.connect(str(path), check_same_thread=False))


def recursion_limit(budget_sims: int, contexts: int) -> int:
    """Each experiment takes about four super-steps, plus supervisor and summarizer visits."""
    return 100 + 12 * budget_sims + 20 * contexts


def start_run(task: str = "routing", contexts: int = 1, mode: str = "parallel", budget_sims: int | None = None,
              implementations: dict[str, str] | None = None, model: str | None = None, base_url: str | None = None,
              models: dict | None = None, workspace: str | Path = DEFAULT_WORKSPACE, thread_id: str | None = None,
              on_event: Callable[[dict], None] | None = None, interrupt_after: list[str] | None = None,
              context_settings: dict | None = None) -> RunOutcome:
    """Start a run. With ``model`` (or test ``models``) the roles default to their LLM implementations."""
    t = load_task(task)
    if budget_sims is not None:
        if budget_sims < 1:
            raise ValueError(f"--budget-sims must be >= 1, got {budget_sims}")
        t["budget"]["simulations"] = budget_sims
    llm = bool(model or models)
    impl = resolve(implementations if implementations is not None else
                   ({r: "llm" for r in ROLES} if llm else None))
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
    return _execute(meta, p, state, models, on_event, interrupt_after)


def resume_run(thread_id: str, workspace: str | Path = DEFAULT_WORKSPACE, implementations: dict | None = None,
               models: dict | None = None, on_event: Callable[[dict], None] | None = None,
               interrupt_after: list[str] | None = None, checkpoint_id: str | None = None) -> RunOutcome:
    """Continue a run from its last checkpoint (or ``checkpoint_id``), optionally with other implementations."""
    p = paths(workspace)
    meta_path = p["runs"] / thread_id / "run.json"
    if not meta_path.exists():
        raise ValueError(f"no run {thread_id} in {p['workspace']}; `glia runs` lists them")
    meta = json.loads(meta_path.read_text())
    if implementations:
        meta["implementations"] = resolve({**meta["implementations"], **implementations})
        meta_path.write_text(json.dumps(meta, indent=2))
    return _execute(meta, p, None, models, on_event, interrupt_after, checkpoint_id)


def _execute(meta: dict, p: dict, state: dict | None, models: dict | None, on_event, interrupt_after,
             checkpoint_id: str | None = None) -> RunOutcome:
    thread_id = meta["thread_id"]
    run_dir = p["runs"] / thread_id
    graph_builder = build_graph(meta["implementations"], meta["contexts"], meta["mode"])
    ctx = GliaContext(db=str(p["db"]), models=_models(meta, models), **meta.get("context_settings", {}))
    config: dict[str, Any] = {"configurable": {"thread_id": thread_id},
                              "recursion_limit": recursion_limit(meta["budget_sims"], meta["contexts"])}
    if checkpoint_id:
        config["configurable"]["checkpoint_id"] = checkpoint_id
    saver = _checkpointer(p["checkpoints"])
    graph = graph_builder.compile(checkpointer=saver, interrupt_after=interrupt_after)
    status, message = "finished", ""
    try:
        for ns, mode, chunk in graph.stream(state, config, context=ctx, stream_mode=["updates", "custom"],
                                            subgraphs=True):
            if on_event:
                on_event({"namespace": list(ns), "mode": mode, "data": chunk})
    except EndpointDown as exc:
        status, message = "paused", f"{exc}; resume with `glia resume {thread_id}` when the endpoint is back"
    snap = graph.get_state({"configurable": {"thread_id": thread_id}})
    if status == "finished" and snap.next:
        status, message = "paused", f"paused before {', '.join(snap.next)}; `glia resume {thread_id}` continues"
    saver.conn.close()
    return RunOutcome(thread_id, status, dict(snap.values), message, str(run_dir), meta["implementations"])


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
    p = paths(workspace)
    meta_path = p["runs"] / thread_id / "run.json"
    if not meta_path.exists():
        raise ValueError(f"no run {thread_id} in {p['workspace']}; `glia runs` lists them")
    meta = json.loads(meta_path.read_text())
    saver = _checkpointer(p["checkpoints"])
    graph = build_graph(meta["implementations"], meta["contexts"], meta["mode"]).compile(checkpointer=saver)
    snap = graph.get_state({"configurable": {"thread_id": thread_id}})
    saver.conn.close()
    status = "finished" if not snap.next and snap.values.get("stop_reason") else "paused"
    return RunOutcome(thread_id, status, dict(snap.values), "", str(p["runs"] / thread_id), meta["implementations"])
