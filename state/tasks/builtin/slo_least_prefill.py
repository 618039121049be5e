"""Router: least prefill work queued (prompt tokens not yet processed).

Design key: signal=prefill,per_request=0,long_prompt=0,long_replicas=1
"""

from glia.simulator import BaseGlobalScheduler


class Router(BaseGlobalScheduler):
    PER_REQUEST = 0
    LONG_PROMPT = 0
    LONG_REPLICAS = 1

    def load(self, rs):
        work = sum(r.num_prefill_tokens for r in rs.pending_queue)
        for r in rs.active_queue:
            if not r.is_prefill_complete:
                work += r.num_prefill_tokens - r.num_processed_tokens
        return work + self.PER_REQUEST * (rs.num_pending_requests + rs.num_active_requests)

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
            load[rid] += request.num_prefill_tokens + self.PER_REQUEST
            mapping.append((rid, request))
        return mapping
