"""The roles are defined once (``nodes/roles.py``): the type, the registry of implementations, the endpoint library's
needs and reply limits, and the state's conversations all follow it."""

from __future__ import annotations

from typing import get_args

from glia.nodes.llm import modes
from glia.nodes.registry import IMPLEMENTATIONS
from glia.nodes.roles import ROLES, RoleName
from glia.state.schema import GliaState


def test_the_type_the_record_and_the_registry_name_the_same_roles():
    assert get_args(RoleName) == tuple(ROLES) == ("researcher", "analyst", "supervisor", "summarizer")
    assert all(role.name == name for name, role in ROLES.items())
    assert set(IMPLEMENTATIONS) == set(ROLES)
    assert all({"llm", "offline"} <= set(IMPLEMENTATIONS[name]) for name in ROLES)


def test_the_endpoint_library_reads_each_roles_needs_and_reply_limit():
    assert modes.NEEDS == {"researcher": ("tools",), "analyst": ("tools", "structured"),
                           "supervisor": ("structured",), "summarizer": ()}
    assert modes.MAX_TOKENS == {"researcher": 4096, "analyst": 1500, "supervisor": 1000, "summarizer": 1500}
    assert modes.WEAK_MAX_TOKENS == {"researcher": 600}


def test_the_state_keeps_the_conversation_of_exactly_the_roles_that_keep_one():
    kept = {name.removesuffix("_messages") for name in GliaState.__annotations__ if name.endswith("_messages")}
    assert kept == {name for name, role in ROLES.items() if role.keeps_messages}
