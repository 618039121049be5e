# tries: read the replicas' private copy of the lengths, and the name-mangled slot the request used to have
# kind: forbidden
# message: {policy}:14: the policy reads ._totals, a private name outside the documented API; a policy may use the
#+  names in simulator/policy/policy_api.md (e.g. _request_queue, _replica_schedulers, _arrived_at) and its own
#+  attributes as self._name
# message: {policy}:15: the policy reads ._Request__total, a private name outside the documented API; a policy may
#+  use the names in simulator/policy/policy_api.md (e.g. _request_queue, _replica_schedulers, _arrived_at) and
#+  its own attributes as self._name
from glia.simulator import BaseGlobalScheduler


class P(BaseGlobalScheduler):
    def schedule(self):
        totals = self._replica_schedulers[0]._totals
        self._request_queue.sort(key=lambda r: totals[r.id] + r._Request__total)
        return [(0, self._request_queue.pop(0)) for _ in range(len(self._request_queue))]
