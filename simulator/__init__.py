"""A fast, vLLM-faithful simulator of an LLM-serving GPU cluster (no dependency on agents, LangGraph or Textual).

Entry points: ``Simulation`` (one seed in-process), the policy APIs of the stack's three layers
(``BaseGlobalScheduler`` for routing, ``BaseBatchPolicy`` for a replica's admission order, ``BaseAutoscaler`` with
``ClusterView`` for autoscaling), ``PRESETS``. Each name is imported when first used (``from glia.simulator import
Simulation`` loads the engine; ``glia presets`` loads none of it). Running a stack of policies on a named benchmark
over seeds, isolated and aggregated, is the harness's (``harness/runner.py``: ``run_benchmark``); the model and its
policy API never import the harness (``policy/``: the API, its built-ins and loader; ``isolation/``: OS confinement)."""

from typing import TYPE_CHECKING

from glia.simulator.lazy import lazy_exports

_EXPORTS = {
    "AutoscalingConfig": ".autoscaling", "BaseAutoscaler": ".policy.autoscaler", "ClusterView": ".policy.autoscaler",
    "ReplicaLoad": ".policy.autoscaler", "BaseBatchPolicy": ".policy.batch", "ClusterConfig": ".config",
    "SimulationConfig": ".config", "WorkloadSpec": ".config", "RunResult": ".engine", "Simulation": ".engine",
    "BatchFunctions": ".policy.forms", "RoutingFunctions": ".policy.forms", "ScalingFunctions": ".policy.forms",
    "BaseGlobalScheduler": ".policy.router", "PolicyLoadError": ".policy.loader", "load_policy": ".policy.loader",
    "POLICIES": ".policy.builtin", "PRESETS": ".presets", "get_preset": ".presets", "PolicyViolation": ".request",
    "Request": ".request",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from glia.simulator.autoscaling import AutoscalingConfig
    from glia.simulator.config import ClusterConfig, SimulationConfig, WorkloadSpec
    from glia.simulator.engine import RunResult, Simulation
    from glia.simulator.policy.autoscaler import BaseAutoscaler, ClusterView, ReplicaLoad
    from glia.simulator.policy.batch import BaseBatchPolicy
    from glia.simulator.policy.builtin import POLICIES
    from glia.simulator.policy.forms import BatchFunctions, RoutingFunctions, ScalingFunctions
    from glia.simulator.policy.loader import PolicyLoadError, load_policy
    from glia.simulator.policy.router import BaseGlobalScheduler
    from glia.simulator.presets import PRESETS, get_preset
    from glia.simulator.request import PolicyViolation, Request

__all__ = [
           "POLICIES",
           "PRESETS",
           "AutoscalingConfig",
           "BaseAutoscaler",
           "BaseBatchPolicy",
           "BaseGlobalScheduler",
           "BatchFunctions",
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
]
