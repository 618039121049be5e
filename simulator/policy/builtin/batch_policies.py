"""The built-in batch policies, by name: first come first served and shortest prefill first (``BATCH_POLICIES``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from glia.simulator.policy.batch import BaseBatchPolicy
from glia.simulator.request import Request


class FirstComeFirstServed(BaseBatchPolicy):
    """vLLM's order: the head of the pending queue (a preempted request goes back to the front)."""

    def next_index(self, pending: Sequence[Request], replica: Any = None) -> int:
        return 0


class ShortestPrefillFirst(BaseBatchPolicy):
    """Admit the pending request with the shortest prompt (ties: earliest arrival)."""

    def next_index(self, pending: Sequence[Request], replica: Any = None) -> int:
        best, best_key = 0, None
        for i, r in enumerate(pending):
            key = (r._r_prompt, r._r_arr)
            if best_key is None or key < best_key:
                best, best_key = i, key
        return best


BATCH_POLICIES: dict[str, type[BaseBatchPolicy]] = {
    "fcfs": FirstComeFirstServed,
    "spf": ShortestPrefillFirst,
}


def get_batch_policy(name: str) -> BaseBatchPolicy:
    """A built-in batch policy by name."""
    try:
        return BATCH_POLICIES[name]()
    except KeyError:
        raise ValueError(f"unknown batch policy {name!r}; known: {', '.join(BATCH_POLICIES)}") from None
