"""The app's messages: what the run's worker and the runs browser's workers report. Workers post them (safe from
any thread); only their handlers touch widgets."""

from __future__ import annotations

from textual.message import Message

from glia.tui.backend import RunListing, RunSession, Shape
from glia.tui.stepper import (
    Baseline,
    ContextChanged,
    Ended,
    Event,
    Experiment,
    Failure,
    Paused,
    Said,
    Step,
    Stepper,
    ToolCall,
)


class GraphShaped(Message):
    """The compiled graph's nodes and edges, for the drawing (compiled in a worker)."""

    def __init__(self, nodes: list[str], edges: list[tuple[str, str]]):
        super().__init__()
        self.nodes, self.edges = nodes, edges


class RunOpened(Message):
    """A run's session is open (in the run's worker) and its stepper about to run."""

    def __init__(self, session: RunSession, stepper: Stepper, shape: Shape, facts: str):
        super().__init__()
        self.session, self.stepper, self.shape, self.facts = session, stepper, shape, facts


class StepFinished(Message):
    """A node of the run finished."""

    def __init__(self, step: Step):
        super().__init__()
        self.step = step


class ToolCalled(Message):
    """The harness is running one of the researcher's tool calls."""

    def __init__(self, call: ToolCall):
        super().__init__()
        self.call = call


class ExperimentRecorded(Message):
    """A simulation finished and went into the ledger."""

    def __init__(self, experiment: Experiment):
        super().__init__()
        self.experiment = experiment


class BaselineMeasured(Message):
    def __init__(self, baseline: Baseline):
        super().__init__()
        self.baseline = baseline


class ContextStarted(Message):
    def __init__(self, change: ContextChanged):
        super().__init__()
        self.change = change


class ContextEnded(Message):
    def __init__(self, change: ContextChanged):
        super().__init__()
        self.change = change


class ProgressSaid(Message):
    """A line of the run's progress (held-out figures, ...), as the command line says it."""

    def __init__(self, said: Said):
        super().__init__()
        self.data = said.data


class StepperPaused(Message):
    """The run waits between steps, as the user asked (step by step, or a pause)."""

    def __init__(self, paused: Paused):
        super().__init__()


class RunViewed(Message):
    """A run's state read from its checkpoints (a finished or paused run opened from the runs browser)."""

    def __init__(self, thread_id: str, digest: dict | None, error: str | None = None):
        super().__init__()
        self.thread_id, self.digest, self.error = thread_id, digest, error


class RunFailed(Message):
    """The run stopped on an error (it rests at its last checkpoint)."""

    def __init__(self, failure: Failure):
        super().__init__()
        self.text = failure.text


class RunEnded(Message):
    """The run's worker is done: finished, paused, stopped by the user (``outcome`` None: it never opened)."""

    def __init__(self, ended: Ended):
        super().__init__()
        self.outcome, self.stopped = ended.outcome, ended.stopped


class RunsLoaded(Message):
    """The workspace's runs, read from their ``run.json`` files."""

    def __init__(self, runs: list[RunListing]):
        super().__init__()
        self.runs = runs


class HistoryLoaded(Message):
    """A run's checkpoints (``error`` when they could not be read: a damaged run is shown, not fatal)."""

    def __init__(self, thread_id: str, history: list[dict], error: str | None = None):
        super().__init__()
        self.thread_id, self.history, self.error = thread_id, history, error


def for_event(event: Event) -> Message:
    """The message for one of the stepper's events."""
    if isinstance(event, ContextChanged):
        return ContextEnded(event) if event.ended else ContextStarted(event)
    kinds: dict[type, type] = {Step: StepFinished, ToolCall: ToolCalled, Experiment: ExperimentRecorded,
                               Baseline: BaselineMeasured, Said: ProgressSaid, Paused: StepperPaused,
                               Failure: RunFailed, Ended: RunEnded}
    return kinds[type(event)](event)
