# tries: the case: read the hidden decode length with request._r_total()
from glia.simulator import BaseGlobalScheduler


class P(BaseGlobalScheduler):
    def schedule(self):
        self._request_queue.sort(key=lambda r: r._r_total() - r.num_prefill_tokens)
        return [(0, self._request_queue.pop(0)) for _ in range(len(self._request_queue))]
