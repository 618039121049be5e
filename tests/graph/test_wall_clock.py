"""The run's wall-clock budget holds while a step waits on a model (a 450 s limit once let a unit run 1,854 s, a small
local model writing its reply): the call is abandoned when the budget passes, the step is answered without the
model, and the run finishes with what it measured, its stop reason saying why. No timed assertions: the model's reply
is held back, and the clock the budget is read from jumps past it while the reply is awaited."""

from __future__ import annotations

import threading
import time
import types
from pathlib import Path
from typing import Any

from pydantic import Field

from glia.graph.config import RunConfig
from glia.graph.progress import Eta, describe
from glia.graph.runs import start_run
from glia.nodes import progress
from glia.nodes.llm import client
from tests.graph.test_program_runs import small_task
from tests.support.fakes import ScriptedChatModel, reply

TASK = str(Path(__file__).parents[1] / "tasks" / "quick.toml")
LATER = 10_000.0  # seconds the clock jumps while the reply is awaited: far past any budget of these tests


class SlowModel(ScriptedChatModel):
    """A model whose reply is held back (as a small local server's takes minutes); while it is awaited the run's
    clock jumps ``LATER`` seconds on."""

    clock: Any = None
    entered: Any = Field(default_factory=threading.Event, exclude=True)
    release: Any = Field(default_factory=threading.Event, exclude=True)

    def _generate(self, messages, stop=None, run_manager=None, **kwargs):
        self.entered.set()
        self.clock.offset = LATER
        self.release.wait(30)
        return super()._generate(messages, stop=stop, run_manager=run_manager, **kwargs)


def fake_clock(monkeypatch) -> types.SimpleNamespace:
    """The clock the wall-clock budget is read from (the model calls' deadline, the nodes' budget check)."""
    clock = types.SimpleNamespace(offset=0.0)
    shifted = types.SimpleNamespace(time=lambda: time.time() + clock.offset, monotonic=time.monotonic,
                                    sleep=time.sleep)
    monkeypatch.setattr(client, "time", shifted)
    monkeypatch.setattr(progress, "time", shifted)
    return clock


def run_with_slow_model(task: str, tmp_path: Path, clock, budget: int = 4):
    slow = SlowModel(messages=iter([reply("too late")]), clock=clock)
    models = {"researcher": slow,
              "analyst": ScriptedChatModel(messages=iter([reply("never asked")])),
              "supervisor": ScriptedChatModel(messages=iter(['{"decision": "continue", "message": "never asked"}'])),
              "summarizer": ScriptedChatModel(messages=iter(["never asked"]))}
    config = RunConfig.build(task, budget_sims=budget, llm=True, workspace=tmp_path, wall_clock_s=450,
                             settings={"retry_base_s": 0.0})
    events: list = []
    try:
        out = start_run(config, models=models, on_event=events.append)
        assert slow.entered.is_set() and not slow.release.is_set()  # the run ended while the reply was awaited
    finally:
        slow.release.set()
    return out, models, [e["data"] for e in events if e["mode"] == "custom"]


def test_a_reply_awaited_past_the_wall_clock_budget_is_abandoned_and_the_run_finishes(tmp_path, monkeypatch):
    clock = fake_clock(monkeypatch)
    out, models, events = run_with_slow_model(TASK, tmp_path, clock)
    assert out.status == "finished" and not out.interrupted
    # the starter was measured before the researcher's first call; that call was abandoned, nothing else ran
    assert [e["label"] for e in out.state["ledger"]] == ["starter"]
    assert "wall-clock budget used" in out.state["stop_reason"]
    assert not models["supervisor"].calls  # no model is asked past the budget (the heuristic supervisor approved)
    said = [e for e in events if e.get("event") == "wall_clock"]
    assert len(said) == 1 and said[0]["role"] == "researcher"
    assert describe(said[0], "mean_e2e_s", Eta()) == (
        "[c1] wall-clock budget used (450 s) while the researcher waited on its model: the call is abandoned, the "
        "step answered without it, and the run ends with what it measured")
    assert out.state["best"]["label"] == "starter"
    assert "wall-clock budget used" in (Path(out.run_dir) / "report.md").read_text()


def test_a_program_task_keeps_its_wall_clock_budget_while_the_model_writes(tmp_path, monkeypatch):
    clock = fake_clock(monkeypatch)
    out, models, events = run_with_slow_model(str(small_task(tmp_path)), tmp_path, clock)
    assert out.status == "finished"
    assert "wall-clock budget used" in out.state["stop_reason"]
    assert [e["label"] for e in out.state["ledger"]] == ["starter"]
    assert any(e.get("event") == "wall_clock" for e in events)


def test_without_a_limit_a_model_call_is_not_cut(monkeypatch):
    clock = fake_clock(monkeypatch)
    clock.offset = LATER
    with client.model_deadline(time.time(), float("inf")):
        client.check_deadline()
    with client.model_deadline(None, 450):
        client.check_deadline()
    with client.model_deadline(time.time(), 450):
        try:
            client.check_deadline()
        except client.WallClockUsed as exc:
            assert str(exc) == "wall-clock budget used (450 s)"
        else:
            raise AssertionError("the budget passed and nothing said so")


def test_best_shot_stops_waiting_for_a_reply_when_its_unit_has_no_time_left(tmp_path, monkeypatch):
    from glia.graph.experiments.compare import methods
    from glia.nodes.common import evaluator_for
    from glia.state import ModelSpec, load_task
    from glia.tools.ledger import BudgetLedger

    clock = fake_clock(monkeypatch)
    slow = SlowModel(messages=iter([reply("too late")]), clock=clock)
    task = load_task(str(small_task(tmp_path)))
    task["budget"]["wall_clock_s"] = 450
    ledger = BudgetLedger(tmp_path / "ledger.sqlite")
    shared = methods.Shared("cmp", "triple", task, tmp_path, evaluator_for(task, None, None), ledger, None,
                            ModelSpec("m", "http://127.0.0.1:9/v1"), factory=lambda base_url, model: slow)
    unit = methods.Unit("best_shot", 1, 2, tmp_path / "units" / "best_shot-r1")
    try:
        out = methods.run_unit(shared, unit)
        assert slow.entered.is_set() and not slow.release.is_set()  # the reply was not waited for
    finally:
        slow.release.set()
    assert out == {"status": "finished", "message": "wall-clock budget used after 0 model calls (the reply in flight "
                                                    "was abandoned)"}
    assert ledger.used(unit.key) == 0
