# tries: drop requests from a replica's queue (the engine's own list) so that slow ones never count
# kind: exception
# message: policy raised AttributeError in schedule() at {policy}:14: 'tuple' object has no attribute 'clear'
#+  (a replica's pending_queue and active_queue are read-only tuples; a router takes requests from its own list,
#+  self._request_queue; tuple has: count, index)
from glia.simulator import BaseGlobalScheduler


class P(BaseGlobalScheduler):
    def schedule(self):
        out = [(0, r) for r in self._request_queue]
        self._request_queue.clear()
        for rs in self._replica_schedulers.values():
            rs.pending_queue.clear()
        return out
