"""Batch policy: first come, first served.

Design key: order=fcfs,admission=False,growth=0.6,headroom=0.03,aging=100.0
"""

from glia.simulator import BaseBatchPolicy


class Batch(BaseBatchPolicy):
    GROWTH = 0.6
    HEADROOM = 0.03
    AGING = 100.0

    def pick(self, pending, replica):
        return 0

    def next_index(self, pending, replica):
        i = self.pick(pending, replica)
        return i
