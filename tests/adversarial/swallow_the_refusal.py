# tries: catch the error the audit hook raises and carry on as if nothing happened
# kind: forbidden
# message: the policy tried to write {home}/glia-was-here.txt: policy code may not write files (at {policy}:12)
import numpy as np

from glia.simulator import BaseGlobalScheduler


class P(BaseGlobalScheduler):
    def schedule(self):
        try:
            np.zeros(1).dump("{home}/glia-was-here.txt")
        except BaseException:
            pass
        return [(0, self._request_queue.pop()) for _ in range(len(self._request_queue))]
