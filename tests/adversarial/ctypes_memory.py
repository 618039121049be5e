# tries: read raw memory with ctypes
# kind: forbidden
# message: {policy}:4: the policy imports ctypes; a policy may import only {allowed}
import ctypes

from glia.simulator import BaseGlobalScheduler


class P(BaseGlobalScheduler):
    def schedule(self):
        self.leak = ctypes.string_at(id(self), 64)
        return [(0, self._request_queue.pop()) for _ in range(len(self._request_queue))]
