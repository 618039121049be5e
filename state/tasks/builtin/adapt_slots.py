"""Router: least in-flight requests; hold requests unless a replica has fewer than the batch-size cap requests in
flight; shortest prompt first.

Design key: signal=count,admission=slots,growth=0.25,headroom=0.03,slack=0,order=spf
"""

from glia.simulator import BaseGlobalScheduler


class Router(BaseGlobalScheduler):
    SLACK = 0

    def load(self, rs):
        return rs.num_pending_requests + rs.num_active_requests

    def schedule(self):
        if not self._request_queue:
            return []
        self._request_queue.sort(key=lambda r: (r.num_prefill_tokens, r.arrived_at))
        load = {rid: self.load(rs) for rid, rs in self._replica_schedulers.items()}
        slots = self._config.cluster.batch_size_cap + self.SLACK
        flight = {rid: rs.num_pending_requests + rs.num_active_requests for rid, rs in self._replica_schedulers.items()}
        mapping = []
        while self._request_queue:
            request = self._request_queue[0]
            fits = [i for i in flight if flight[i] < slots]
            if not fits:
                break  # no head-room anywhere: hold the queue
            rid = min(fits, key=load.__getitem__)
            flight[rid] += 1
            load[rid] += 1
            self._request_queue.pop(0)
            mapping.append((rid, request))
        return mapping
