# tries: nothing wrong: an autoscaler reading its whole view (and its replicas' loads) runs confined
# layer: autoscaler
# kind: ok
import math

from glia.simulator import BaseAutoscaler, ClusterView


class A(BaseAutoscaler):
    def desired_replicas(self, view: ClusterView) -> int:
        busiest = max((r.active + r.pending for r in view.replicas), default=0)
        return max(1, math.ceil((view.in_flight + busiest) / 8))
