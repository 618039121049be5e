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

from glia.graph.builder import build_graph
from glia.graph.config import ChatFactory, RunConfig
from glia.nodes.llm.client import EndpointDown
from glia.nodes.progress import charged_entries
from glia.nodes.report import run_isolation


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
    interrupted: bool = False        # the user stopped it (Ctrl-C, the TUI's stop); paused, resumable
    endpoint_failed: bool = False    # a model endpoint could not serve (down, the key or the model refused); paused

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
            "interrupted": self.interrupted, "endpoint_failed": self.endpoint_failed,
            "resume": f"glia resume {self.thread_id}",
            "simulations_used": len(charged_entries(s.get("ledger", []))),
            "simulations_budget": s.get("budget", {}).get("simulations"),
            "best": ({"path": str(Path(self.run_dir) / f"best_{Path(design).name}"), "experiment": best["id"],
                      "label": best.get("label", ""), metric: best["value"],
                      "mean_e2e_s": best["metrics"].get("mean_e2e_s"), "ci90": best.get("ci90"),
                      "hardened": best.get("hardened")} if best else None),
            "isolation": run_isolation(s.get("ledger", []))[0],   # what the run's experiments ran under
            "baselines": {b["policy"]: {"mean_e2e_s": b["metrics"].get("mean_e2e_s"), "ci90": b.get("mean_e2e_ci90"),
                                        metric: b["metrics"].get(metric), "feasible": b.get("feasible", True),
                                        "violation": b.get("violation", 0.0)} for b in s.get("baselines", [])},
            "objective": metric,
            "implementations": {**self.configured, **{r: "/".join(sorted(v)) for r, v in impls.items()}},
            "contexts": len(s.get("contexts", [])), "stop_reason": s.get("stop_reason"),
            "heldout": {name: {part: {"seeds": h[part].get("seeds"), metric: h[part].get("value"),
                                      "ci90": h[part].get("ci90"), "error": h[part].get("error"),
                                      **({"workload": h[part]["workload"]} if "workload" in h[part] else {})}
                               for part in ("heldout", "shifted") if part in h}
                        for name, h in (s.get("heldout") or {}).items()},
            "usage": {k: v for k, v in s.get("usage", {}).items() if not isinstance(v, dict)},
            "report": str(Path(self.run_dir) / "report.md") if (Path(self.run_dir) / "report.md").exists() else None,
        }


def in_flight(snap) -> str:
    """What a run stopped at its checkpoint ``snap`` was doing, in words: the step that runs next on resume."""
    nxt = list(snap.next)
    values = snap.values or {}
    if nxt == ["tools"]:
        calls = getattr((values.get("researcher_messages") or [None])[-1], "tool_calls", None) or []
        if not any(c.get("name") == "run_simulation" for c in calls):
            return "the researcher's tool calls"
        seq = len([e for e in values.get("ledger", []) if e.get("context") == values.get("context_id")]) + 1
        return f"experiment {values.get('context_id', 'c1')}-e{seq:03d}"
    words = {"baselines": "the baselines' measurement", "collect": "the held-out re-measurement and the report",
             "context": "the contexts' steps in flight"}
    return ", ".join(words.get(n, f"the {n} step") for n in nxt) or "nothing"


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
        self.interrupted = False
        self.endpoint_failed = False

    def runnable_config(self, checkpoint_id: str | None = None) -> dict[str, Any]:
        cfg: dict[str, Any] = {"configurable": {"thread_id": self.thread_id},
                               "recursion_limit": recursion_limit(self.config.budget_sims, self.config.contexts)}
        if checkpoint_id:
            cfg["configurable"]["checkpoint_id"] = checkpoint_id
        return cfg

    def events(self, state: dict | None = None, checkpoint_id: str | None = None) -> Iterator[dict]:
        """Run from ``state`` (a new run), or from the last checkpoint, or from ``checkpoint_id`` (a fork). A stop by
        the user (``interrupt.request``, Ctrl-C) ends the stream with the run paused at its last checkpoint: the step
        in flight is discarded, recorded nowhere, and runs again on resume."""
        self.message, self.paused, self.interrupted, self.endpoint_failed = "", False, False, False
        try:
            for ns, mode, chunk in self.graph.stream(state, self.runnable_config(checkpoint_id),
                                                     context=self.context,
                                                     stream_mode=["updates", "custom"], subgraphs=True):
                yield {"namespace": list(ns), "mode": mode, "data": chunk}
        except EndpointDown as exc:
            self.paused = self.endpoint_failed = True
            self.message = f"{exc}; `glia resume {self.thread_id}` continues once it answers"
        except KeyboardInterrupt:  # Ctrl-C, or interrupt.Interrupted from a stop
            self.paused = self.interrupted = True
            self.message = (f"interrupted: {in_flight(self.snapshot())} discarded (not recorded, not charged); "
                            f"`glia resume {self.thread_id}` continues")

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
                          self.config.implementations, self.interrupted, self.endpoint_failed)

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
