# tries: reach the engine's frames through an exception's traceback
# kind: forbidden
# message: {policy}:14: the policy reads .__traceback__: special attributes are not part of the API (see
#+  simulator/policy/policy_api.md)
# message: {policy}:14: the policy uses .tb_frame: frames and code objects are not part of the API
from glia.simulator import BaseGlobalScheduler


class P(BaseGlobalScheduler):
    def schedule(self):
        try:
            raise ValueError
        except ValueError as e:
            self.leak = e.__traceback__.tb_frame
        return [(0, self._request_queue.pop()) for _ in range(len(self._request_queue))]
