# tries: end the seed's process from policy code (to skip the checks that follow)
# kind: exception
# message: policy raised SystemExit in schedule() at {policy}:9: 0
from glia.simulator import BaseGlobalScheduler


class P(BaseGlobalScheduler):
    def schedule(self):
        raise SystemExit(0)
