# tries: end the seed's process from policy code (to skip the checks that follow)
from glia.simulator import BaseGlobalScheduler


class P(BaseGlobalScheduler):
    def schedule(self):
        raise SystemExit(0)
