"""The three layers of the serving stack, each defined once: its policies' base class and method, its built-ins, the
baseline a task of the layer is measured against by default, the heuristic researcher's design space for it, whether
it may be left out (``"none"``: a fixed cluster has no autoscaler) and the API page that documents it.

``LAYERS`` is in the stack's order (router, batch, autoscaler); ``LayerName`` is the same names as a type, so that
adding a layer is one edit here that the type checker and ``tests/simulator/policy/test_layers.py`` follow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from glia.simulator.policy.autoscaler import BaseAutoscaler
from glia.simulator.policy.batch import BaseBatchPolicy
from glia.simulator.policy.builtin import POLICIES
from glia.simulator.policy.builtin.autoscalers import AUTOSCALERS
from glia.simulator.policy.builtin.batch_policies import BATCH_POLICIES
from glia.simulator.policy.router import BaseGlobalScheduler

LayerName = Literal["router", "batch", "autoscaler"]
NONE = "none"   # the policy of a layer left out (only where ``may_be_none``)


@dataclass(frozen=True)
class Layer:
    """A layer of the serving stack: its policies' base class, the method they implement, its built-ins, and what a
    task of the layer takes by default."""

    name: LayerName
    noun: str             # what a policy class of the layer is called in messages
    base: type
    method: str
    builtins: dict[str, type]
    where: str            # where to import the base class from, for the error message
    default_baseline: str  # a task's baseline when it names none
    default_space: str    # the heuristic researcher's design space (nodes/heuristic/spaces.py) when a task names none
    api_doc: str          # the page that documents the layer's API (also fed to the model)
    may_be_none: bool = False  # ``"none"`` is a policy of this layer: the layer is left out

    def knows(self, spec: str) -> bool:
        """``spec`` names a built-in of this layer, or ``"none"`` where the layer may be left out."""
        return spec in self.builtins or (self.may_be_none and spec == NONE)


LAYERS: dict[LayerName, Layer] = {
    "router": Layer("router", "scheduler", BaseGlobalScheduler, "schedule", POLICIES,
                    "glia.simulator or vidur.scheduler.global_scheduler.base_global_scheduler",
                    default_baseline="llq", default_space="router", api_doc="simulator/policy/policy_api.md"),
    "batch": Layer("batch", "batch policy", BaseBatchPolicy, "next_index", BATCH_POLICIES, "glia.simulator",
                   default_baseline="fcfs", default_space="batch", api_doc="simulator/policy/batch_policy_api.md"),
    "autoscaler": Layer("autoscaler", "autoscaler", BaseAutoscaler, "desired_replicas", AUTOSCALERS,
                        "glia.simulator", default_baseline="threshold", default_space="autoscaler",
                        api_doc="simulator/policy/autoscaler_api.md", may_be_none=True),
}


def get_layer(name: str) -> Layer:
    try:
        return LAYERS[name]  # type: ignore[index]
    except KeyError:
        raise ValueError(f"unknown layer {name!r}; layers: {', '.join(LAYERS)}") from None
