# A routing policy written against vidur's module paths, as in the Glia paper's Fig. 9.
from math import ceil

from vidur.entities import Request
from vidur.scheduler.global_scheduler.base_global_scheduler import BaseGlobalScheduler


class HeadRoomScheduler(BaseGlobalScheduler):
    def schedule(self) -> list[tuple[int, Request]]:
        self.sort_requests()
        self._request_queue.sort(key=lambda r: r.num_prefill_tokens)
        usage = {}
        for replica_id, rs in self._replica_schedulers.items():
            projected = rs.num_allocated_blocks
            for r in rs._request_queue:
                projected += ceil(r.num_prefill_tokens * 1.6 / rs._config.block_size)
            usage[replica_id] = projected
        mapping = []
        while self._request_queue:
            request = self._request_queue[0]
            replica_id = min(usage, key=usage.get)
            rs = self._replica_schedulers[replica_id]
            need = ceil(request.num_prefill_tokens * 1.6 / rs.block_size)
            if usage[replica_id] and usage[replica_id] + need > 0.97 * rs.num_blocks:
                break
            self._request_queue.pop(0)
            usage[replica_id] += need
            mapping.append((replica_id, request))
        return mapping
