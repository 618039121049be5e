# tries: the case: read the hidden decode length with request._r_total()
# kind: forbidden
# message: {policy}:11: the policy reads ._r_total, a private name outside the documented API; a policy may use the
#+  names in simulator/policy/policy_api.md (e.g. _request_queue, _replica_schedulers, _arrived_at) and its own
#+  attributes as self._name
from glia.simulator import BaseGlobalScheduler


class P(BaseGlobalScheduler):
    def schedule(self):
        self._request_queue.sort(key=lambda r: r._r_total() - r.num_prefill_tokens)
        return [(0, self._request_queue.pop(0)) for _ in range(len(self._request_queue))]
