# tries: read /etc through a numpy loader
# kind: forbidden
# message: {policy}:12: the policy uses numpy.genfromtxt, which is not available to policies (see
#+  simulator/policy/policy_api.md)
import numpy as np

from glia.simulator import BaseGlobalScheduler


class P(BaseGlobalScheduler):
    def schedule(self):
        self.hosts = np.genfromtxt("/etc/hosts", dtype=str)
        return [(0, self._request_queue.pop()) for _ in range(len(self._request_queue))]
