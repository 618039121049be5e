"""Starting point: least-loaded-queue routing (fewest pending + active requests)."""

from glia.simulator import BaseGlobalScheduler


class Router(BaseGlobalScheduler):
    def schedule(self):
        self.sort_requests()
        load = {rid: rs.num_pending_requests + rs.num_active_requests
                for rid, rs in self._replica_schedulers.items()}
        mapping = []
        while self._request_queue:
            request = self._request_queue.pop(0)
            rid = min(load, key=load.__getitem__)
            load[rid] += 1
            mapping.append((rid, request))
        return mapping
