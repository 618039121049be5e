"""Uniformly random routing."""

from __future__ import annotations

from glia.simulator.policy.router import BaseGlobalScheduler


class RandomGlobalScheduler(BaseGlobalScheduler):
    """Each waiting request to a replica drawn uniformly (from the run's seeded generator ``self.rng``)."""

    def schedule(self):
        self.sort_requests()
        ids = sorted(self._replica_schedulers)
        mapping = [(self.rng.choice(ids), r) for r in self._request_queue]
        self._request_queue.clear()
        return mapping
