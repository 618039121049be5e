# tries: route a request object the policy made itself
# kind: bad_return
# message: schedule() returned a request it was not given (Request(id=1000000, arrived_at=0.000,
#+  num_prefill_tokens=5, num_processed_tokens=0, num_restarts=0))
from glia.simulator import BaseGlobalScheduler, Request


class P(BaseGlobalScheduler):
    def schedule(self):
        return [(0, Request(10**6, 0.0, 5))]
