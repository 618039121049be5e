# tries: list a replica's attributes with vars()
# kind: forbidden
# message: {policy}:10: the policy uses vars, which is not available to policies: read the documented attributes
#+  directly
from glia.simulator import BaseGlobalScheduler


class P(BaseGlobalScheduler):
    def schedule(self):
        self.leak = vars(self._replica_schedulers[0])
        return [(0, self._request_queue.pop()) for _ in range(len(self._request_queue))]
