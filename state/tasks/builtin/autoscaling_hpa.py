"""Autoscaler: proportional: one replica per 16 requests in flight (waiting or running).

Design key: kind=proportional,high=700.0,low=250.0,cooldown=120.0,signal=in_flight,target=16.0,down_step=0,spare=0
"""

import math

from glia.simulator import BaseAutoscaler


class Autoscaler(BaseAutoscaler):
    TARGET = 16.0  # requests in flight (waiting or running) per replica
    SPARE = 0
    DOWN_STEP = 0  # replicas released per tick at most (0: no limit)

    def desired_replicas(self, view):
        want = math.ceil(view.in_flight / self.TARGET) + self.SPARE
        current = view.serving + view.starting
        if self.DOWN_STEP and want < current - self.DOWN_STEP:
            want = current - self.DOWN_STEP
        return want
