# tries: name an engine-private attribute after one of the policy's own, to read it on another object
# kind: forbidden
# message: {policy}:15: the policy reads ._rep, a private name outside the documented API; a policy may use the
#+  names in simulator/policy/policy_api.md (e.g. _request_queue, _replica_schedulers, _arrived_at) and its own
#+  attributes as self._name
from glia.simulator import BaseGlobalScheduler


class P(BaseGlobalScheduler):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._rep = None

    def schedule(self):
        self.leak = self._replica_schedulers[0]._rep.pending
        return [(0, self._request_queue.pop()) for _ in range(len(self._request_queue))]
