"""Everything the TUI asks of the engine, in one place and by keyword: starting, reopening and listing runs, the
compiled graph's shape, the implementations to choose from, and the run facts shown under the status line.

No Textual here; the app calls these from its workers (anything that opens SQLite or compiles a graph) or from
message handlers (the cheap ones)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from glia.graph.builder import build_graph
from glia.graph.config import DEFAULT_WORKSPACE, RunConfig
from glia.graph.runs import list_runs, prepare_run
from glia.graph.session import RunSession
from glia.nodes.registry import IMPLEMENTATIONS, ROLES, choose_implementations

__all__ = ["DEFAULT_WORKSPACE", "ROLES", "RunListing", "RunSession", "graph_shape", "implementation_names",
           "implementations_of", "load_digest", "load_history", "load_runs", "new_run", "reopen_run", "run_facts",
           "session_facts", "default_implementations"]

Shape = tuple[list[str], list[tuple[str, str]]]


@dataclass(frozen=True)
class RunListing:
    """One run in the runs browser, from its ``run.json``."""

    thread_id: str
    task: str
    finished: bool
    meta: dict


def graph_shape(*, contexts: int = 1, mode: str = "parallel", session: RunSession | None = None) -> Shape:
    """The compiled graph's nodes and edges (subgraphs expanded one level), as ``get_graph`` reports them."""
    graph = session.graph if session is not None else build_graph(contexts=contexts, mode=mode).compile()
    g = graph.get_graph(xray=1)
    return list(g.nodes), [(e.source, e.target) for e in g.edges]


def default_implementations(*, llm: bool) -> dict[str, str]:
    """Every role's implementation for a new run: the LLM ones when a model is configured."""
    return choose_implementations({r: "llm" for r in ROLES} if llm else None)


def implementation_names() -> dict[str, list[str]]:
    """The registered implementations of each role (the ablation switch's choices)."""
    return {role: list(IMPLEMENTATIONS[role]) for role in ROLES}


def new_run(*, task: str, contexts: int, mode: str, budget_sims: int | None, implementations: dict[str, str],
            model: str | None, base_url: str | None, models: dict | None,
            workspace: str | Path) -> tuple[RunSession, dict]:
    """Create a run (its directory and ``run.json``) and open it; returns the session and the initial state."""
    config = RunConfig.build(task, contexts=contexts, mode=mode, budget_sims=budget_sims,
                             implementations=implementations, model=model, base_url=base_url, llm=bool(models),
                             workspace=workspace)
    state = prepare_run(config)
    return RunSession(config, models), state


def implementations_of(thread_id: str, *, workspace: str | Path) -> dict[str, str]:
    """The implementations a run was last started with (its ``run.json``)."""
    return dict(RunConfig.load(thread_id, workspace).implementations)


def reopen_run(thread_id: str, *, workspace: str | Path, implementations: dict[str, str] | None = None,
               models: dict | None = None) -> RunSession:
    """Open a run to resume or fork it, with other implementations for some roles (kept in its ``run.json``)."""
    config = RunConfig.load(thread_id, workspace).with_implementations(implementations)
    if implementations:
        config.save()
    return RunSession(config, models)


def load_runs(*, workspace: str | Path) -> list[RunListing]:
    """The runs of a workspace, newest first, from their ``run.json`` only (cheap: no checkpoint is read)."""
    return [RunListing(r["thread_id"], r["task"], r["finished"], r) for r in reversed(list_runs(workspace))]


def load_history(thread_id: str, *, workspace: str | Path) -> list[dict]:
    """Every checkpoint of a run, newest first (compiles its graph and reads SQLite: call it from a worker)."""
    session = RunSession(RunConfig.load(thread_id, workspace))
    try:
        return session.history()
    finally:
        session.close()


def load_digest(thread_id: str, *, workspace: str | Path) -> dict:
    """What the widgets show of a run at its last checkpoint, with its status and report (reads SQLite: call it
    from a worker)."""
    from glia.tui.stepper import digest

    session = RunSession(RunConfig.load(thread_id, workspace))
    try:
        out = session.outcome()
        return {**digest(session), "status": out.status, "report": out.to_json()["report"],
                "facts": session_facts(session)}
    finally:
        session.close()


def run_facts(meta: dict) -> str:
    """One line of facts about a run, from its ``run.json``: the task, contexts, budget, and which implementation
    (and model) each role runs. New facts a user should see at a glance belong here."""
    impl = meta.get("implementations", {})
    models = meta.get("models") or {}
    named = {f"{name}" + (f"({models[role]['model']})" if role in models else "") for role, name in impl.items()}
    roles = (f"every role {named.pop()}" if len(named) == 1 and len(impl) > 1 else
             " ".join(f"{role}={name}" + (f"({models[role]['model']})" if role in models else "")
                      for role, name in impl.items()))
    contexts = meta.get("contexts", 1)
    shape = f"{contexts} contexts {meta.get('mode', 'parallel')}" if contexts > 1 else "1 context"
    modes = meta.get("modes") or {}
    tools = " ".join(f"{role}:{m.get('tools')}/{m.get('structured')}" for role, m in modes.items())
    return (f"{Path(str(meta.get('task', '?'))).stem} · {shape} · {meta.get('budget_sims', '?')} sims · {roles}"
            + (f" · modes {tools}" if tools else ""))


def session_facts(session: RunSession) -> str:
    """``run_facts`` of an open run."""
    return run_facts(session.config.to_json())
