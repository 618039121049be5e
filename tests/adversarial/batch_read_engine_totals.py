# tries: a batch policy reaching through its replica handle for the engine's table of hidden decode lengths
# layer: batch
# kind: forbidden
# message: {policy}:15: the policy reads ._rep, a private name outside the documented API; a policy may use the names
#+  in simulator/policy/policy_api.md (e.g. _request_queue, _replica_schedulers, _arrived_at) and its own attributes as
#+  self._name
# message: {policy}:15: the policy reads ._totals, a private name outside the documented API; a policy may use the
#+  names in simulator/policy/policy_api.md (e.g. _request_queue, _replica_schedulers, _arrived_at) and its own attributes
#+  as self._name
from glia.simulator import BaseBatchPolicy


class B(BaseBatchPolicy):
    def next_index(self, pending, replica):
        totals = replica._rep._totals
        return min(range(len(pending)), key=lambda i: totals[pending[i].id])
