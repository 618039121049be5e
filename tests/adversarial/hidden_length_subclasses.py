# tries: enumerate every class through object.__subclasses__() to find the simulator's
# kind: forbidden
# message: {policy}:10: the policy reads .__subclasses__: special attributes are not part of the API (see
#+  simulator/policy/policy_api.md)
from glia.simulator import BaseGlobalScheduler


class P(BaseGlobalScheduler):
    def schedule(self):
        self.leak = [c for c in object.__subclasses__() if c.__name__ == "Simulation"]
        return [(0, self._request_queue.pop()) for _ in range(len(self._request_queue))]
