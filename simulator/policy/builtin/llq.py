"""Least-loaded routing: least-loaded-queue (the paper's baseline) and, with another load measure, vidur's lor."""

from __future__ import annotations

from glia.simulator.policy.router import BaseGlobalScheduler


class LeastLoadedGlobalScheduler(BaseGlobalScheduler):
    """Each waiting request, in arrival order, to the replica with the least ``load``; a routed request counts as
    one more unit of load at once."""

    def load(self, rs) -> int:
        raise NotImplementedError

    def schedule(self):
        if not self._request_queue:  # nothing to route (most calls: after each completion); loads read nothing
            return []
        self.sort_requests()
        load = {rid: self.load(rs) for rid, rs in self._replica_schedulers.items()}
        mapping = []
        while self._request_queue:
            request = self._request_queue.pop(0)
            rid = min(load, key=load.__getitem__)
            load[rid] += 1
            mapping.append((rid, request))
        return mapping


class LLQGlobalScheduler(LeastLoadedGlobalScheduler):
    """Least-loaded-queue: fewest in-flight requests (pending + active)."""

    def load(self, rs) -> int:
        return rs.num_pending_requests + rs.num_active_requests
