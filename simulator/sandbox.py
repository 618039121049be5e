"""Run simulations of untrusted policies in child processes, with a wall-clock timeout and a memory cap.

Whatever a policy does (raise, loop forever, exhaust memory, break the routing rules, crash the interpreter), the
caller gets a ``SeedOutcome`` whose ``error`` names the problem, and the other seeds go on.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import resource
import sys
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing.connection import wait

import numpy as np

from .config import SimulationConfig
from .engine import Simulation
from .loader import PolicyLoadError, load_policy
from .metrics import request_metrics, run_summary
from .request import PolicyViolation


@dataclass
class SeedOutcome:
    """One seed of one benchmark: its figures, its raw telemetry, or what went wrong."""

    seed: int
    summary: dict | None = None
    requests: dict[str, np.ndarray] | None = None
    samples: list = field(default_factory=list)
    events: list = field(default_factory=list)
    scaling: list = field(default_factory=list)
    error: dict | None = None
    wall_s: float = 0.0


def error(kind: str, message: str) -> dict:
    return {"kind": kind, "message": message}


def simulate_seed(config: SimulationConfig, policy: str, seed: int, fast: bool = True) -> SeedOutcome:
    """Load the policy and run one seed in this process; every failure becomes a structured error.

    The process-wide ``random`` and ``numpy.random`` generators are seeded too, so that a policy file that uses them
    directly (instead of ``self.rng``) is still reproducible seed for seed."""
    start = time.perf_counter()
    out = SeedOutcome(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    try:
        cls = load_policy(policy)
        run = Simulation(config, cls, seed, fast=fast).run()
        req = request_metrics(run, config.cluster.execution_model(), config.cluster.chunk_size)
        out.summary = run_summary(run, req)
        out.requests, out.samples, out.events, out.scaling = req, run.samples, run.events, run.scaling
    except PolicyLoadError as exc:
        out.error = error("load_error", str(exc))
    except PolicyViolation as exc:
        out.error = error(exc.kind, str(exc))
    except MemoryError:
        out.error = error("memory", "the simulation ran out of memory (memory cap reached; MemoryError)")
    except RecursionError:
        out.error = error("exception", "the policy recursed without bound (RecursionError)")
    except ValueError as exc:
        out.error = error("config", str(exc))
    except Exception as exc:  # a simulator bug: report it with its origin rather than crash the caller
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        out.error = error("internal", f"{type(exc).__name__} at {frame.filename}:{frame.lineno}: {exc}")
    out.wall_s = time.perf_counter() - start
    return out


def _child(conn, config: SimulationConfig, policy: str, seed: int, memory_mb: int | None, fast: bool) -> None:
    if memory_mb:
        cap = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    try:
        outcome = simulate_seed(config, policy, seed, fast)
    except MemoryError:
        outcome = SeedOutcome(seed, error=error("memory", f"exceeded the {memory_mb} MB memory cap"))
    try:
        conn.send(outcome)
    except MemoryError:
        conn.send(SeedOutcome(seed, error=error("memory", f"exceeded the {memory_mb} MB memory cap")))
    conn.close()


_CONTEXT = None


@contextmanager
def _real_stdio():
    """multiprocessing hands stderr's file descriptor to its helper processes; a UI that replaced sys.stderr (a
    TUI, a notebook) breaks that, so the original streams are put back while processes start."""
    saved = sys.stdout, sys.stderr
    try:
        for name in ("stdout", "stderr"):
            stream = getattr(sys, name)
            try:
                ok = stream.fileno() >= 0
            except (AttributeError, OSError, ValueError):
                ok = False
            if not ok and getattr(sys, f"__{name}__", None) is not None:
                setattr(sys, name, getattr(sys, f"__{name}__"))
        yield
    finally:
        sys.stdout, sys.stderr = saved


def _context():
    """A forkserver context: children fork from a clean, single-threaded server with the simulator imported."""
    global _CONTEXT
    if _CONTEXT is None:
        _CONTEXT = mp.get_context("forkserver")
        _CONTEXT.set_forkserver_preload(["glia.simulator.sandbox"])
    return _CONTEXT


def run_seeds(config: SimulationConfig, policy: str, seeds: list[int], jobs: int | None = None,
              timeout_s: float = 300.0, memory_mb: int | None = 4096, isolate: bool = True,
              fast: bool = True, fail_fast: bool = False) -> list[SeedOutcome]:
    """Run every seed, ``jobs`` at a time, each in its own process (``isolate``) under the limits. ``fail_fast``:
    once a seed fails, the seeds still running are killed and those not started are not run (both ``skipped``)."""
    if not isolate:
        out = []
        for s in seeds:
            failed = next((o for o in out if o.error), None) if fail_fast else None
            out.append(skipped(s, failed) if failed else simulate_seed(config, policy, s, fast))
        return out
    ctx = _context()
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(seeds)))
    todo = list(seeds)
    running: dict = {}  # connection -> (process, seed, started)
    results: dict[int, SeedOutcome] = {}
    while todo or running:
        while todo and len(running) < jobs:
            seed = todo.pop(0)
            parent, child = ctx.Pipe(duplex=False)
            proc = ctx.Process(target=_child, args=(child, config, policy, seed, memory_mb, fast), daemon=True)
            with _real_stdio():
                proc.start()
            child.close()
            running[parent] = (proc, seed, time.monotonic())
        now = time.monotonic()
        deadline = min(started + timeout_s for _, _, started in running.values())
        for conn in wait(list(running), timeout=max(0.0, deadline - now)):
            proc, seed, started = running.pop(conn)
            try:
                results[seed] = conn.recv()
            except (EOFError, OSError):
                proc.join(5)
                results[seed] = SeedOutcome(seed, error=_died(proc.exitcode, memory_mb),
                                            wall_s=time.monotonic() - started)
            conn.close()
            proc.join(5)
        now = time.monotonic()
        for conn, (proc, seed, started) in list(running.items()):
            if now - started >= timeout_s:
                proc.kill()
                proc.join(5)
                conn.close()
                del running[conn]
                results[seed] = SeedOutcome(seed, error=error(
                    "timeout", f"seed {seed} did not finish within {timeout_s:g} s of wall time (killed)"),
                    wall_s=now - started)
        first = next((results[s] for s in seeds if s in results and results[s].error), None)
        if fail_fast and first is not None:
            for conn, (proc, seed, _) in list(running.items()):
                proc.kill()
                proc.join(5)
                conn.close()
                results[seed] = skipped(seed, first)
            running.clear()
            for seed in todo:
                results[seed] = skipped(seed, first)
            todo.clear()
    return [results[s] for s in seeds]


def skipped(seed: int, cause: SeedOutcome) -> SeedOutcome:
    """A seed not run (or stopped) because another seed of the same candidate failed first."""
    return SeedOutcome(seed, error=error("skipped", f"not run: seed {cause.seed} failed first "
                                                    f"({cause.error['kind']})"))


def _died(exitcode: int | None, memory_mb: int | None) -> dict:
    if exitcode is not None and exitcode < 0:
        sig = -exitcode
        hint = f" (likely the {memory_mb} MB memory cap)" if sig in (6, 9) and memory_mb else ""
        return error("crashed", f"the simulation process was killed by signal {sig}{hint}")
    return error("crashed", f"the simulation process exited with code {exitcode} without a result")
