"""The heuristic researcher's design spaces, one per kind of task (a task names its own in ``[offline] space``):
for each, the design it starts from, how a ledger label names a design, and the rules that propose the next
designs from the experiments and the analyst's findings. The routing space keeps its own rules
(``researcher_offline.candidates``); the others are in their modules."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from glia.state import Finding, GliaState, LedgerEntry

from . import adaptive_router_designs, autoscaler_designs, batch_designs, slo_router_designs


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
