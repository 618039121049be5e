# tries: replace the metrics module's summary through the documented package
# kind: forbidden
# message: {policy}:8: the policy imports metrics from glia.simulator; policies may use only BaseGlobalScheduler,
#+  Request, PolicyViolation, BaseBatchPolicy, BaseAutoscaler, ClusterView, ReplicaLoad, RoutingFunctions,
#+  BatchFunctions, ScalingFunctions from it (see simulator/policy/policy_api.md)
# message: {policy}:10: the policy modifies metrics.run_summary: imported modules and harness classes are read-only
#+  to policies (keep your own state on self)
from glia.simulator import BaseGlobalScheduler, metrics

metrics.run_summary = lambda run, req: {"mean_e2e_s": 1.0}


class P(BaseGlobalScheduler):
    def schedule(self):
        return [(0, self._request_queue.pop()) for _ in range(len(self._request_queue))]
