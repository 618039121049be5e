"""Router: least in-flight requests; hold requests unless prompt x 1.25 of blocks fit under 97% of the cache;
shortest prompt first.

Design key: signal=count,admission=True,growth=0.25,extra_tokens=0,headroom=0.03,order=spf
"""

from glia.simulator import BaseGlobalScheduler


def reserve(prompt, block_size):
    """Blocks a request is charged for: its prompt plus the growth we expect."""
    return -(-int(prompt * 1.250 + 0) // block_size)


class Router(BaseGlobalScheduler):
    HEADROOM = 0.03

    def load(self, rs):
        return rs.num_pending_requests + rs.num_active_requests

    def projected(self, rs):
        """Pessimistic KV usage: each request charged the larger of what it holds and its reservation."""
        bs, used = rs.block_size, 0
        for r in rs.active_queue:
            held = -(-r.num_processed_tokens // bs)
            charged = reserve(r.num_prefill_tokens, bs)
            used += held if held > charged else charged
        for r in rs.pending_queue:
            used += reserve(r.num_prefill_tokens, bs)
        return used

    def schedule(self):
        if not self._request_queue:
            return []
        self._request_queue.sort(key=lambda r: (r.num_prefill_tokens, r.arrived_at))
        load = {rid: self.load(rs) for rid, rs in self._replica_schedulers.items()}
        usage = {rid: self.projected(rs) for rid, rs in self._replica_schedulers.items()}
        limit = {rid: (1 - self.HEADROOM) * rs.num_blocks for rid, rs in self._replica_schedulers.items()}
        mapping = []
        while self._request_queue:
            request = self._request_queue[0]
            rid = min(load, key=load.__getitem__)
            bs = self._replica_schedulers[rid].block_size
            need = reserve(request.num_prefill_tokens, bs)
            fits = [i for i in usage if usage[i] == 0 or usage[i] + need <= limit[i]]
            if not fits:
                break  # no head-room anywhere: hold the queue
            if rid not in fits:
                rid = min(fits, key=load.__getitem__)
            usage[rid] += need
            load[rid] += 1
            self._request_queue.pop(0)
            mapping.append((rid, request))
        return mapping
