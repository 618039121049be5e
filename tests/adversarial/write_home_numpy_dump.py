# tries: write a file through a library call the static check cannot see (numpy's ndarray.dump opens the file)
# kind: forbidden
# message: the policy tried to write {home}/glia-was-here.txt: policy code may not write files (at {policy}:11)
import numpy as np

from glia.simulator import BaseGlobalScheduler


class P(BaseGlobalScheduler):
    def schedule(self):
        np.zeros(1).dump("{home}/glia-was-here.txt")
        return [(0, self._request_queue.pop()) for _ in range(len(self._request_queue))]
