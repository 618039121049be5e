"""The typed graph state, its records and reducers, the run-time context nodes are given, and the tasks
(``tasks/``: the loader and the built-in tasks)."""

from glia.state.config import AgentSettings, EvaluationSettings, GliaContext, ModelSpec
from glia.state.records import (
    Baseline,
    BestDesign,
    ContextOutcome,
    Decision,
    Finding,
    Hypothesis,
    Intervention,
    LedgerEntry,
    Measurement,
    SupervisorChoice,
)
from glia.state.schema import Budget, GliaState, Phase, add_usage, better_design, last_value, merge_by_id, merge_dicts
from glia.state.tasks.task import Task, TaskError, feasible, improves, load_task, score, violation, worse

__all__ = ["AgentSettings", "Baseline", "BestDesign", "Budget", "ContextOutcome", "Decision", "EvaluationSettings",
           "Finding", "GliaContext", "GliaState", "Hypothesis", "Intervention", "LedgerEntry", "Measurement",
           "ModelSpec", "Phase", "SupervisorChoice", "Task", "TaskError", "add_usage", "better_design", "feasible",
           "improves", "last_value", "load_task", "merge_by_id", "merge_dicts", "score", "violation", "worse"]
