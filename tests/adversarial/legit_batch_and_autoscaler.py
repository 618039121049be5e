# tries: nothing wrong: a batch policy using allowed modules and its replica's documented reads runs confined
# layer: batch
# kind: ok
import heapq

from glia.simulator import BaseBatchPolicy


class B(BaseBatchPolicy):
    def next_index(self, pending, replica):
        if replica.free_blocks < replica.num_blocks // 100 and replica.num_active_requests:
            return None
        return heapq.nsmallest(1, range(len(pending)), key=lambda i: (pending[i].num_prefill_tokens, i))[0]
