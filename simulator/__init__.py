"""A fast, vLLM-faithful simulator of an LLM-serving GPU cluster (no dependency on agents, LangGraph or Textual).

Entry points: ``run_benchmark`` (a stack of policies on a named benchmark over seeds, isolated and aggregated),
``Simulation`` (one seed in-process), the policy APIs of the stack's three layers (``BaseGlobalScheduler`` for
routing, ``BaseBatchPolicy`` for a replica's admission order, ``BaseAutoscaler`` with ``ClusterView`` for
autoscaling), ``PRESETS``. Each name is imported when first used (``from glia.simulator import Simulation`` loads the
engine; ``glia presets`` loads none of it).
"""

from typing import TYPE_CHECKING

from .lazy import lazy_exports

_EXPORTS = {
    "AutoscalingConfig": ".autoscaler", "BaseAutoscaler": ".autoscaler", "ClusterView": ".autoscaler",
    "ReplicaLoad": ".autoscaler", "BaseBatchPolicy": ".batch_policies", "ClusterConfig": ".config",
    "SimulationConfig": ".config", "WorkloadSpec": ".config", "RunResult": ".engine", "Simulation": ".engine",
    "BatchFunctions": ".forms", "RoutingFunctions": ".forms", "ScalingFunctions": ".forms",
    "BaseGlobalScheduler": ".global_scheduler", "PolicyLoadError": ".loader", "load_policy": ".loader",
    "POLICIES": ".policies", "PRESETS": ".presets", "get_preset": ".presets", "PolicyViolation": ".request",
    "Request": ".request", "BenchmarkResult": ".runner", "run_benchmark": ".runner",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from .autoscaler import AutoscalingConfig, BaseAutoscaler, ClusterView, ReplicaLoad
    from .batch_policies import BaseBatchPolicy
    from .config import ClusterConfig, SimulationConfig, WorkloadSpec
    from .engine import RunResult, Simulation
    from .forms import BatchFunctions, RoutingFunctions, ScalingFunctions
    from .global_scheduler import BaseGlobalScheduler
    from .loader import PolicyLoadError, load_policy
    from .policies import POLICIES
    from .presets import PRESETS, get_preset
    from .request import PolicyViolation, Request
    from .runner import BenchmarkResult, run_benchmark

__all__ = [
           "POLICIES",
           "PRESETS",
           "AutoscalingConfig",
           "BaseAutoscaler",
           "BaseBatchPolicy",
           "BaseGlobalScheduler",
           "BatchFunctions",
           "BenchmarkResult",
           "ClusterConfig",
           "ClusterView",
           "PolicyLoadError",
           "PolicyViolation",
           "ReplicaLoad",
           "RoutingFunctions",
           "Request",
           "RunResult",
           "ScalingFunctions",
           "Simulation",
           "SimulationConfig",
           "WorkloadSpec",
           "get_preset",
           "load_policy",
           "run_benchmark",
]
