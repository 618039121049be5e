"""The paper's evaluation: Glia against baseline methods (best shot, OpenEvolve, EoH, FunSearch, the heuristic
researcher) on one evaluator and one budget, repeated runs, best-so-far curves, MCG-Par4 and MCG-Seq, held-out
re-measurement, a Markdown report with plots (``glia compare``). Each name is imported when first used."""

from typing import TYPE_CHECKING

from glia.simulator.lazy import lazy_exports

_EXPORTS = {"CompareConfig": ".runner", "CompareOutcome": ".runner", "resume_compare": ".runner",
            "start_compare": ".runner"}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from glia.graph.experiments.compare.runner import CompareConfig, CompareOutcome, resume_compare, start_compare

__all__ = ["CompareConfig", "CompareOutcome", "resume_compare", "start_compare"]
