"""Where an evaluation's seeds run: the local process pool (the default), or a Ray cluster (optional).

Both run each seed through the simulator's sandbox (``run_seeds``): a confined process per seed with the memory cap,
the CPU budget (enforced by the kernel) and the wall-clock cap behind it, so a Ray worker is only a place to start
that process. Both are fail-fast: once a seed fails, the candidate's other seeds are stopped or never started and
come back as ``skipped``.

Ray (``pip install 'glia[ray]'``, imported only when chosen): one task per seed, carrying the source of every
layer's policy file (router, batch policy, autoscaler: a worker on another node has none of the driver's paths),
with its own CPU request and no automatic retries (a crashed candidate is charged once); a task past its deadline
(the sandbox's timeout plus a grace) is cancelled with ``force=True`` and its result, should one still arrive, is
ignored (Ray kills a cancelled task's child processes and the task may then return normally).

A program task's evaluation (``run_program``) goes the same way: locally, the runner in this process
(``tools/programs/runner.py``: a fresh copy of the working directory, the evaluator and the program confined);
on Ray, one task per evaluation that carries the working directory's files (put in Ray's object store once per
benchmark) and runs the same runner inside the worker, so the program is confined there exactly as here.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from glia.simulator.config import SimulationConfig
from glia.simulator.harness import interrupt

if TYPE_CHECKING:  # the sandbox (numpy, the engine) is imported where seeds run: the names here cost nothing
    from glia.simulator.harness.sandbox import CpuBudget, SeedOutcome
    from glia.tools.programs import EvaluatorSpec, ProgramEvaluation

EXECUTORS = ("local", "ray")
RAY_GRACE_S = 15.0  # beyond the sandbox's own timeout, before a Ray task is cancelled by force
RUNNER_GRACE_S = 15.0  # a program evaluation's runner waits this long past its timeout before it kills (runner.py)


class Executor(Protocol):
    name: str

    def run(self, config: SimulationConfig, policy: str, seeds: list[int], timeout_s: float,
            memory_mb: int | None, cpu: CpuBudget | None = None) -> list[SeedOutcome]:
        """Every seed's outcome, in the order of ``seeds``; never raises for a seed. ``cpu``: each seed process's CPU
        budget (None: none but the backstop behind ``timeout_s``, the wall-clock cap)."""

    def run_program(self, spec: EvaluatorSpec, source: str, variant: str = "search") -> ProgramEvaluation:
        """One evaluation of a program task's candidate (``tools/programs/runner.evaluate_program``); never raises
        for what the program or the evaluator does."""

    def close(self) -> None: ...


class LocalExecutor:
    """The default: the sandbox's own pool of confined processes on this machine, ``jobs`` at a time."""

    name = "local"

    def __init__(self, jobs: int | None = None):
        self.jobs = jobs

    def run(self, config: SimulationConfig, policy: str, seeds: list[int], timeout_s: float,
            memory_mb: int | None, cpu: CpuBudget | None = None) -> list[SeedOutcome]:
        from glia.simulator.harness.sandbox import run_seeds
        return run_seeds(config, policy, list(seeds), jobs=self.jobs, timeout_s=timeout_s, memory_mb=memory_mb,
                         fail_fast=True, cpu=cpu)

    def run_program(self, spec: EvaluatorSpec, source: str, variant: str = "search") -> ProgramEvaluation:
        from glia.tools.programs import evaluate_program
        return evaluate_program(spec, source, variant=variant)

    def close(self) -> None:
        pass


def policy_sources(config: SimulationConfig, policy: str) -> dict[str, tuple[str, str]]:
    """Every policy file a run of ``config`` under the router ``policy`` loads, by layer: (spec, source). What a
    worker on another machine needs, since the driver's paths do not exist there; built-ins need nothing."""
    from glia.simulator.policy.loader import is_builtin
    specs = {"router": policy, "batch": config.cluster.batch_policy,
             "autoscaler": config.autoscaler.policy if config.autoscaler else None}
    out = {}
    for layer, spec in specs.items():
        if spec and spec != "none" and not is_builtin(spec, layer):
            path = Path(spec.rpartition(":")[0] if ".py:" in spec else spec)
            out[layer] = (spec, path.read_text(errors="replace"))
    return out


def ray_seed(config: SimulationConfig, policy: str, sources: dict[str, tuple[str, str]] | None, seed: int,
             timeout_s: float, memory_mb: int | None, cpu: CpuBudget | None = None) -> SeedOutcome:
    """One seed inside a Ray worker: the source of every layer's policy file (``policy_sources``) is written where
    this worker can read it, the configuration pointed at those copies, and the seed runs in the sandbox's confined
    process like a local one (same limits, same records)."""
    from glia.simulator.harness.sandbox import run_seeds
    if not sources:
        return run_seeds(config, policy, [seed], jobs=1, timeout_s=timeout_s, memory_mb=memory_mb, cpu=cpu)[0]
    with tempfile.TemporaryDirectory(prefix="glia-ray-") as tmp:
        copies = {}
        for layer, (spec, text) in sources.items():
            file, sep, cls = spec.rpartition(":") if ".py:" in spec else (spec, "", "")
            path = Path(tmp) / layer / Path(file).name
            path.parent.mkdir()
            path.write_text(text)
            copies[layer] = (spec, str(path) + (f":{cls}" if sep else ""), str(path), file)
        if "batch" in copies:
            config = config.replace(cluster=dataclasses.replace(config.cluster, batch_policy=copies["batch"][1]))
        if "autoscaler" in copies:
            config = config.replace(autoscaler=dataclasses.replace(config.autoscaler, policy=copies["autoscaler"][1]))
        router = copies["router"][1] if "router" in copies else policy
        out = run_seeds(config, router, [seed], jobs=1, timeout_s=timeout_s, memory_mb=memory_mb, cpu=cpu)[0]
    if out.error:  # name the files as the user knows them, not the worker's copies
        message = out.error["message"]
        for _, _, copy, file in copies.values():
            message = message.replace(copy, file)
        out.error = {**out.error, "message": message}
    return out


SHIP_LIMIT_MB = 100.0   # the largest working directory the Ray executor ships (GLIA_RAY_WORKDIR_MB overrides)


class WorkdirTooLarge(ValueError):
    """A program task's working directory is larger than the Ray executor ships to its workers."""


def ship_limit_mb(env=os.environ) -> float:
    raw = env.get("GLIA_RAY_WORKDIR_MB")
    if not raw:
        return SHIP_LIMIT_MB
    try:
        limit = float(raw)
    except ValueError:
        raise ValueError(f"GLIA_RAY_WORKDIR_MB={raw!r} is not a number of megabytes") from None
    if limit <= 0:
        raise ValueError(f"GLIA_RAY_WORKDIR_MB={raw!r} must be a positive number of megabytes")
    return limit


def check_shippable(spec: EvaluatorSpec, limit_mb: float | None = None) -> int:
    """The size in bytes of what an evaluation copies of the working directory, or ``WorkdirTooLarge`` when it is
    over ``limit_mb`` (default ``ship_limit_mb()``): the Ray executor puts it all in the object store and each
    worker writes it out again, so a directory with a data set or a virtualenv in it is refused before anything is
    shipped, naming its largest files."""
    limit = ship_limit_mb() if limit_mb is None else limit_mb
    sizes = [(path.stat().st_size, rel) for rel, path in spec.copied_files()]
    total = sum(n for n, _ in sizes)
    if total > limit * 1e6:
        largest = ", ".join(f"{rel} ({n / 1e6:.1f} MB)" for n, rel in sorted(sizes, reverse=True)[:3])
        raise WorkdirTooLarge(
            f"the evaluator's working directory {spec.workdir} holds {total / 1e6:.1f} MB to copy, over the "
            f"{limit:g} MB the Ray executor ships to its workers (largest: {largest}); move what the evaluator does "
            "not need out of it, run with --executor local, or raise the limit with GLIA_RAY_WORKDIR_MB=N")
    return total


def workdir_files(spec: EvaluatorSpec) -> dict[str, bytes]:
    """The files of a program task's working directory that an evaluation copies, by relative path: what a worker
    on another node needs (``check_shippable`` first)."""
    return {rel: path.read_bytes() for rel, path in spec.copied_files()}


def ray_program(spec: EvaluatorSpec, files: dict[str, bytes], source: str, variant: str) -> ProgramEvaluation:
    """One program evaluation inside a Ray worker: the working directory rebuilt from ``files`` where this worker
    can read it, then the same runner as locally (fresh copy, evaluator and program confined)."""
    from glia.tools.programs import evaluate_program
    with tempfile.TemporaryDirectory(prefix="glia-ray-workdir-") as tmp:
        for rel, data in files.items():
            path = Path(tmp) / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        out = evaluate_program(dataclasses.replace(spec, workdir=Path(tmp)), source, variant=variant)
    if out.failure:  # name the directory as the user knows it, not the worker's copy
        out.failure.message = out.failure.message.replace(tmp, str(spec.workdir))
        out.failure.detail = out.failure.detail.replace(tmp, str(spec.workdir))
    return out


class RayExecutor:
    """Seeds as Ray tasks on a cluster (``address``: ``auto``, ``ray://host:10001``, or None for a local one)."""

    name = "ray"

    def __init__(self, address: str | None = None, cpus_per_task: float = 1.0, num_cpus: int | None = None):
        try:
            import ray
        except ImportError:
            raise ValueError("the ray executor needs Ray: pip install 'glia[ray]'") from None
        self.ray = ray
        if not ray.is_initialized():
            kwargs = {"address": address} if address else {"num_cpus": num_cpus or os.cpu_count()}
            ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False, **kwargs)
        self.cpus_per_task = cpus_per_task
        self.task = ray.remote(max_retries=0, num_cpus=cpus_per_task)(ray_seed)
        self.program_task = ray.remote(max_retries=0, num_cpus=cpus_per_task)(ray_program)
        self._workdirs: dict = {}  # (workdir, benchmark identity) -> the object store's copy of its files

    def slots(self) -> int:
        cpus = self.ray.cluster_resources().get("CPU", 1.0)
        return max(1, int(cpus // self.cpus_per_task))

    def run(self, config: SimulationConfig, policy: str, seeds: list[int], timeout_s: float,
            memory_mb: int | None, cpu: CpuBudget | None = None) -> list[SeedOutcome]:
        from glia.simulator.harness.sandbox import SeedOutcome, error, skipped
        ray = self.ray
        sources = policy_sources(config, policy)
        todo = list(seeds)
        running: dict = {}  # ref -> (seed, deadline)
        results: dict[int, SeedOutcome] = {}
        failed: SeedOutcome | None = None
        slots = self.slots()
        while (todo or running) and failed is None:
            while todo and len(running) < slots:
                seed = todo.pop(0)
                ref = self.task.remote(config, policy, sources, seed, timeout_s, memory_mb, cpu)
                running[ref] = (seed, time.monotonic() + timeout_s + RAY_GRACE_S)
            wait_s = max(0.0, min(d for _, d in running.values()) - time.monotonic())
            done, _ = ray.wait(list(running), num_returns=1, timeout=wait_s)
            for ref in done:
                seed, _ = running.pop(ref)
                try:
                    out = ray.get(ref)
                except Exception as exc:  # the worker died or Ray failed the task: one charge, no retry
                    out = SeedOutcome(seed, error=error("crashed", f"the Ray task of seed {seed} failed: "
                                                                   f"{type(exc).__name__}: {str(exc)[:300]}"))
                results[seed] = out
                if out.error and failed is None:
                    failed = out
            now = time.monotonic()
            for ref, (seed, deadline) in list(running.items()):
                if now >= deadline:
                    ray.cancel(ref, force=True)
                    del running[ref]
                    results[seed] = SeedOutcome(seed, error=error(
                        "timeout", f"seed {seed} did not finish within {timeout_s:g} s of wall time (Ray task "
                                   "cancelled)"), wall_s=timeout_s + RAY_GRACE_S)
                    failed = failed or results[seed]
        for ref, (seed, _) in running.items():  # stopped by a failure: cancelled, their results ignored
            ray.cancel(ref, force=True)
            results[seed] = skipped(seed, failed)
        for seed in todo:
            results[seed] = skipped(seed, failed)
        return [results[s] for s in seeds]

    def run_program(self, spec: EvaluatorSpec, source: str, variant: str = "search") -> ProgramEvaluation:
        """One evaluation as a Ray task; past the runner's own hard limit plus a grace it is cancelled by force
        (the sandbox's failure, reported as a timeout), and a task Ray failed is the sandbox's failure, not
        retried."""
        from glia.tools.programs.record import Artifacts, Failure, ProgramEvaluation
        from glia.tools.programs.runner import program_digest
        ray = self.ray
        started = time.perf_counter()
        key = (str(spec.workdir), spec.identity())
        if key not in self._workdirs:
            check_shippable(spec)  # refused before anything is shipped
            self._workdirs = {key: ray.put(workdir_files(spec))}  # one benchmark at a time: the last one kept
        ref = self.program_task.remote(spec, self._workdirs[key], source, variant)
        limit = spec.timeout_s + RUNNER_GRACE_S + RAY_GRACE_S
        deadline, done = time.monotonic() + limit, []
        try:  # in slices, so that the user's stop (Ctrl-C, the TUI's) cancels the task at once
            while not done and time.monotonic() < deadline:
                interrupt.check()
                done, _ = ray.wait([ref], num_returns=1, timeout=min(1.0, max(0.0, deadline - time.monotonic())))
        except KeyboardInterrupt:  # interrupt.Interrupted too: nothing is recorded, the task is stopped
            ray.cancel(ref, force=True)
            raise

        def failed(kind: str, message: str) -> ProgramEvaluation:
            return ProgramEvaluation(status=kind, metrics={}, artifacts=Artifacts(), format=spec.format,
                                     program_sha256=program_digest(source), variant=variant,
                                     failure=Failure("sandbox", kind, message),
                                     wall_s=time.perf_counter() - started)
        if not done:
            ray.cancel(ref, force=True)  # its result, should one arrive, is never read
            return failed("timeout", f"the evaluation did not finish within {limit:g} s of wall time (Ray task "
                                     "cancelled)")
        try:
            out = ray.get(ref)
        except Exception as exc:  # the worker died or Ray failed the task: one charge, no retry
            return failed("sandbox", f"the Ray task of the evaluation failed: {type(exc).__name__}: "
                                     f"{str(exc)[:300]}")
        out.wall_s = time.perf_counter() - started
        return out

    def close(self) -> None:
        pass  # the Ray connection lives as long as the process (a driver connects once)


def make_executor(name: str = "local", address: str | None = None, jobs: int | None = None) -> Executor:
    if name == "local":
        return LocalExecutor(jobs)
    if name == "ray":
        return RayExecutor(address)
    raise ValueError(f"unknown executor {name!r}; one of {', '.join(EXECUTORS)}")
