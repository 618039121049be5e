# tries: hide the forbidden code in a string and run it with eval
# kind: forbidden
# message: {policy}:9: the policy uses eval, which is not available to policies: write the expression as code
from glia.simulator import BaseGlobalScheduler


class P(BaseGlobalScheduler):
    def schedule(self):
        self.leak = eval("open('/etc/hostname').read()")
        return [(0, self._request_queue.pop()) for _ in range(len(self._request_queue))]
