"""Built-in routing policies, by name."""

from __future__ import annotations

from glia.simulator.policy.builtin.hra import HeadRoomAdmissionGlobalScheduler
from glia.simulator.policy.builtin.llq import LLQGlobalScheduler
from glia.simulator.policy.builtin.lor import LORGlobalScheduler
from glia.simulator.policy.builtin.random_policy import RandomGlobalScheduler
from glia.simulator.policy.builtin.round_robin import RoundRobinGlobalScheduler
from glia.simulator.policy.router import BaseGlobalScheduler

POLICIES: dict[str, type[BaseGlobalScheduler]] = {
    "round_robin": RoundRobinGlobalScheduler,
    "random": RandomGlobalScheduler,
    "llq": LLQGlobalScheduler,
    "lor": LORGlobalScheduler,
    "hra": HeadRoomAdmissionGlobalScheduler,
}

__all__ = ["POLICIES", "HeadRoomAdmissionGlobalScheduler", "LLQGlobalScheduler", "LORGlobalScheduler",
           "RandomGlobalScheduler", "RoundRobinGlobalScheduler"]
