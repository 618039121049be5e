"""Runs: start, resume, list and report, with a SQLite checkpointer and the telemetry database in a workspace.

Workspace layout: ``telemetry.duckdb`` (shared by every run), ``checkpoints.sqlite``, and ``runs/THREAD/`` with
``run.json`` (the run's configuration), ``contexts/cN/`` (each context's design files, experiments and
transcript), and, when the run ends, ``best_<design file>``, ``report.md`` and ``transcript.jsonl``.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path

from glia.graph.config import DEFAULT_WORKSPACE, ChatFactory, RunConfig
from glia.graph.session import RunOutcome, RunSession
from glia.graph.workspace import list_runs  # noqa: F401  (listing needs nothing of the workflow: it lives there)
from glia.nodes.llm.endpoint import EndpointUnreachable
from glia.nodes.llm.modes import mode_summary
from glia.state import GliaState, load_task


def prepare_run(config: RunConfig) -> GliaState:
    """Create the run's directory and ``run.json``; return the run's initial state."""
    if (config.run_dir / "run.json").exists():
        raise ValueError(f"run {config.thread_id} exists already; resume it with `glia resume {config.thread_id}`")
    config.save()
    return initial_state(config)


def initial_state(config: RunConfig) -> GliaState:
    """The state a run starts from (its first checkpoint), from its configuration."""
    task = load_task(config.task)
    task["budget"]["simulations"] = config.budget_sims
    if config.wall_clock_s:
        task["budget"]["wall_clock_s"] = config.wall_clock_s
    facts = {f"{role} model": f"{spec.model} at {spec.base_url or 'OpenAI'}" for role, spec in config.models.items()}
    facts |= {f"{role} modes": mode_summary(m) for role, m in config.modes.items()}
    state: GliaState = {"task": task, "thread_id": config.thread_id, "run_dir": str(config.run_dir),
                        "budget": task["budget"], "started_at": time.time(), "facts": facts}
    if config.contexts == 1:  # the flat graph runs the one context directly
        state.update(context_id="c1", workspace=str(config.run_dir / "contexts" / "c1"), ledger=[])
    else:
        state.update(context_id="run", workspace=str(config.run_dir))
    return state


def start_run(config: RunConfig, models: dict | None = None, on_event: Callable[[dict], None] | None = None,
              factory: ChatFactory | None = None) -> RunOutcome:
    """Start a run and carry it to its end. Each role's endpoint is probed first (cached in the workspace) to
    choose how the role talks to it, unless ``models`` (chat models per role, e.g. test fakes) are given;
    ``factory`` makes the chat models from (base URL, model) otherwise (default: ``ChatOpenAI``). An endpoint that
    cannot serve leaves the run created and paused before its first step (``glia resume`` starts it)."""
    prepare_run(config)
    if (stopped := _choose_modes(config, models, factory, on_event)) is not None:
        return stopped
    return _execute(RunSession(config, models, factory), initial_state(config), on_event)  # with the modes chosen


def _choose_modes(config: RunConfig, models, factory, on_event) -> RunOutcome | None:
    """Probe the endpoints a run has not probed yet (kept in its ``run.json``); the paused outcome if one cannot
    serve, None when the run may go."""
    if models is not None or not config.models or config.modes:
        return None
    try:
        notes = config.choose_modes(factory)
    except EndpointUnreachable as exc:
        config.modes.clear()
        if exc.no_model:  # a run made for a model that is not there (its modes were never chosen: nothing ran)
            shutil.rmtree(config.run_dir, ignore_errors=True)
            return RunOutcome(config.thread_id, "new", message=f"{exc}; nothing was started (run it again with the "
                              "model's right name)", run_dir=str(config.run_dir),
                              configured=config.implementations, endpoint_failed=True)
        return RunOutcome(config.thread_id, "paused", message=f"{exc}; `glia resume {config.thread_id}` starts "
                          "the run once it answers", run_dir=str(config.run_dir), configured=config.implementations,
                          endpoint_failed=True)
    config.save()
    for note in notes:
        if on_event:
            on_event({"namespace": [], "mode": "custom", "data": {"event": "modes", "text": note}})
    return None


def resume_run(thread_id: str, workspace: str | Path = DEFAULT_WORKSPACE, implementations: dict | None = None,
               models: dict | None = None, on_event: Callable[[dict], None] | None = None,
               checkpoint_id: str | None = None, factory: ChatFactory | None = None) -> RunOutcome:
    """Continue a run from its last checkpoint (or fork it from ``checkpoint_id``), optionally with other
    implementations (kept in its ``run.json``), talking to its models in the modes chosen when it started."""
    config = RunConfig.load(thread_id, workspace).with_implementations(implementations)
    if implementations:
        config.save()
    if (stopped := _choose_modes(config, models, factory, on_event)) is not None:
        return stopped
    session = RunSession(config, models, factory)
    # a run stopped before its first checkpoint (its endpoint was down at the start) starts from the beginning
    state = initial_state(config) if checkpoint_id is None and not session.snapshot().values else None
    return _execute(session, state, on_event, checkpoint_id)


def _execute(session: RunSession, state: GliaState | None, on_event, checkpoint_id: str | None = None) -> RunOutcome:
    try:
        for event in session.events(state, checkpoint_id):
            if on_event:
                on_event(event)
        return session.outcome()
    finally:
        session.close()


def run_state(thread_id: str, workspace: str | Path = DEFAULT_WORKSPACE) -> RunOutcome:
    """The current state of a run, without running anything."""
    session = RunSession(RunConfig.load(thread_id, workspace))
    try:
        return session.outcome()
    finally:
        session.close()
