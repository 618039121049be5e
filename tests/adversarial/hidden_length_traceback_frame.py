# tries: reach the engine's frames through an exception's traceback
from glia.simulator import BaseGlobalScheduler


class P(BaseGlobalScheduler):
    def schedule(self):
        try:
            raise ValueError
        except ValueError as e:
            self.leak = e.__traceback__.tb_frame
        return [(0, self._request_queue.pop()) for _ in range(len(self._request_queue))]
