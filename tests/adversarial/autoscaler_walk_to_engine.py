# tries: an autoscaler walking from its view to the engine (gc) to erase replicas' lifetimes, i.e. GPU-hours
# layer: autoscaler
# kind: forbidden
# message: {policy}:5: the policy imports gc; a policy may import only {allowed}
import gc

from glia.simulator import BaseAutoscaler


class A(BaseAutoscaler):
    def desired_replicas(self, view):
        for holder in gc.get_referrers(view):
            if isinstance(holder, dict) and "life" in holder:
                holder["life"].clear()
        return view.max_replicas
