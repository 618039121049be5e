# tries: read the decode length through vidur's own field name
# kind: hidden_field
# message: policy read request.num_decode_tokens: the decode length is unknown to a scheduler until the request
#+  completes; use num_prefill_tokens, num_processed_tokens and arrived_at
from glia.simulator import BaseGlobalScheduler


class P(BaseGlobalScheduler):
    def schedule(self):
        self._request_queue.sort(key=lambda r: r.num_decode_tokens)
        return [(0, self._request_queue.pop(0)) for _ in range(len(self._request_queue))]
