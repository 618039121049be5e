"""The heuristic researcher's design spaces, one per kind of task (a task names its own in ``[offline] space``):
for each, the design it starts from, how a ledger label names a design, and the rules that propose the next
designs from the experiments and the analyst's findings. The routing space keeps its own rules
(``researcher_offline.candidates``); the others are in their modules."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from glia.nodes.heuristic import adaptive_router_designs, autoscaler_designs, batch_designs, slo_router_designs
from glia.nodes.heuristic.router_designs import RouterDesign
from glia.state import Finding, GliaState, LedgerEntry


@dataclass(frozen=True)
class Seed:
    """A known design a space holds from the start: its rules were written with it in them, so finding it is not a
    discovery. Each is one of its task's baselines, so every report shows the search against it."""

    design: Any
    baseline: str          # the task's baseline that is this design (a built-in's name or a file beside the task)
    what: str              # what it is, and where it comes from


# the designs each space was seeded with (the routing space: ``researcher_offline``'s rules), keyed by space name
SEEDS: dict[str, tuple[Seed, ...]] = {
    "router": (
        Seed(RouterDesign("projected", True, order="spf"), "hra",
             "Head-Room Admission, the router the Glia paper's researcher found (growth 0.6, head-room 0.03, "
             "shortest prompt first): the routing space's default parameters are this design's"),),
    "batch": (
        Seed(batch_designs.BatchDesign("spf"), "spf",
             "shortest prompt first: shortest-job-first on the one size a replica sees"),
        Seed(batch_designs.BatchDesign("spf", True), "batch_headroom.py",
             "shortest prompt first with hra's head-room admission (growth 0.6, head-room 0.03) moved into the "
             "replica: the space's one new mechanism, at its default parameters")),
    "autoscaler": (
        Seed(autoscaler_designs.BASELINE.with_(kind="proportional"), "autoscaling_hpa.py",
             "Kubernetes HPA's target tracking (ceil(requests in flight / 16 per replica)): the space's "
             "proportional controller at its default target"),),
    "slo-router": (
        Seed(slo_router_designs.BASELINE.with_(signal="prefill"), "slo_least_prefill.py",
             "least work left: the replica with the least prefill work queued (a classic of queueing theory): the "
             "space's one new load signal, at its default parameters"),),
    "adaptive-router": (
        Seed(adaptive_router_designs.BASELINE.with_(admission="slots"), "adapt_slots.py",
             "hold requests centrally until a replica has a free batch slot, shortest prompt first: the space's one "
             "new admission rule, at its default parameters"),),
}


@dataclass(frozen=True)
class DesignSpace:
    name: str
    baseline: Any
    parse: Callable[[str], Any]                 # a design key -> the design (None if it is not one)
    hypotheses: dict[str, tuple]                # finding topic -> (hypothesis id, statement, ...)
    propose: Callable[[GliaState, list[tuple[Any, LedgerEntry]], list[Finding]], list[tuple[Any, str, str]]]

    def starting_design(self, starter_source: str) -> Any:
        """The design the task's starter file is (its ``Design key:`` line), or the space's baseline."""
        match = re.search(r"Design key: (\S+)", starter_source or "")
        return (self.parse(match.group(1)) if match else None) or self.baseline


SPACES: dict[str, DesignSpace] = {
    "batch": DesignSpace("batch", batch_designs.BASELINE, batch_designs.BatchDesign.from_key,
                         batch_designs.HYPOTHESES, batch_designs.candidates),
    "autoscaler": DesignSpace("autoscaler", autoscaler_designs.BASELINE,
                              autoscaler_designs.AutoscalerDesign.from_key, autoscaler_designs.HYPOTHESES,
                              autoscaler_designs.candidates),
    "slo-router": DesignSpace("slo-router", slo_router_designs.BASELINE, slo_router_designs.SloRouterDesign.from_key,
                              slo_router_designs.HYPOTHESES, slo_router_designs.candidates),
    "adaptive-router": DesignSpace("adaptive-router", adaptive_router_designs.BASELINE,
                                   adaptive_router_designs.AdaptiveRouterDesign.from_key,
                                   adaptive_router_designs.HYPOTHESES, adaptive_router_designs.candidates),
}
