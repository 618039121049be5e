"""Round-robin routing."""

from __future__ import annotations

from glia.simulator.policy.router import BaseGlobalScheduler


class RoundRobinGlobalScheduler(BaseGlobalScheduler):
    """Each waiting request, in arrival order, to the next replica in turn."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._request_counter = 0

    def schedule(self):
        self.sort_requests()
        ids = sorted(self._replica_schedulers)
        mapping = []
        while self._request_queue:
            request = self._request_queue.pop(0)
            mapping.append((ids[self._request_counter % len(ids)], request))
            self._request_counter += 1
        return mapping
