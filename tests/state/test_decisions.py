"""The Supervisor's decisions are one literal (``state/records.py``): what it may answer, what is recorded, what the
graph routes on, what its prompt and its structured reply offer, all read from it."""

from __future__ import annotations

from typing import get_args

from glia.nodes import prompts
from glia.nodes.llm.structured import SupervisorDecision, decision_from_text
from glia.state import Decision, Phase, SupervisorChoice


def test_what_is_recorded_is_the_supervisors_choice_or_the_harnesss_stop():
    assert get_args(SupervisorChoice) == ("approve", "continue", "stop_line", "combine")
    assert get_args(Decision) == (*get_args(SupervisorChoice), "stop")
    assert set(get_args(Decision)) < set(get_args(Phase))


def test_the_prompt_and_the_structured_reply_offer_exactly_the_choices():
    assert '{"decision": "approve" | "continue" | "stop_line" | "combine", "message": "..."}.' in \
        prompts.SUPERVISOR_SYSTEM
    schema = SupervisorDecision.model_json_schema()
    assert tuple(schema["properties"]["decision"]["enum"]) == get_args(SupervisorChoice)


def test_a_decision_in_prose_is_one_of_the_choices_and_never_an_approval_by_accident():
    assert decision_from_text("Decision: stop_line. Enough of this.").decision == "stop_line"
    assert decision_from_text("I would not approve this yet").decision == "continue"
