"""Least-outstanding-requests routing (vidur's ``lor``)."""

from __future__ import annotations

from glia.simulator.policy.builtin.llq import LeastLoadedGlobalScheduler


class LORGlobalScheduler(LeastLoadedGlobalScheduler):
    """Fewest pending (not yet admitted) requests."""

    def load(self, rs) -> int:
        return rs.num_pending_requests
