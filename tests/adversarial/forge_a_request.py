# tries: route a request object the policy made itself
from glia.simulator import BaseGlobalScheduler, Request


class P(BaseGlobalScheduler):
    def schedule(self):
        return [(0, Request(10**6, 0.0, 5))]
