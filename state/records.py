"""The records a run's state holds: experiments, baselines, findings, hypotheses, supervisor interventions, the best
design and each context's outcome. TypedDicts, so they checkpoint as plain dicts and every module that reads one
reads the same keys."""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict


class MeasurementError(TypedDict):
    kind: str                      # load_error, exception, timeout, ... (see simulator/policy/policy_api.md)
    message: str
    seed: NotRequired[int]
    failed_seeds: NotRequired[list[int]]


class Measurement(TypedDict, total=False):
    """A policy measured on a benchmark over seeds (what the simulation tools return)."""

    id: str                        # an experiment's id in the ledger; a baseline's run id in the telemetry
    run_id: str                    # an experiment's run id in the telemetry (unique across the runs sharing it)
    workload: str
    seeds: list[int]
    metrics: dict[str, float]      # mean over seeds of each of simulator.metrics.SUMMARY_METRICS
    mean_e2e_ci90: list[float] | None
    ci90: dict[str, list[float]]   # the 90 % CI of each metric
    error: MeasurementError | None
    wall_s: float
    reused: bool                   # read back from the telemetry (recorded before a crash or a kill)
    isolation: str                 # what the policy's processes ran under, as the harness recorded it (absent: not
    #                                recorded, e.g. read back from the telemetry or measured before it was recorded)


class LedgerEntry(Measurement, total=False):
    """One experiment of a design context."""

    candidate: str                 # the design file the researcher ran
    snapshot: str                  # the frozen copy that ran, relative to the context's workspace
    hash: str                      # of the snapshot's source
    program: str                   # its ``program_key``: the same for code that differs only in comments or layout
    label: str
    hypothesis: str                # id of the hypothesis it tests (``H-x`` or ``H-x/variant``), if any
    context: str
    seq: int                       # 1, 2, ... within its context
    score: float                   # the objective as a number to minimise, penalised when the constraint breaks
    feasible: bool                 # whether it met the task's constraint (a failed run is not)
    violation: float               # by how much it broke the constraint, relative to the bound (0: met)
    verdict: Literal["improved", "no gain", "worse", "error"]
    workspace: str


class Baseline(Measurement, total=False):
    """A baseline policy of the task's layer the harness measured on the task's benchmark."""

    policy: str                    # its name (a built-in's, or a file's stem)
    spec: str                      # the built-in name or the file that ran
    score: float
    feasible: bool
    violation: float


class Finding(TypedDict):
    id: str                        # ``<experiment>:<topic>``
    experiment: str
    topic: str
    flagged: bool                  # whether it points at a problem worth a hypothesis
    text: str
    value: float | None
    sql: str                       # the query it came from
    figures: NotRequired[list[float]]  # numbers the model was shown (query results) that its text may quote


class Hypothesis(TypedDict):
    id: str                        # ``<context>-<name>``
    context: str
    name: str
    statement: str
    source: str                    # the finding that raised it
    status: Literal["open", "supported", "refuted"]
    evidence: list[str]            # ids of the experiments that tested it


# What the supervisor may answer (its prompt and its structured reply list these, in this order)
SupervisorChoice = Literal["approve", "continue", "stop_line", "combine"]
# What is recorded: the supervisor's choice, or ``stop``, which the harness decides: it ends a context with nothing
# approved (the budget is used and no design met the task's constraint)
Decision = Literal[SupervisorChoice, "stop"]


class Intervention(TypedDict):
    id: str
    context: str
    after_experiment: str | None
    reason: str                    # why the supervisor was consulted (progress.consult_reason)
    after_count: int               # experiments in the context when it intervened
    decision: Decision
    text: str
    mark: float | None             # the budget mark it answered, if that was the reason


class BestDesign(TypedDict):
    """The best feasible design (a design that breaks the task's constraint is never the best)."""

    id: str
    context: str
    label: str
    score: float
    value: float | None            # the objective metric's value
    metrics: dict[str, float]
    ci90: list[float] | None
    snapshot: str                  # absolute path of the code that ran
    hash: str


class ContextOutcome(TypedDict):
    id: str
    workspace: str
    simulations_used: int
    stop_reason: str
    best: BestDesign | None
    implementations: dict[str, str]
    summary: str
