"""A run's whole configuration, built once from the command line, the task file and the environment, and kept as
the run's ``run.json`` so that a resumed run is the same run."""

from __future__ import annotations

import dataclasses
import json
import os
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from glia.nodes.llm.client import make_chat_model, with_token_limit
from glia.nodes.llm.endpoint import profile_for
from glia.nodes.llm.modes import MAX_TOKENS, choose_modes, mode_summary, parse_overrides, weak_notes
from glia.nodes.registry import ROLES, choose_implementations

# noqa: F401  (the workspace's name and layout, read from here too)
from glia.simulator.harness.workspace import DEFAULT_WORKSPACE, Paths
from glia.state import AgentSettings, EvaluationSettings, GliaContext, ModelSpec, load_task
from glia.state.tasks.task import layer_of

# where a role's endpoint profile came from, as the run's start line says it
PROFILE_SOURCES = {"workspace": "cached profile", "user cache": "cached profile (user cache)", "probed": "probed"}

ChatFactory = Callable[[str | None, str], Any]   # (base URL, model) -> a chat model

MODES = ("parallel", "sequential")


@dataclass
class RunConfig:
    """Everything that defines a run (not the chat model objects, which are made from ``models`` when needed)."""

    thread_id: str
    task: str                                   # a built-in task name or a task file
    workspace: Path
    budget_sims: int
    implementations: dict[str, str]             # role -> implementation
    contexts: int = 1
    mode: str = "parallel"
    models: dict[str, ModelSpec] = field(default_factory=dict)   # role -> model, for the llm implementations
    settings: AgentSettings = field(default_factory=AgentSettings)
    endpoint: dict[str, dict[str, str]] = field(default_factory=dict)  # mode overrides: role (or all) -> key -> value
    modes: dict[str, dict] = field(default_factory=dict)       # role -> the modes chosen at the start (RoleModes)
    evaluation: EvaluationSettings = field(default_factory=EvaluationSettings)
    wall_clock_s: float | None = None                           # the task's wall-clock budget, overridden
    created_at: str = ""

    @classmethod
    def build(cls, task: str = "routing", *, contexts: int = 1, mode: str = "parallel",
              budget_sims: int | None = None, implementations: Mapping[str, str] | None = None,
              model: str | None = None, base_url: str | None = None, offline: bool = False, llm: bool = False,
              workspace: str | Path = DEFAULT_WORKSPACE, thread_id: str | None = None,
              settings: Mapping[str, Any] | None = None, endpoint: Sequence[str] = (),
              evaluation: Mapping[str, Any] | EvaluationSettings | None = None, wall_clock_s: float | None = None,
              env: Mapping[str, str] = os.environ) -> RunConfig:
        """Validate the choices and fill in the defaults: the model from ``GLIA_MODEL`` and the endpoint from
        ``OPENAI_BASE_URL`` unless given; with a model (or ``llm``, for test models) every role uses its LLM
        implementation unless ``implementations`` says otherwise; ``offline`` makes every role offline.
        ``endpoint``: mode overrides ``ROLE.KEY=VALUE`` (the command line's win over the task file's).
        ``evaluation``: where simulations run (``executor`` local or ray, ``ray_address``) and, in a comparison, the
        budget ``ledger`` file and ``unit``, and ``heldout`` False to leave the re-measurement to the comparison."""
        if contexts < 1:
            raise ValueError(f"--contexts must be >= 1, got {contexts}")
        if mode not in MODES:
            raise ValueError(f"mode must be 'parallel' or 'sequential', got {mode!r}")
        if budget_sims is not None and budget_sims < 1:
            raise ValueError(f"--budget-sims must be >= 1, got {budget_sims}")
        evaluation = EvaluationSettings.from_dict(evaluation)
        t = load_task(task)
        if evaluation.executor == "ray" and layer_of(t) == "program":  # refused before anything is shipped
            from glia.tools.executors import check_shippable
            from glia.tools.programs import spec_for_task
            check_shippable(spec_for_task(t))
        model = None if offline else (model or env.get("GLIA_MODEL") or None)
        base_url = base_url or env.get("OPENAI_BASE_URL") or None
        chosen = dict(implementations or {})
        if offline:
            chosen = {r: "offline" for r in ROLES} | chosen
        elif model or llm:
            chosen = {r: "llm" for r in ROLES} | chosen
        impl = choose_implementations(chosen)
        if not (model or llm) and "llm" in impl.values():
            raise ValueError("an llm implementation needs a model: pass --model or set GLIA_MODEL")
        return cls(thread_id=thread_id or datetime.now(UTC).strftime("run-%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:4],
                   task=task, workspace=Path(workspace).resolve(),
                   budget_sims=budget_sims or t["budget"]["simulations"], implementations=impl, contexts=contexts,
                   mode=mode,
                   models={r: ModelSpec(model, base_url) for r, n in impl.items() if n == "llm"} if model else {},
                   settings=AgentSettings.from_dict(dict(settings or {})),
                   endpoint=parse_overrides(endpoint, t.get("endpoint")), evaluation=evaluation,
                   wall_clock_s=wall_clock_s,
                   created_at=datetime.now(UTC).isoformat(timespec="seconds"))

    @property
    def paths(self) -> Paths:
        return Paths(self.workspace)

    @property
    def run_dir(self) -> Path:
        return self.paths.runs / self.thread_id

    def with_implementations(self, changes: Mapping[str, str] | None) -> RunConfig:
        """The same run with other implementations for some roles (the ablation switch on resume or fork)."""
        if not changes:
            return self
        return dataclasses.replace(self, implementations=choose_implementations({**self.implementations, **changes}))

    def context(self, models: dict | None = None, factory: ChatFactory | None = None) -> GliaContext:
        """The run-time context for the graph. Chat models are made lazily from ``models`` by ``factory`` (default:
        ``ChatOpenAI``), each with its role's reply limit (``max_tokens``), unless given."""
        if models is None:
            make = factory or (lambda base_url, model: make_chat_model(model, base_url))
            models = {r: (lambda r=r, s=s: with_token_limit(make(s.base_url, s.model), s.base_url, self.max_tokens(r)))
                      for r, s in self.models.items()}
        return GliaContext(db=str(self.paths.db), models=models, settings=self.settings, modes=self.modes,
                           evaluation=self.evaluation)

    def max_tokens(self, role: str) -> int:
        """The role's reply limit: as chosen with its modes (from the endpoint's profile, or overridden:
        ``--endpoint researcher.max_tokens=N``, a task's ``[endpoint.researcher] max_tokens``), else the default."""
        chosen = (self.modes.get(role) or {}).get("max_tokens")
        override = next((self.endpoint.get(s, {}).get("max_tokens") for s in (role, "all")
                         if self.endpoint.get(s, {}).get("max_tokens")), None)
        return int(chosen or override or MAX_TOKENS.get(role, 1500))

    def choose_modes(self, factory: ChatFactory | None = None, refresh: bool = False) -> list[str]:
        """Probe each role's endpoint (cached per endpoint in the workspace and the user's cache) and choose how the
        role talks to it, overrides applied; returns what to tell the user."""
        notes = []
        program = layer_of(load_task(self.task)) == "program"
        for role, spec in self.models.items():
            profile, source = profile_for(self.workspace, spec.base_url, spec.model, factory, refresh)
            self.modes[role] = choose_modes(profile, role, self.endpoint).model_dump()
            if program and self.modes[role].get("design_form"):  # a program is written whole: no form to choose
                self.modes[role]["design_form"] = None
            notes.append(f"{role}: {mode_summary(self.modes[role])} ({spec.model} at {profile.base_url}, "
                         f"{PROFILE_SOURCES[source]})")
        return notes + weak_notes(self.modes, self.implementations)

    def to_json(self) -> dict:
        return {"thread_id": self.thread_id, "task": self.task, "contexts": self.contexts, "mode": self.mode,
                "budget_sims": self.budget_sims, "implementations": self.implementations,
                "models": {r: dataclasses.asdict(s) for r, s in self.models.items()},
                "endpoint": self.endpoint, "modes": self.modes, "evaluation": self.evaluation.to_dict(),
                "wall_clock_s": self.wall_clock_s, "created_at": self.created_at,
                "context_settings": dataclasses.asdict(self.settings)}

    @classmethod
    def from_json(cls, data: dict, workspace: str | Path) -> RunConfig:
        return cls(thread_id=data["thread_id"], task=data["task"], workspace=Path(workspace).resolve(),
                   budget_sims=data["budget_sims"], implementations=dict(data["implementations"]),
                   contexts=data.get("contexts", 1), mode=data.get("mode", "parallel"),
                   models={r: ModelSpec(**s) for r, s in (data.get("models") or {}).items()},
                   settings=AgentSettings.from_dict(data.get("context_settings")),
                   endpoint=data.get("endpoint") or {}, modes=data.get("modes") or {},
                   evaluation=EvaluationSettings.from_dict(data.get("evaluation")),
                   wall_clock_s=data.get("wall_clock_s"),
                   created_at=data.get("created_at", ""))

    def save(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        (self.run_dir / "run.json").write_text(json.dumps(self.to_json(), indent=2))

    @classmethod
    def load(cls, thread_id: str, workspace: str | Path = DEFAULT_WORKSPACE) -> RunConfig:
        path = Paths(Path(workspace).resolve()).runs / thread_id / "run.json"
        if not path.exists():
            raise ValueError(f"no run {thread_id} in {Path(workspace).resolve()}; `glia runs` lists them")
        return cls.from_json(json.loads(path.read_text()), workspace)
