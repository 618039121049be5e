"""Head-Room Admission: the router the Glia paper's Researcher found (its Fig. 9), as a reference design."""

from __future__ import annotations

from glia.simulator.policy.router import BaseGlobalScheduler


class HeadRoomAdmissionGlobalScheduler(BaseGlobalScheduler):
    """Hold requests centrally while KV-cache head-room is short; route the shortest prompt first to the replica
    with the least projected KV usage.

    Every request on a replica is charged pessimistically: the larger of the blocks it holds now and the blocks of
    ``prompt * (1 + GROWTH)`` tokens. A request is routed only if the replica's projected usage stays below
    ``(1 - HEADROOM)`` of its blocks; otherwise it waits in the global queue, where it can still go to whichever
    replica frees memory first.
    """

    GROWTH = 0.6
    HEADROOM = 0.03

    def _projected(self, rs) -> int:
        bs, scale = rs.block_size, 1.0 + self.GROWTH
        used = 0
        for r in rs.active_queue:
            held = -(-r.num_processed_tokens // bs)
            reserved = -(-int(r.num_prefill_tokens * scale) // bs)
            used += max(reserved, held)
        for r in rs.pending_queue:
            used += -(-int(r.num_prefill_tokens * scale) // bs)
        return used

    def schedule(self):
        if not self._request_queue:
            return []
        projected = {rid: self._projected(rs) for rid, rs in self._replica_schedulers.items()}
        limit = {rid: (1.0 - self.HEADROOM) * rs.num_blocks for rid, rs in self._replica_schedulers.items()}
        self._request_queue.sort(key=lambda r: (r.num_prefill_tokens, r.arrived_at))
        mapping = []
        while self._request_queue:
            request = self._request_queue[0]
            rid = min(projected, key=lambda i: projected[i] / limit[i])
            need = -(-int(request.num_prefill_tokens * (1.0 + self.GROWTH)) // self._replica_schedulers[rid].block_size)
            if projected[rid] and projected[rid] + need > limit[rid]:
                break  # the shortest waiting prompt fits nowhere (an empty replica takes anything): hold the queue
            self._request_queue.pop(0)
            projected[rid] += need
            mapping.append((rid, request))
        return mapping
