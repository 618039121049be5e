"""The comparison's methods, each defined once: its display name, whether it needs a model, its sampling temperature,
how a unit of it runs, and for a library the module run as ``-m`` and how to install it (the implementations are in
``methods.py``; the command line reads this without loading them: standard library only).

Adding a method is one row in ``METHODS`` (and, for a new kind of run, one function in ``methods.RUNS``), which the
type checker and ``tests/graph/experiments/test_compare.py`` follow."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# how a unit runs: the agent workflow, independent samples of the model, or a library in its own process
RunKind = Literal["workflow", "best_shot", "library"]
LLM4AD = ("llm4ad", "pip install --no-deps llm4ad==1.11 && pip install 'glia[llm4ad]'")


@dataclass(frozen=True)
class Method:
    """A method a comparison runs."""

    name: str
    title: str                     # in the report
    needs_model: bool
    run: RunKind
    temperature: float = 0.8       # of its model calls: the library's default where it sets one, else 0.8
    library: str | None = None     # the module its units run as ``python -m``
    install: tuple[str, str] | None = None  # (module to import, how to install it) when it needs a library


METHODS: dict[str, Method] = {m.name: m for m in (
    Method("glia", "Glia", True, "workflow"),
    Method("offline", "Glia, heuristic researcher (offline)", False, "workflow"),
    Method("best_shot", "best shot", True, "best_shot"),
    Method("openevolve", "OpenEvolve", True, "library", 0.7, "glia.graph.experiments.compare.openevolve_run",
           ("openevolve", "pip install 'glia[openevolve]'")),
    Method("eoh", "EoH", True, "library", library="glia.graph.experiments.compare.llm4ad_run", install=LLM4AD),
    Method("funsearch", "FunSearch", True, "library", library="glia.graph.experiments.compare.llm4ad_run",
           install=LLM4AD),
)}
