# tries: read the user's SSH key
# kind: forbidden
# message: {policy}:10: the policy uses open, which is not available to policies: a policy reads no files; keep
#+  what it needs in the code
from glia.simulator import BaseGlobalScheduler


class P(BaseGlobalScheduler):
    def schedule(self):
        self.key = open("{home}/.ssh/id_rsa").read()
        return [(0, self._request_queue.pop()) for _ in range(len(self._request_queue))]
