"""The router's parts without sockets: the pure parts of proxying a request (``jobs.py``) and the policy driver's
check of ``schedule()``'s return, which is the simulator's contract (``contract.route_pairs``) plus the live
router's own two checks."""

from __future__ import annotations

import asyncio
import math

import pytest

from glia.graph.serving.driver import PolicyDriver
from glia.graph.serving.jobs import Job, output_tokens, prompt_text, resumable, upstream_body
from glia.graph.serving.views import ServedRequest
from glia.simulator.policy.contract import route_pairs
from glia.simulator.request import PolicyViolation


def job(api="completions", **body) -> Job:
    loop = asyncio.new_event_loop()
    try:
        return Job(ServedRequest(1, 0.0, 10), api, {"prompt": "Hello", **body}, True, {}, "estimate",
                   loop.create_future(), prompt0=10)
    finally:
        loop.close()


def test_only_a_plain_streamed_completion_can_be_resumed():
    assert resumable(job())
    assert not resumable(job(api="chat"))
    assert not resumable(job(n=2)) and not resumable(job(echo=True)) and not resumable(job(logprobs=1))


def test_a_resumed_body_carries_the_text_so_far_and_the_tokens_left():
    j = job(max_tokens=8)
    assert upstream_body(j) is j.body   # nothing streamed yet: the body as the client sent it
    j.texts, j.generated = [" wor", "ld"], 2
    assert upstream_body(j) == {"prompt": "Hello world", "max_tokens": 6}


def test_the_output_length_recorded():
    j = job(max_tokens=8)
    j.generated = 3
    assert output_tokens(j) == 3
    j.finish_reason = "length"
    assert output_tokens(j) == 8
    j.reported_completion = 5
    assert output_tokens(j) == 5
    j.resumed = True                     # the server's count covers the last attempt only
    assert output_tokens(j) == 8


def test_the_prompt_text_of_either_api():
    assert prompt_text({"messages": [{"role": "user", "content": [{"type": "text", "text": "a"}]},
                                     {"role": "user", "content": "b"}]}, "chat") == "a\nb"
    assert prompt_text({"prompt": [1, 2]}, "completions") == "1 2"


class Driver(PolicyDriver):
    def __init__(self, waiting: set[int]):
        self.waiting = dict.fromkeys(waiting)


def test_the_driver_checks_schedules_return_with_the_simulators_contract():
    a, b = ServedRequest(1, 0.0, 5), ServedRequest(2, 0.0, 5)
    serving = {0: object(), 1: object()}
    assert Driver({1, 2})._checked([(0, a), (1, b)], serving) == [(0, a), (1, b)]
    for bad in (None, [(0,)], [(0, "a request")]):
        with pytest.raises(PolicyViolation) as simulator:
            route_pairs(bad, ServedRequest)
        with pytest.raises(PolicyViolation) as router:
            Driver({1})._checked(bad, serving)
        assert (router.value.kind, str(router.value)) == (simulator.value.kind, str(simulator.value))
    with pytest.raises(PolicyViolation, match="routed request 1 to replica 7; valid replica ids now: .0, 1."):
        Driver({1})._checked([(7, a)], serving)
    with pytest.raises(PolicyViolation, match="request 1 was routed twice"):
        Driver({1})._checked([(0, a), (1, a)], serving)
    assert math.isnan(a._r_routed_at)   # checking routes nothing
