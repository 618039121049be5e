# tries: never return from schedule()
# timeout: 3
# kind: timeout
# message: seed 0 did not finish within 3 s of wall time (killed)
from glia.simulator import BaseGlobalScheduler


class P(BaseGlobalScheduler):
    def schedule(self):
        while True:
            pass
