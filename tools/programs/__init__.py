"""Program tasks: a design that is a program, judged by the user's evaluator (OpenEvolve's ``evaluate(path)``,
ShinkaEvolve's ``evaluate.py``, or a command printing JSON metrics), run in a fresh, confined copy of its working
directory with the program in a process of its own (``runner.py``, ``bridge.py``)."""

from glia.tools.programs.record import Artifacts, Failure, ProgramEvaluation
from glia.tools.programs.runner import evaluate_program, program_digest
from glia.tools.programs.spec import EvaluatorSpec, Variant, derive_timeout, spec_for_task

__all__ = ["Artifacts", "EvaluatorSpec", "Failure", "ProgramEvaluation", "Variant", "derive_timeout",
           "evaluate_program", "program_digest", "spec_for_task"]
