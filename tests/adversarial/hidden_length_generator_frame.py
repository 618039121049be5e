# tries: walk up the interpreter's frames from a generator to the engine's locals
# kind: forbidden
# message: {policy}:12: the policy uses .f_back: frames and code objects are not part of the API
# message: {policy}:12: the policy uses .f_locals: frames and code objects are not part of the API
# message: {policy}:12: the policy uses .gi_frame: frames and code objects are not part of the API
from glia.simulator import BaseGlobalScheduler


class P(BaseGlobalScheduler):
    def schedule(self):
        g = (x for x in ())
        self.leak = g.gi_frame.f_back.f_locals
        return [(0, self._request_queue.pop()) for _ in range(len(self._request_queue))]
