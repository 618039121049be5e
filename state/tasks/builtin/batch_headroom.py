"""Batch policy: shortest prompt first; admit only while prompt x 1.60 of blocks fits under 97% of the cache with
every active request so charged.

Design key: order=spf,admission=True,growth=0.6,headroom=0.03,aging=100.0
"""

from glia.simulator import BaseBatchPolicy


class Batch(BaseBatchPolicy):
    GROWTH = 0.6
    HEADROOM = 0.03
    AGING = 100.0

    def pick(self, pending, replica):
        return min(range(len(pending)), key=lambda i: (pending[i].num_prefill_tokens, pending[i].arrived_at))

    def next_index(self, pending, replica):
        i = self.pick(pending, replica)
        if not replica.num_active_requests:
            return i  # an idle replica takes anything
        bs, scale = replica.block_size, 1.0 + self.GROWTH
        used = 0
        for r in replica.active_queue:
            held = -(-r.num_processed_tokens // bs)
            charged = -(-int(r.num_prefill_tokens * scale) // bs)
            used += held if held > charged else charged
        need = -(-int(pending[i].num_prefill_tokens * scale) // bs)
        if used + need > (1.0 - self.HEADROOM) * replica.num_blocks:
            return None  # no head-room: admit nothing until a request completes
        return i
