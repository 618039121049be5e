"""The four roles of a run, each defined once: what it needs from its endpoint, the longest reply it may write, and
whether the state keeps its conversation (its implementations are registered in ``registry.py``).

``ROLES`` is in the order a run introduces them; ``RoleName`` is the same names as a type, so that adding a role is
one edit here that the type checker, the registry and ``tests/nodes/test_roles.py`` follow. Standard library only:
the command line lists the roles without loading an agent, and the endpoint library (``llm/``) reads the needs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

RoleName = Literal["researcher", "analyst", "supervisor", "summarizer"]
Need = Literal["tools", "structured"]


@dataclass(frozen=True)
class Role:
    """A role of the workflow."""

    name: RoleName
    needs: tuple[Need, ...]       # from its endpoint: tools to act, a structured answer, or neither (plain text)
    reply_tokens: int             # the longest reply it may write (tokens), unless overridden
    keeps_messages: bool          # the state keeps its conversation (``GliaState.<name>_messages``; the transcript)
    weak_reply_tokens: int | None = None  # the limit for a model without native tool calls, where it differs


# the researcher's reply holds its reasoning and a whole policy file (a frontier model's ran past 1,500); a weak
# model's researcher writes an Idea line and a few small functions (600 tokens: the cap its runs worked with)
ROLES: dict[RoleName, Role] = {
    "researcher": Role("researcher", ("tools",), 4096, keeps_messages=True, weak_reply_tokens=600),
    "analyst": Role("analyst", ("tools", "structured"), 1500, keeps_messages=True),
    "supervisor": Role("supervisor", ("structured",), 1000, keeps_messages=True),
    "summarizer": Role("summarizer", (), 1500, keeps_messages=False),
}
