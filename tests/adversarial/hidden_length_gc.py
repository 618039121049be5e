# tries: find the engine's objects with the garbage collector
# kind: forbidden
# message: {policy}:4: the policy imports gc; a policy may import only {allowed}
import gc

from glia.simulator import BaseGlobalScheduler


class P(BaseGlobalScheduler):
    def schedule(self):
        self.leak = [o for o in gc.get_objects() if type(o).__name__ == "Simulation"]
        return [(0, self._request_queue.pop()) for _ in range(len(self._request_queue))]
