"""A stop while a model is writing its reply (a small local server takes minutes): the call is abandoned at once,
the step is discarded and the run rests at its last checkpoint, resumable; in the TUI the stop ends the run without
waiting for the reply. No timed assertions: the model's reply is held back until the test has seen the stop."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from langchain_core.messages import HumanMessage
from pydantic import Field

from glia.graph.config import RunConfig
from glia.graph.runs import initial_state, prepare_run
from glia.graph.session import RunSession
from glia.nodes.llm.client import invoke_with_retries
from glia.simulator.harness import interrupt
from glia.state import AgentSettings
from glia.tui.stepper import Ended, Stepper
from tests.support.fakes import ScriptedChatModel, reply

TASK = str(Path(__file__).parents[1] / "tasks" / "quick.toml")


class HeldReply(ScriptedChatModel):
    """A model whose reply comes only when ``release`` is set; ``entered`` says a call is being answered."""

    entered: Any = Field(default_factory=threading.Event, exclude=True)
    release: Any = Field(default_factory=threading.Event, exclude=True)

    def _generate(self, messages, stop=None, run_manager=None, **kwargs):
        self.entered.set()
        self.release.wait(120)
        return super()._generate(messages, stop=stop, run_manager=run_manager, **kwargs)


def test_a_stop_abandons_the_model_reply_in_flight():
    model = HeldReply(messages=iter([reply("too late")]))
    box: dict = {}

    def call() -> None:
        try:
            box["reply"] = invoke_with_retries(model, [HumanMessage(content="hi")], AgentSettings(), "researcher")
        except BaseException as exc:  # noqa: BLE001
            box["error"] = exc

    interrupt.reset()
    worker = threading.Thread(target=call)
    worker.start()
    try:
        assert model.entered.wait(60)
        interrupt.request()
        worker.join(60)
        assert not worker.is_alive() and not model.release.is_set()  # stopped while the reply was still coming
        assert isinstance(box.get("error"), interrupt.Interrupted) and "reply" not in box
    finally:
        model.release.set()
        interrupt.reset()


def test_the_tuis_stop_during_a_model_reply_ends_the_run_paused_without_waiting_for_it(tmp_path):
    offline = {"analyst": "offline", "supervisor": "offline", "summarizer": "offline"}
    config = RunConfig.build(TASK, budget_sims=2, llm=True, implementations=offline, workspace=tmp_path,
                             settings={"retry_base_s": 0.0, "max_retries": 0})
    prepare_run(config)
    model = HeldReply(messages=iter([reply("too late")]))
    session = RunSession(config, {"researcher": model})
    posted: list = []
    stepper = Stepper(session, posted.append, state=initial_state(config))
    stepper.resume()
    worker = threading.Thread(target=stepper.run)
    worker.start()
    try:
        assert model.entered.wait(120)  # the baselines ran; the researcher's first call is being answered
        stepper.stop()
        worker.join(60)
        assert not worker.is_alive() and not model.release.is_set()
        ended = posted[-1]
        assert isinstance(ended, Ended) and ended.stopped and ended.outcome.status == "paused"
        # the starter design was measured before the researcher's call; nothing of the abandoned step is recorded
        assert [e["label"] for e in ended.outcome.state["ledger"]] == ["starter"]
    finally:
        model.release.set()
        interrupt.reset()
        session.close()
