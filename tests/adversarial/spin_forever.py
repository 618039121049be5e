# tries: never return from schedule()
from glia.simulator import BaseGlobalScheduler


class P(BaseGlobalScheduler):
    def schedule(self):
        while True:
            pass
