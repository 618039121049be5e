"""Drives a run session from a worker thread: one super-step per release of the gate, or all of them; stopping
stops the step in flight (its seed processes killed, nothing of it recorded: it runs again on resume) and closes
the stream, so the run rests at its last checkpoint.

No Textual here: the stepper reports what happens as plain typed events through a ``post`` callback, which the app
turns into Textual messages (``tui/messages.py``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from glia.simulator.harness import interrupt

if TYPE_CHECKING:
    from glia.graph.session import RunOutcome, RunSession


@dataclass(frozen=True)
class Step:
    """A node finished: its update, and what the widgets show of the run afterwards (``digest``)."""

    node: str
    namespace: tuple[str, ...]   # () at the top level; the subgraph task of a multi-context run's context
    duration: float
    update: dict
    digest: dict


@dataclass(frozen=True)
class ToolCall:
    context: str
    tool: str
    args: dict
    namespace: tuple[str, ...] = ()


@dataclass(frozen=True)
class Experiment:
    context: str
    id: str
    label: str
    metrics: dict
    verdict: str
    error: dict | None = None
    data: dict = field(default_factory=dict, compare=False)   # the whole event (budget left, feasibility, ...)


@dataclass(frozen=True)
class Said:
    """A line of the run's progress another event does not carry (held-out figures, the end of a context, ...):
    the raw event, worded by the app as the command line words it."""

    data: dict


@dataclass(frozen=True)
class Paused:
    """The stepper waits at its gate: the step before it finished."""


@dataclass(frozen=True)
class Baseline:
    policy: str
    metrics: dict


@dataclass(frozen=True)
class ContextChanged:
    """A design context started or ended (``outcome`` then says how)."""

    context: str
    namespace: tuple[str, ...]
    ended: bool
    outcome: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Failure:
    text: str


@dataclass(frozen=True)
class Ended:
    outcome: RunOutcome | None     # None: the run could not be opened
    stopped: bool


Event = Step | ToolCall | Experiment | Baseline | ContextChanged | Said | Paused | Failure | Ended


def digest(session: RunSession) -> dict:
    """What the widgets show, read between steps (the graph is not running then)."""
    snap = session.snapshot()
    v = snap.values
    return {"ledger": sorted(v.get("ledger", []), key=lambda e: (e.get("context", ""), e.get("seq", 0))),
            "best": v.get("best"), "baselines": v.get("baselines", []), "budget": v.get("budget", {}),
            "usage": {k: x for k, x in v.get("usage", {}).items() if not isinstance(x, dict)},
            "task": v.get("task", {}), "next": list(snap.next), "stop_reason": v.get("stop_reason")}


def custom_event(data: dict[str, Any], namespace: tuple[str, ...]) -> Event | None:
    """The typed event for what a node wrote to the stream (``runtime.stream_writer``), or None if unknown."""
    kind = data.get("event")
    if kind == "tool_call":
        return ToolCall(data.get("context", ""), data["tool"], data.get("args") or {}, namespace)
    if kind == "experiment":
        return Experiment(data.get("context", ""), data["id"], data.get("label", ""), data.get("metrics") or {},
                          data.get("verdict", ""), data.get("error"), data)
    if kind == "baseline":
        return Baseline(data["policy"], data.get("metrics") or {})
    if kind in ("context_start", "context_end"):
        return ContextChanged(data.get("context", ""), namespace, kind == "context_end", data.get("outcome") or {})
    if kind in ("heldout", "heldout_figure", "modes"):
        return Said(data)
    return None


class Stepper:
    """Runs ``session.events`` in the calling (worker) thread under the app's control; starts paused after the
    first step (``step`` lets one more run, ``resume`` runs on)."""

    def __init__(self, session: RunSession, post: Callable[[Event], None], state: dict | None = None,
                 checkpoint_id: str | None = None):
        self.session, self.post = session, post
        self.state, self.checkpoint_id = state, checkpoint_id
        self.stepping = True
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
        """Stop now: the step in flight is discarded (its seed processes killed, nothing of it recorded; a model's
        reply in flight is waited for, then dropped) and runs again on resume."""
        self._stop = True
        interrupt.request()
        self._gate.set()

    def run(self) -> None:
        interrupt.reset()
        events = self.session.events(self.state, self.checkpoint_id)
        started = time.monotonic()
        try:
            for ev in events:
                namespace = tuple(ev["namespace"])
                if ev["mode"] == "custom":
                    typed = custom_event(ev["data"] or {}, namespace)
                    if typed is not None:
                        self.post(typed)
                    continue
                for node, update in (ev["data"] or {}).items():
                    if node.startswith("__"):  # LangGraph's own entries (__metadata__ of replayed writes, ...)
                        continue
                    now = time.monotonic()
                    self.post(Step(node, namespace, now - started, update or {}, digest(self.session)))
                    started = now
                if self._stop:
                    break
                if self.stepping:
                    self.post(Paused())
                    self._gate.wait()
                    self._gate.clear()
                    if self._stop:
                        break
                    started = time.monotonic()
        except Exception as exc:  # shown in the app, never raised into it
            self.post(Failure(f"{type(exc).__name__}: {exc}"))
        finally:
            events.close()
            interrupt.reset()  # the stop is done with: nothing else in this process is stopped by it
        self.post(Ended(self.session.outcome(), self._stop))
