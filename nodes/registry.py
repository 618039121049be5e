"""Node implementations by role, chosen per node at run time (the ablation switch)."""

from __future__ import annotations

from collections.abc import Callable

from glia.nodes.analyst import llm_analyst, offline_analyst
from glia.nodes.heuristic.researcher import offline_researcher
from glia.nodes.researcher import llm_researcher
from glia.nodes.roles import ROLES
from glia.nodes.summarizer import llm_summarizer, offline_summarizer
from glia.nodes.supervisor import llm_supervisor, offline_supervisor

IMPLEMENTATIONS: dict[str, dict[str, Callable]] = {
    "researcher": {"llm": llm_researcher, "offline": offline_researcher},
    "analyst": {"llm": llm_analyst, "offline": offline_analyst},
    "supervisor": {"llm": llm_supervisor, "offline": offline_supervisor},
    "summarizer": {"llm": llm_summarizer, "offline": offline_summarizer},
}


def register(role: str, name: str, fn: Callable) -> None:
    """Add an implementation of a role (e.g. a different prompting strategy) to choose at run time."""
    if role not in IMPLEMENTATIONS:
        raise ValueError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
    IMPLEMENTATIONS[role][name] = fn


def choose_implementations(choice: dict[str, str] | None) -> dict[str, str]:
    """Every role's implementation name: the given ones, offline for the rest; unknown names are an error."""
    out = {r: "offline" for r in ROLES}
    for role, name in (choice or {}).items():
        if role not in IMPLEMENTATIONS:
            raise ValueError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
        if name not in IMPLEMENTATIONS[role]:
            raise ValueError(f"unknown implementation {name!r} for {role}; available: "
                             f"{', '.join(IMPLEMENTATIONS[role])}")
        out[role] = name
    return out
