# tries: read /etc through a numpy loader
import numpy as np

from glia.simulator import BaseGlobalScheduler


class P(BaseGlobalScheduler):
    def schedule(self):
        self.hosts = np.genfromtxt("/etc/hosts", dtype=str)
        return [(0, self._request_queue.pop()) for _ in range(len(self._request_queue))]
