# tries: build the private name at run time and read it with getattr
# kind: forbidden
# message: {policy}:11: the policy uses getattr, which is not available to policies: read the documented attributes
#+  directly (rs.num_allocated_blocks)
from glia.simulator import BaseGlobalScheduler


class P(BaseGlobalScheduler):
    def schedule(self):
        name = "_" + "totals"
        self.leak = getattr(self._replica_schedulers[0], name)
        return [(0, self._request_queue.pop()) for _ in range(len(self._request_queue))]
