# tries: patch the wall clock the harness times seeds with
# kind: forbidden
# message: {policy}:6: the policy imports time; a policy may import only {allowed}
# message: {policy}:10: the policy modifies time.perf_counter: imported modules and harness classes are read-only
#+  to policies (keep your own state on self)
import time

from glia.simulator import BaseGlobalScheduler

time.perf_counter = lambda: 0.0


class P(BaseGlobalScheduler):
    def schedule(self):
        return [(0, self._request_queue.pop()) for _ in range(len(self._request_queue))]
