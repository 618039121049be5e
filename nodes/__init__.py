"""The agents (Researcher, Analyst, Supervisor, Summarizer, each with an LLM and an offline implementation) and the
workflow's own steps (``steps.py``); the endpoint library is ``llm/``, the rule-driven researcher and its design
spaces ``heuristic/``. Each name is imported when first used (the roles' names, ``roles.ROLES``, load no agent)."""

from typing import TYPE_CHECKING

from glia.nodes.roles import ROLES
from glia.simulator.lazy import lazy_exports

_EXPORTS = {"IMPLEMENTATIONS": ".registry", "choose_implementations": ".registry", "register": ".registry"}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from glia.nodes.registry import IMPLEMENTATIONS, choose_implementations, register

__all__ = ["IMPLEMENTATIONS", "ROLES", "choose_implementations", "register"]
