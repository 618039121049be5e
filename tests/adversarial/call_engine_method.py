# tries: call the replica's engine-side methods (route behind the contract's back, advance the replica)
# kind: exception
# message: policy raised AttributeError in schedule() at {policy}:13: 'ReplicaHandle' object has no attribute
#+  'enqueue' (close names: pending_queue, active_queue; ReplicaHandle has: _config, _request_queue, active_queue,
#+  block_size, free_blocks, memory_usage_percent, now, num_active_requests, num_allocated_blocks, num_blocks,
#+  num_pending_requests, pending_queue, replica_id)
from glia.simulator import BaseGlobalScheduler


class P(BaseGlobalScheduler):
    def schedule(self):
        for r in self._request_queue:
            self._replica_schedulers[0].enqueue(r, 0.0)
        return []
