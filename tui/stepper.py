"""Drives a run session from a worker thread: one super-step per release of the gate, or all of them; stopping
closes the stream so the run rests at its last checkpoint. No Textual here: the app passes a ``post`` callback."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from glia.graph.session import RunSession


def digest(session: RunSession) -> dict:
    """What the widgets show, read between steps (the graph is not running then)."""
    snap = session.snapshot()
    v = snap.values
    return {"ledger": sorted(v.get("ledger", []), key=lambda e: (e.get("context", ""), e.get("seq", 0))),
            "best": v.get("best"), "baselines": v.get("baselines", []), "budget": v.get("budget", {}),
            "usage": {k: x for k, x in v.get("usage", {}).items() if not isinstance(x, dict)},
            "task": v.get("task", {}), "next": list(snap.next), "stop_reason": v.get("stop_reason"),
            "implementations": session.config.implementations}


class Stepper:
    """Runs ``session.events`` in the calling (worker) thread under the app's control."""

    def __init__(self, session: RunSession, post: Callable[[str, dict], None], state: dict | None = None,
                 checkpoint_id: str | None = None, stepping: bool = True):
        self.session, self.post = session, post
        self.state, self.checkpoint_id = state, checkpoint_id
        self.stepping = stepping
        self._gate = threading.Event()
        self._stop = False

    def step(self) -> None:
        """Let one more super-step run."""
        self.stepping = True
        self._gate.set()

    def resume(self) -> None:
        """Run on without stopping between steps."""
        self.stepping = False
        self._gate.set()

    def pause(self) -> None:
        self.stepping = True

    def stop(self) -> None:
        """Stop after the step in flight; the run stays resumable."""
        self._stop = True
        self._gate.set()

    def run(self) -> None:
        events = self.session.events(self.state, self.checkpoint_id)
        started = time.monotonic()
        try:
            for ev in events:
                if ev["mode"] == "custom":
                    self.post("custom", ev)
                    continue
                for node, update in (ev["data"] or {}).items():
                    if node.startswith("__"):  # LangGraph's own entries (__metadata__ of replayed writes, ...)
                        continue
                    now = time.monotonic()
                    self.post("step", {"node": node, "namespace": ev["namespace"], "duration": now - started,
                                       "update": update, "digest": digest(self.session)})
                    started = now
                if self._stop:
                    break
                if self.stepping:
                    self._gate.wait()
                    self._gate.clear()
                    if self._stop:
                        break
                    started = time.monotonic()
        except Exception as exc:  # shown in the app, never raised into it
            self.post("error", {"text": f"{type(exc).__name__}: {exc}"})
        finally:
            events.close()
        self.post("ended", {"outcome": self.session.outcome(), "stopped": self._stop})
