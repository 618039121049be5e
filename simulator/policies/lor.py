"""Least-outstanding-requests routing (vidur's ``lor``)."""

from __future__ import annotations

from ..global_scheduler import BaseGlobalScheduler


class LORGlobalScheduler(BaseGlobalScheduler):
    """Each waiting request to the replica with the fewest pending (not yet admitted) requests."""

    def schedule(self):
        self.sort_requests()
        load = {rid: rs.num_pending_requests for rid, rs in self._replica_schedulers.items()}
        mapping = []
        while self._request_queue:
            request = self._request_queue.pop(0)
            rid = min(load, key=load.__getitem__)
            load[rid] += 1
            mapping.append((rid, request))
        return mapping
