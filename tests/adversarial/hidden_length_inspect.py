# tries: inspect.stack() to reach the engine's locals
import inspect

from glia.simulator import BaseGlobalScheduler


class P(BaseGlobalScheduler):
    def schedule(self):
        self.leak = [f.frame.f_locals for f in inspect.stack()]
        return [(0, self._request_queue.pop()) for _ in range(len(self._request_queue))]
