"""The batch (admission) policy API: which pending request a replica admits next, if any.

A replica asks its policy whenever it could admit a request (token budget, batch-size cap and a pending request
permitting); the replica itself then checks memory. The API is documented in ``simulator/batch_policy_api.md``.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from .request import Request


class BaseBatchPolicy:
    """Base class of batch policies; one instance per replica.

    ``next_index(pending, replica)`` returns the index in ``pending`` of the request to admit next, or None to admit
    nothing now. Readable state: ``_config`` (the cluster settings and the seed), ``rng`` (seeded with the run's
    seed), and the replica and requests as documented.
    """

    def __init__(self, config: Any = None):
        self._config = config
        self.rng = random.Random(getattr(config, "seed", 0))

    def next_index(self, pending: Sequence[Request], replica: Any) -> int | None:
        raise NotImplementedError


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
