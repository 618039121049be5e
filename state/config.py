"""What nodes are given at run time (LangGraph's context, not checkpointed): the telemetry database, a chat model per
role, and the agent-loop settings. The run's whole configuration, from which this is built, is ``RunConfig`` in
``graph/config.py``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, get_args

from glia.simulator.harness.workspace import DEFAULT_WORKSPACE, Paths


@dataclass(frozen=True)
class AgentSettings:
    """How the agents' loop behaves; a run keeps them in ``run.json`` so a resumed run behaves the same."""

    summary_token_limit: int = 6000      # the researcher's history is compacted beyond this (estimated tokens)
    keep_recent_messages: int = 6        # messages a compaction always keeps
    stagnation_window: int = 3           # experiments without gain before the supervisor is called
    max_retries: int = 4                 # model calls retried on rate limits and server errors
    retry_base_s: float = 1.0            # first back-off, doubled at each retry

    @classmethod
    def from_dict(cls, data: dict | None) -> AgentSettings:
        known = {f.name for f in fields(cls)}
        unknown = set(data or {}) - known
        if unknown:
            raise ValueError(f"unknown agent setting(s): {', '.join(sorted(unknown))}; "
                             f"known: {', '.join(sorted(known))}")
        return cls(**(data or {}))


Executor = Literal["local", "ray"]   # where an evaluation's seeds run (``tools/executors.py``)


@dataclass(frozen=True)
class EvaluationSettings:
    """Where a run's simulations run and how they are charged: the executor (``ray_address``: a Ray cluster's), and in
    a comparison's unit the budget ``ledger`` file and the ``unit`` charged, ``heldout`` False (the comparison
    re-measures every method's design itself) and ``seed`` (run N of the heuristic researcher walks its plan in the
    order seed N - 1 draws). Kept in ``run.json`` under ``evaluation`` with the keys it always had."""

    executor: Executor = "local"
    ray_address: str | None = None
    ledger: str | None = None
    unit: str = ""
    heldout: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        if self.executor not in get_args(Executor):
            raise ValueError(f"unknown executor {self.executor!r}; one of {', '.join(get_args(Executor))}")

    def to_dict(self) -> dict[str, Any]:
        """The executor and its address always, the comparison's keys where they are set (as ``run.json`` had)."""
        defaults = EvaluationSettings()
        return {k: v for k, v in asdict(self).items()
                if k in ("executor", "ray_address") or self.ledger or v != getattr(defaults, k)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | EvaluationSettings | None) -> EvaluationSettings:
        if isinstance(data, EvaluationSettings):
            return data
        known = {f.name for f in fields(cls)}
        unknown = set(data or {}) - known
        if unknown:
            raise ValueError(f"unknown evaluation setting(s): {', '.join(sorted(unknown))}; "
                             f"known: {', '.join(sorted(known))}")
        return cls(**dict(data or {}))


@dataclass(frozen=True)
class ModelSpec:
    """An OpenAI-compatible chat model for one role."""

    model: str
    base_url: str | None = None


@dataclass
class GliaContext:
    """Run-time context of every node. ``models`` maps a role to a chat model (or a zero-argument factory of one);
    roles without one run their offline implementation. ``modes`` maps a role to how it talks to its model (the
    fields of ``nodes.modes.RoleModes``, chosen from the endpoint's probed profile)."""

    db: str = str(Paths(Path(DEFAULT_WORKSPACE)).db)
    models: dict[str, Any] = field(default_factory=dict)
    settings: AgentSettings = field(default_factory=AgentSettings)
    modes: dict[str, dict] = field(default_factory=dict)
    evaluation: EvaluationSettings = field(default_factory=EvaluationSettings)

    def model(self, role: str):
        m = self.models.get(role)
        return m() if callable(m) and not hasattr(m, "invoke") else m
