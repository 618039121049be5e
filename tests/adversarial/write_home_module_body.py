# tries: the case: write ~/glia-was-here.txt from the module body when the file is loaded
# kind: forbidden
# message: {policy}:6: the policy imports os; a policy may import only {allowed}
# message: {policy}:8: the policy uses open, which is not available to policies: a policy reads no files; keep what
#+  it needs in the code
import os

with open(os.path.expanduser("~/glia-was-here.txt"), "w") as f:
    f.write("glia was here\n")

from glia.simulator import BaseGlobalScheduler


class P(BaseGlobalScheduler):
    def schedule(self):
        return [(0, self._request_queue.pop()) for _ in range(len(self._request_queue))]
