# tries: a batch policy ordering its queue by the decode length (shortest job first with the answer known)
# layer: batch
# kind: hidden_field
# message: policy read request.num_decode_tokens: the decode length is unknown to a scheduler until the request
#+  completes; use num_prefill_tokens, num_processed_tokens and arrived_at
from glia.simulator import BaseBatchPolicy


class B(BaseBatchPolicy):
    def next_index(self, pending, replica):
        return min(range(len(pending)), key=lambda i: pending[i].num_decode_tokens)
