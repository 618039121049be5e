"""Router: least in-flight requests.

Design key: signal=count,per_request=0,long_prompt=0,long_replicas=1
"""

from glia.simulator import BaseGlobalScheduler


class Router(BaseGlobalScheduler):
    PER_REQUEST = 0
    LONG_PROMPT = 0
    LONG_REPLICAS = 1

    def load(self, rs):
        return rs.num_pending_requests + rs.num_active_requests

    def schedule(self):
        self.sort_requests()
        load = {rid: self.load(rs) for rid, rs in self._replica_schedulers.items()}
        ids = sorted(load)
        split = self.LONG_PROMPT and len(ids) > self.LONG_REPLICAS
        long_ids, short_ids = ids[-self.LONG_REPLICAS:], ids[:-self.LONG_REPLICAS]
        mapping = []
        while self._request_queue:
            request = self._request_queue.pop(0)
            pool = ids
            if split:
                pool = long_ids if request.num_prefill_tokens >= self.LONG_PROMPT else short_ids
            rid = min(pool, key=load.__getitem__)
            load[rid] += 1
            mapping.append((rid, request))
        return mapping
