# tries: start a process that outlives the seed's timeout
# kind: forbidden
# message: {policy}:4: the policy imports subprocess; a policy may import only {allowed}
import subprocess

from glia.simulator import BaseGlobalScheduler

subprocess.Popen(["sleep", "1000"], start_new_session=True)


class P(BaseGlobalScheduler):
    def schedule(self):
        return [(0, self._request_queue.pop()) for _ in range(len(self._request_queue))]
