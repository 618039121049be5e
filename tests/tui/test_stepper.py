"""The stepper (tui/stepper.py) and the engine calls (tui/backend.py) without the app: typed events from a session's
stream, the gate between steps, and the run facts line. Neither module imports Textual."""

from __future__ import annotations

import subprocess
import sys
import threading
from types import SimpleNamespace

from glia.tui.backend import run_facts
from glia.tui.stepper import (
    Baseline,
    ContextChanged,
    Ended,
    Experiment,
    Failure,
    Paused,
    Step,
    Stepper,
    ToolCall,
    custom_event,
)


class FakeSession:
    """A session whose stream is a fixed list of events; records what the stepper asked of it."""

    def __init__(self, events, fail_after: int | None = None):
        self._events, self.fail_after = events, fail_after
        self.calls: list[tuple] = []
        self.closed = False

    def events(self, state, checkpoint_id):
        self.calls.append(("events", state, checkpoint_id))
        try:
            for i, ev in enumerate(self._events):
                if i == self.fail_after:
                    raise RuntimeError("the endpoint said no")
                yield ev
        finally:
            self.closed = True

    def snapshot(self):
        return SimpleNamespace(values={"ledger": [{"id": "e2", "context": "c1", "seq": 2},
                                                  {"id": "e1", "context": "c1", "seq": 1}]}, next=("tools",))

    def outcome(self):
        return SimpleNamespace(thread_id="run-1", status="paused")


def update(node):
    return {"namespace": [], "mode": "updates", "data": {node: {"phase": node}}}


def test_custom_stream_events_become_typed_events():
    ns = ("context:abc",)
    assert custom_event({"event": "tool_call", "context": "c1", "tool": "shell", "args": {"cmd": "ls"}}, ns) == \
        ToolCall("c1", "shell", {"cmd": "ls"}, ns)
    assert custom_event({"event": "experiment", "context": "c1", "id": "e1", "label": "x", "metrics": {"m": 1.0},
                         "error": None, "verdict": "improved"}, ()) == \
        Experiment("c1", "e1", "x", {"m": 1.0}, "improved", None)
    assert custom_event({"event": "baseline", "policy": "llq", "metrics": {}}, ()) == Baseline("llq", {})
    assert custom_event({"event": "context_end", "context": "c2", "outcome": {"stop_reason": "done"}}, ns) == \
        ContextChanged("c2", ns, True, {"stop_reason": "done"})
    assert custom_event({"event": "something new"}, ()) is None


def test_the_stepper_posts_one_step_per_node_and_waits_at_the_gate_between_steps():
    session = FakeSession([update("baselines"), {"namespace": [], "mode": "custom",
                                                 "data": {"event": "baseline", "policy": "llq", "metrics": {}}},
                           update("setup"), update("researcher")])
    posted: list = []
    stepped = threading.Event()

    def post(event):
        posted.append(event)
        stepped.set()

    stepper = Stepper(session, post, state={"task": {}}, checkpoint_id=None)
    worker = threading.Thread(target=stepper.run)
    worker.start()
    assert stepped.wait(5)
    worker.join(0.2)
    assert worker.is_alive() and [type(e) for e in posted][:1] == [Step]   # paused after the first step
    stepper.resume()
    worker.join(5)
    assert session.calls == [("events", {"task": {}}, None)] and session.closed
    assert [type(e) for e in posted] == [Step, Paused, Baseline, Step, Step, Ended]  # says it paused
    first = posted[0]
    assert first.node == "baselines" and first.update == {"phase": "baselines"} and first.namespace == ()
    assert [e["id"] for e in first.digest["ledger"]] == ["e1", "e2"] and first.digest["next"] == ["tools"]
    assert posted[-1].stopped is False and posted[-1].outcome.status == "paused"


def test_stopping_ends_the_stream_after_the_step_in_flight_and_says_it_was_stopped():
    session = FakeSession([update("baselines"), update("setup"), update("researcher")])
    posted: list = []
    stepper = Stepper(session, posted.append, checkpoint_id="cp-7")
    stepper.stop()
    stepper.run()
    assert [type(e) for e in posted] == [Step, Ended] and posted[-1].stopped is True
    assert session.calls == [("events", None, "cp-7")] and session.closed


def test_an_error_in_the_run_is_posted_then_the_run_ends():
    session = FakeSession([update("baselines"), update("setup")], fail_after=1)
    posted: list = []
    stepper = Stepper(session, posted.append)
    stepper.resume()
    stepper.run()
    assert [type(e) for e in posted] == [Step, Failure, Ended]
    assert posted[1].text == "RuntimeError: the endpoint said no"


def test_run_facts_name_the_task_contexts_budget_and_each_roles_implementation_and_model():
    meta = {"task": "tests/tasks/quick.toml", "contexts": 2, "mode": "sequential", "budget_sims": 6,
            "implementations": {"researcher": "llm", "analyst": "offline"},
            "models": {"researcher": {"model": "qwen-coder", "base_url": None}}}
    assert run_facts(meta) == "quick · 2 contexts sequential · 6 sims · researcher=llm(qwen-coder) analyst=offline"
    meta["modes"] = {"researcher": {"tools": "named_router", "structured": "json_object_schema"}}
    assert run_facts(meta).endswith("analyst=offline · modes researcher:named_router/json_object_schema")


def test_the_stepper_trace_drawing_and_backend_import_without_textual():
    code = ("import sys; import glia.tui.stepper, glia.tui.trace, glia.tui.drawing, glia.tui.backend; "
            "bad = [m for m in sys.modules if m.split('.')[0] == 'textual']; assert not bad, bad; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "ok", out.stderr
