# tries: a fork bomb
# kind: forbidden
# message: {policy}:4: the policy imports os; a policy may import only {allowed}
import os

from glia.simulator import BaseGlobalScheduler

while True:
    os.fork()


class P(BaseGlobalScheduler):
    def schedule(self):
        return []
