# tries: reach the harness's module globals through a method's __globals__
# kind: forbidden
# message: {policy}:12: the policy reads .__func__: special attributes are not part of the API (see
#+  simulator/policy/policy_api.md)
# message: {policy}:12: the policy reads .__globals__: special attributes are not part of the API (see
#+  simulator/policy/policy_api.md)
from glia.simulator import BaseGlobalScheduler


class P(BaseGlobalScheduler):
    def schedule(self):
        self.leak = self.sort_requests.__func__.__globals__
        return [(0, self._request_queue.pop()) for _ in range(len(self._request_queue))]
