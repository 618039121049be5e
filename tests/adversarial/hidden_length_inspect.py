# tries: inspect.stack() to reach the engine's locals
# kind: forbidden
# message: {policy}:5: the policy imports inspect; a policy may import only {allowed}
# message: {policy}:12: the policy uses .f_locals: frames and code objects are not part of the API
import inspect

from glia.simulator import BaseGlobalScheduler


class P(BaseGlobalScheduler):
    def schedule(self):
        self.leak = [f.frame.f_locals for f in inspect.stack()]
        return [(0, self._request_queue.pop()) for _ in range(len(self._request_queue))]
