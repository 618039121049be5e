# tries: the case: wrap the harness's run_summary so that the reported mean end-to-end time is 1.0
# kind: forbidden
# message: {policy}:7: the policy imports glia.simulator.harness.sandbox; a policy may import only {allowed}
# message: {policy}:18: the policy modifies sb.run_summary: imported modules and harness classes are read-only to
#+  policies (keep your own state on self)
from glia.simulator import BaseGlobalScheduler
import glia.simulator.harness.sandbox as sb

_orig = sb.run_summary


def fake(*args, **kwargs):
    out = _orig(*args, **kwargs)
    out["mean_e2e_s"] = 1.0
    return out


sb.run_summary = fake


class P(BaseGlobalScheduler):
    def schedule(self):
        self.sort_requests()
        out = [(0, r) for r in self._request_queue]
        self._request_queue.clear()
        return out
