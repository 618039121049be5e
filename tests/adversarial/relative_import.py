# tries: import a harness module relative to the policy's package
# kind: forbidden
# message: {policy}:6: the policy uses a relative import; a policy is one file and may import only {allowed}
from glia.simulator import BaseGlobalScheduler

from . import sandbox


class P(BaseGlobalScheduler):
    def schedule(self):
        return [(0, self._request_queue.pop()) for _ in range(len(self._request_queue))]
