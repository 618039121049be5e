"""Autoscaler: throughput thresholds: +1 replica above 700 decode tokens/s per replica (or more than 5 waiting per
replica), -1 below 350, 60 s cooldown.

Design key: kind=threshold,high=700.0,low=350.0,cooldown=60.0,signal=in_flight,target=16.0,down_step=0,spare=0
"""

from glia.simulator import BaseAutoscaler


class Autoscaler(BaseAutoscaler):
    HIGH = 700.0
    LOW = 350.0
    COOLDOWN = 60.0
    MAX_WAITING = 5.0

    def __init__(self, config=None):
        super().__init__(config)
        self.last_change = -float('inf')

    def desired_replicas(self, view):
        current = view.serving + view.starting
        if view.now - self.last_change < self.COOLDOWN:
            return current
        want = current
        queue = view.waiting > self.MAX_WAITING * max(view.serving, 1)
        if view.decode_tokens_per_s > self.HIGH or queue:
            want = current + 1
        elif view.decode_tokens_per_s < self.LOW and view.waiting == 0:
            want = current - 1
        want = max(view.min_replicas, min(view.max_replicas, want))
        if want != current:
            self.last_change = view.now
        return want
