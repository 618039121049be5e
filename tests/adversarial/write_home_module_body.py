# tries: the case: write ~/glia-was-here.txt from the module body when the file is loaded
import os

with open(os.path.expanduser("~/glia-was-here.txt"), "w") as f:
    f.write("glia was here\n")

from glia.simulator import BaseGlobalScheduler


class P(BaseGlobalScheduler):
    def schedule(self):
        return [(0, self._request_queue.pop()) for _ in range(len(self._request_queue))]
