# tries: nothing wrong: allowed modules (namedtuple uses frames inside), vidur's paths and own state keep working
# kind: ok
import heapq
import statistics
from collections import namedtuple
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from vidur.scheduler.global_scheduler.base_global_scheduler import BaseGlobalScheduler

Load = namedtuple("Load", "rid blocks")


class Pick(NamedTuple):
    rid: int
    score: float


@dataclass
class Stats:
    seen: list = field(default_factory=list)


class P(BaseGlobalScheduler):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._stats = Stats()

    def schedule(self):
        self.sort_requests()
        out = []
        while self._request_queue:
            r = self._request_queue.pop(0)
            self._stats.seen.append(r.num_prefill_tokens)
            loads = [Load(rid, rs.num_allocated_blocks + len(rs.pending_queue)) for rid, rs in
                     self._replica_schedulers.items()]
            best = heapq.nsmallest(1, loads, key=lambda x: x.blocks)[0]
            pick = Pick(best.rid, float(np.mean(self._stats.seen)) + statistics.fmean(self._stats.seen))
            out.append((pick.rid, r))
        return out
