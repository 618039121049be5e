# tries: stop the simulated clock (the replicas' shared Clock) so that requests complete "instantly"
# kind: forbidden
# message: {policy}:12: the policy reads ._clock, a private name outside the documented API; a policy may use the
#+  names in simulator/policy/policy_api.md (e.g. _request_queue, _replica_schedulers, _arrived_at) and its own
#+  attributes as self._name
from glia.simulator import BaseGlobalScheduler


class P(BaseGlobalScheduler):
    def schedule(self):
        for rs in self._replica_schedulers.values():
            rs._clock.now = 0.0
        return [(0, self._request_queue.pop()) for _ in range(len(self._request_queue))]
