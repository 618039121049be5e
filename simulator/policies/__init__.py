"""Built-in routing policies, by name."""

from __future__ import annotations

from ..global_scheduler import BaseGlobalScheduler
from .hra import HeadRoomAdmissionGlobalScheduler
from .llq import LLQGlobalScheduler
from .lor import LORGlobalScheduler
from .random_policy import RandomGlobalScheduler
from .round_robin import RoundRobinGlobalScheduler

POLICIES: dict[str, type[BaseGlobalScheduler]] = {
    "round_robin": RoundRobinGlobalScheduler,
    "random": RandomGlobalScheduler,
    "llq": LLQGlobalScheduler,
    "lor": LORGlobalScheduler,
    "hra": HeadRoomAdmissionGlobalScheduler,
}

__all__ = ["POLICIES", "HeadRoomAdmissionGlobalScheduler", "LLQGlobalScheduler", "LORGlobalScheduler",
           "RandomGlobalScheduler", "RoundRobinGlobalScheduler"]
