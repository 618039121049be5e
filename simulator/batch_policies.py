"""Replica batch-ordering policies: which pending request a replica admits next."""

from __future__ import annotations

from collections.abc import Callable

from .request import Request


class BatchOrderPolicy:
    """Picks the index of the next pending request to admit. First come, first served by default; a request that
    was preempted goes back to the front of the pending queue."""

    name = "fcfs"

    def next_index(self, pending: list[Request]) -> int:
        return 0


class ShortestPrefillFirst(BatchOrderPolicy):
    """Admit the pending request with the shortest prompt (ties: earliest arrival)."""

    name = "spf"

    def next_index(self, pending: list[Request]) -> int:
        best, best_key = 0, None
        for i, r in enumerate(pending):
            key = (r._r_prompt, r._r_arr)
            if best_key is None or key < best_key:
                best, best_key = i, key
        return best


BATCH_POLICIES: dict[str, Callable[[], BatchOrderPolicy]] = {
    "fcfs": BatchOrderPolicy,
    "spf": ShortestPrefillFirst,
}


def get_batch_policy(name: str) -> BatchOrderPolicy:
    try:
        return BATCH_POLICIES[name]()
    except KeyError:
        raise ValueError(f"unknown batch policy {name!r}; known: {', '.join(BATCH_POLICIES)}") from None
