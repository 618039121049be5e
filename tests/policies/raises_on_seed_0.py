"""A policy that fails on seed 0 only (the harness seeds ``random`` with the seed before loading a policy)."""

import random

from glia.simulator import BaseGlobalScheduler

SEED_0 = random.random() == random.Random(0).random()


class Fragile(BaseGlobalScheduler):
    def schedule(self):
        if SEED_0:
            raise RuntimeError("seed 0 is not supported")
        self.sort_requests()
        out = []
        while self._request_queue:
            out.append((0, self._request_queue.pop(0)))
        return out
