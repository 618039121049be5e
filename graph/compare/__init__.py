"""The paper's evaluation: Glia against baseline methods (best shot, OpenEvolve, EoH, FunSearch, the heuristic
researcher) on one evaluator and one budget, repeated runs, best-so-far curves, MCG-Par4 and MCG-Seq, held-out
re-measurement, a Markdown report with plots (``glia compare``)."""

from .runner import CompareConfig, CompareOutcome, resume_compare, start_compare

__all__ = ["CompareConfig", "CompareOutcome", "resume_compare", "start_compare"]
