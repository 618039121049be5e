"""A run session: one run's compiled graph, checkpointer and settings, driven step by step.

``events()`` yields the graph's streamed events; each ``updates`` event is one node finishing, so a caller that
pulls one event at a time steps the run, and one that stops pulling (``close()`` on the generator) leaves it
paused at its last checkpoint, resumable. The CLI pulls everything; the TUI pulls as the user asks.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langgraph.checkpoint.sqlite import SqliteSaver

from glia.nodes.llm import EndpointDown
from glia.simulator import confine

from .builder import build_graph
from .config import ChatFactory, RunConfig


def recursion_limit(budget_sims: int, contexts: int) -> int:
    """Each experiment takes about four super-steps, plus supervisor and summarizer visits."""
    return 100 + 12 * budget_sims + 20 * contexts


@dataclass
class RunOutcome:
    thread_id: str
    status: str                      # new (nothing ran yet) | paused | finished
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
                      "mean_e2e_s": best["metrics"].get("mean_e2e_s"), "ci90": best.get("ci90"),
                      "hardened": best.get("hardened")} if best else None),
            "isolation": confine.describe(),
            "baselines": {b["policy"]: {"mean_e2e_s": b["metrics"].get("mean_e2e_s"), "ci90": b.get("mean_e2e_ci90"),
                                        metric: b["metrics"].get(metric), "feasible": b.get("feasible", True),
                                        "violation": b.get("violation", 0.0)} for b in s.get("baselines", [])},
            "objective": metric,
            "implementations": {**self.configured, **{r: "/".join(sorted(v)) for r, v in impls.items()}},
            "contexts": len(s.get("contexts", [])), "stop_reason": s.get("stop_reason"),
            "heldout": {name: {part: {"seeds": h[part].get("seeds"), metric: h[part].get("value"),
                                      "ci90": h[part].get("ci90"), "error": h[part].get("error"),
                                      **({"workload": h[part]["workload"]} if "workload" in h[part] else {})}
                               for part in ("heldout", "shifted")} for name, h in (s.get("heldout") or {}).items()},
            "usage": {k: v for k, v in s.get("usage", {}).items() if not isinstance(v, dict)},
            "report": str(Path(self.run_dir) / "report.md") if (Path(self.run_dir) / "report.md").exists() else None,
        }


class RunSession:
    """One run's graph with its checkpointer (``models``: chat models per role; made from the config if None)."""

    def __init__(self, config: RunConfig, models: dict | None = None, factory: ChatFactory | None = None):
        self.config = config
        self.thread_id = config.thread_id
        self.run_dir = config.run_dir
        config.paths.checkpoints.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(str(config.paths.checkpoints), check_same_thread=False)
        self.saver = SqliteSaver(self._conn)
        self.graph = build_graph(config.implementations, config.contexts, config.mode).compile(
            checkpointer=self.saver)
        self.context = config.context(models, factory)
        self.message = ""
        self.paused = False

    def runnable_config(self, checkpoint_id: str | None = None) -> dict[str, Any]:
        cfg: dict[str, Any] = {"configurable": {"thread_id": self.thread_id},
                               "recursion_limit": recursion_limit(self.config.budget_sims, self.config.contexts)}
        if checkpoint_id:
            cfg["configurable"]["checkpoint_id"] = checkpoint_id
        return cfg

    def events(self, state: dict | None = None, checkpoint_id: str | None = None) -> Iterator[dict]:
        """Run from ``state`` (a new run), or from the last checkpoint, or from ``checkpoint_id`` (a fork)."""
        self.message, self.paused = "", False
        try:
            for ns, mode, chunk in self.graph.stream(state, self.runnable_config(checkpoint_id),
                                                     context=self.context,
                                                     stream_mode=["updates", "custom"], subgraphs=True):
                yield {"namespace": list(ns), "mode": mode, "data": chunk}
        except EndpointDown as exc:
            self.paused = True
            self.message = f"{exc}; resume with `glia resume {self.thread_id}` when the endpoint is back"

    def snapshot(self):
        return self.graph.get_state({"configurable": {"thread_id": self.thread_id}})

    def outcome(self) -> RunOutcome:
        snap = self.snapshot()
        status, message = ("paused", self.message) if self.paused else ("finished", "")
        if snap.next:
            status = "paused"
            message = message or f"paused before {', '.join(snap.next)}; `glia resume {self.thread_id}` continues"
        elif not snap.values.get("stop_reason"):
            status = "new" if not snap.values else "paused"
        return RunOutcome(self.thread_id, status, dict(snap.values), message, str(self.run_dir),
                          self.config.implementations)

    def history(self) -> list[dict]:
        """Every top-level checkpoint of the thread, newest first, with its parent (forks share a parent) and the
        node(s) whose step produced it."""
        out = []
        for snap in self.graph.get_state_history({"configurable": {"thread_id": self.thread_id}}):
            cfg, parent = snap.config["configurable"], (snap.parent_config or {}).get("configurable", {})
            out.append({"checkpoint_id": cfg["checkpoint_id"], "parent_id": parent.get("checkpoint_id"),
                        "step": (snap.metadata or {}).get("step"), "source": (snap.metadata or {}).get("source"),
                        "next": list(snap.next), "created_at": snap.created_at,
                        "sims": len(snap.values.get("ledger", []))})
        by_id = {h["checkpoint_id"]: h for h in out}
        for h in out:
            parent = by_id.get(h["parent_id"])
            h["node"] = ",".join(parent["next"]) if parent and parent["next"] != ["__start__"] else None
        return out

    def close(self) -> None:
        self._conn.close()
