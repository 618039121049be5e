# tries: call the replica's engine-side methods (route behind the contract's back, advance the replica)
# kind: exception
# message: policy raised AttributeError in schedule() at {policy}:11: 'ReplicaHandle' object has no attribute
#+  'enqueue'
from glia.simulator import BaseGlobalScheduler


class P(BaseGlobalScheduler):
    def schedule(self):
        for r in self._request_queue:
            self._replica_schedulers[0].enqueue(r, 0.0)
        return []
