"""What a measurement is of: a program and a benchmark, each as a digest, so that a result stored under one is never
read back as the result of another.

- A **program** is digested by what it does (``program_key``: comments, docstrings and layout do not count); a
  built-in policy by its name, the simulator's version covering its code.
- A **benchmark** is the resolved simulation configuration (the workload's parameters, not its preset's name; the
  cluster; the autoscaling platform), the seeds, the fixed policies of the layers the program does not design (by
  content), and the simulator's version (a digest of the simulator's code and data, so a changed simulator never
  reuses an older one's figures).

Every cache of evaluations (the evaluator's read-back from the telemetry, the budget ledger, compare's units and
baselines, held-out re-measurements, ``glia stack`` and ``glia sweep``) is keyed by both; the README's *Caches*
section lists them, and each is marked ``# CACHE:`` in the code.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import json
from pathlib import Path

import glia.simulator as _simulator
from glia.simulator.config import SimulationConfig
from glia.simulator.harness.runner import benchmark_config
from glia.simulator.policy.layers import LAYERS

DIGEST = 16  # hex characters of a digest


def program_key(source: str) -> str:
    """A digest of what a program does: two that differ only in comments, docstrings, layout or other statements
    that do nothing (a bare string, ``pass``) have one key (a small model's "new" design is often the old one
    re-worded); source that does not parse, its text's digest."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return hashlib.sha256(source.encode()).hexdigest()[:DIGEST]
    for node in ast.walk(tree):
        for name in ("body", "orelse", "finalbody"):
            block = getattr(node, name, None)
            if isinstance(block, list) and block and isinstance(block[0], ast.stmt):
                kept = [s for s in block if not _no_op(s)]
                setattr(node, name, kept or ([ast.Pass()] if name == "body" else []))
    return hashlib.sha256(ast.dump(tree).encode()).hexdigest()[:DIGEST]


def _no_op(statement: ast.stmt) -> bool:
    return isinstance(statement, ast.Pass) or (isinstance(statement, ast.Expr)
                                                and isinstance(statement.value, ast.Constant))


@functools.cache
def simulator_version() -> str:
    """A digest of the simulator as installed: every module by what it does (``program_key``) and every data file
    (traces, GPU profiles) by its bytes. Documentation edits do not change it; any change to code or data does."""
    root = Path(_simulator.__file__).parent
    h = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts or path.suffix in (".md", ".pyc"):
            continue
        rel = path.relative_to(root).as_posix()
        body = program_key(path.read_text(errors="replace")).encode() if path.suffix == ".py" else path.read_bytes()
        h.update(rel.encode() + b"\0" + hashlib.sha256(body).digest())
    return h.hexdigest()[:DIGEST]


def policy_identity(spec: str | None, layer: str = "router") -> str | None:
    """A policy by what it is: a built-in's name (``builtin:NAME``), a file's program digest (``program:KEY``, with
    ``:Class`` when one is named), a missing file as such; None stays None (the preset's own)."""
    if spec is None:
        return None
    if spec in LAYERS[layer].builtins or spec == "none":
        return f"builtin:{spec}"
    head, sep, tail = spec.rpartition(":")
    path, cls = (Path(head), tail) if sep and head.endswith(".py") and tail.isidentifier() else (Path(spec), "")
    if not path.is_file():
        return f"missing:{spec}"
    return f"program:{program_key(path.read_text(errors='replace'))}" + (f":{cls}" if cls else "")


def benchmark_description(workload: str | SimulationConfig, seeds: list[int], fixed: dict | None = None,
                          layer: str | None = "router") -> dict:
    """The benchmark a program of ``layer`` is measured on, as data: the configuration with the fixed policies of
    the other layers put in (each by ``policy_identity``; the designed layer's left out), the seeds, and the
    simulator's version. ``layer`` None: the whole stack is the program (``glia stack``), no policy is fixed."""
    fixed = {k: v for k, v in (fixed or {}).items() if v is not None}
    designed = set(LAYERS) if layer is None else {layer}
    _, config = benchmark_config(workload)
    config = config.with_stack(fixed.get("batch") if "batch" not in designed else None,
                               fixed.get("autoscaler") if "autoscaler" not in designed else None)
    d = config.to_dict()
    d["cluster"] = {**d["cluster"], "batch_policy": None if "batch" in designed else
                    policy_identity(config.cluster.batch_policy, "batch")}
    if d.get("autoscaler"):
        d["autoscaler"] = {**d["autoscaler"], "policy": None if "autoscaler" in designed else
                           policy_identity(config.autoscaler.policy, "autoscaler")}
    router = None if "router" in designed else policy_identity(fixed.get("router"), "router")
    return {"config": d, "router": router, "seeds": [int(s) for s in seeds], "simulator": simulator_version()}


def digest(data) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:DIGEST]


def benchmark_key(workload: str | SimulationConfig, seeds: list[int], fixed: dict | None = None,
                  layer: str | None = "router") -> str:
    """``benchmark_description`` as a digest."""
    return digest(benchmark_description(workload, seeds, fixed, layer))
