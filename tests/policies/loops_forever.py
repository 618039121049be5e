"""A policy that never returns: what a model sometimes writes."""

from glia.simulator import BaseGlobalScheduler


class Stuck(BaseGlobalScheduler):
    def schedule(self):
        while True:
            pass
