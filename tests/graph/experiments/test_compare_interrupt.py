"""Ctrl-C on `glia compare` while a library's model call or evaluation is served by the bridge: the bridge's thread
answers the library that the comparison was stopped instead of dying with a traceback on the user's terminal, and
the command ends on one clean line saying how to resume. The user's Ctrl-C is simulated: the stop flag is raised and
the work raises ``Interrupted`` (a KeyboardInterrupt), as it does when the flag is seen."""

from __future__ import annotations

import threading

import pytest

from glia.graph.experiments.compare import commands
from glia.graph.experiments.compare.bridge import Bridge, BridgeClient, BridgeError
from glia.simulator.harness import interrupt


@pytest.fixture
def thread_errors(monkeypatch):
    """What threads died of (each would print its traceback on the terminal)."""
    died: list = []
    monkeypatch.setattr(threading, "excepthook", died.append)
    yield died
    interrupt.reset()


def stopped_model(messages):
    interrupt.request()  # the user's Ctrl-C arrives while the model's reply is awaited
    interrupt.check()


def test_a_stop_during_a_bridged_model_call_is_answered_not_a_thread_traceback(thread_errors):
    bridge = Bridge(stopped_model, lambda code, label: {})
    try:
        client = BridgeClient(bridge.address, bridge.key)
        with pytest.raises(BridgeError, match="interrupted: the comparison was stopped by the user"):
            client.llm([{"role": "user", "content": "a program, please"}])
    finally:
        bridge.close()
    assert thread_errors == []


def test_ctrl_c_on_compare_ends_on_one_line_that_says_how_to_resume(thread_errors, capsys):
    def go():
        bridge = Bridge(stopped_model, lambda code, label: {})
        try:
            with pytest.raises(BridgeError):
                BridgeClient(bridge.address, bridge.key).llm([{"role": "user", "content": "hi"}])
            interrupt.check()  # the unit's watch sees the stop
        finally:
            bridge.close()

    assert commands._stoppable("cmp", go) is None
    out, err = capsys.readouterr()
    assert out == "comparison cmp: paused: interrupted; `glia compare --resume cmp` continues\n"
    assert "Traceback" not in out + err and thread_errors == []
