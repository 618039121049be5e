# tries: read private attributes through str.format's field syntax, which the attribute check does not see
# kind: forbidden
# message: {policy}:9: the policy uses .format: use an f-string (str.format can read any attribute)
from glia.simulator import BaseGlobalScheduler


class P(BaseGlobalScheduler):
    def schedule(self):
        self.leak = "{0._replica_schedulers[0]._heap}".format(self)
        return [(0, self._request_queue.pop()) for _ in range(len(self._request_queue))]
