"""Where an evaluation's seeds run: the local process pool (the default), or a Ray cluster (optional).

Both run each seed through the simulator's sandbox (``run_seeds``): a confined process per seed with the memory cap
and the wall-clock timeout, so a Ray worker is only a place to start that process. Both are fail-fast: once a seed
fails, the candidate's other seeds are stopped or never started and come back as ``skipped``.

Ray (``pip install 'glia[ray]'``, imported only when chosen): one task per seed with its own CPU request and no
automatic retries (a crashed candidate is charged once); a task past its deadline (the sandbox's timeout plus a
grace) is cancelled with ``force=True`` and its result, should one still arrive, is ignored (Ray kills a cancelled
task's child processes and the task may then return normally).
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from glia.simulator.config import SimulationConfig
from glia.simulator.policies import POLICIES

if TYPE_CHECKING:  # the sandbox (numpy, the engine) is imported where seeds run: the names here cost nothing
    from glia.simulator.sandbox import SeedOutcome

EXECUTORS = ("local", "ray")
RAY_GRACE_S = 15.0  # beyond the sandbox's own timeout, before a Ray task is cancelled by force


class Executor(Protocol):
    name: str

    def run(self, config: SimulationConfig, policy: str, seeds: list[int], timeout_s: float,
            memory_mb: int | None) -> list[SeedOutcome]:
        """Every seed's outcome, in the order of ``seeds``; never raises for a seed."""

    def close(self) -> None: ...


class LocalExecutor:
    """The default: the sandbox's own pool of confined processes on this machine, ``jobs`` at a time."""

    name = "local"

    def __init__(self, jobs: int | None = None):
        self.jobs = jobs

    def run(self, config: SimulationConfig, policy: str, seeds: list[int], timeout_s: float,
            memory_mb: int | None) -> list[SeedOutcome]:
        from glia.simulator.sandbox import run_seeds
        return run_seeds(config, policy, list(seeds), jobs=self.jobs, timeout_s=timeout_s, memory_mb=memory_mb,
                         fail_fast=True)

    def close(self) -> None:
        pass


def ray_seed(config: SimulationConfig, policy: str, source: str | None, seed: int, timeout_s: float,
             memory_mb: int | None) -> SeedOutcome:
    """One seed inside a Ray worker: the policy's source is written where this worker can read it, and the seed runs
    in the sandbox's confined process like a local one (same limits, same records)."""
    from glia.simulator.sandbox import run_seeds
    if source is None:
        return run_seeds(config, policy, [seed], jobs=1, timeout_s=timeout_s, memory_mb=memory_mb)[0]
    with tempfile.TemporaryDirectory(prefix="glia-ray-") as tmp:
        path = Path(tmp) / Path(policy).name
        path.write_text(source)
        out = run_seeds(config, str(path), [seed], jobs=1, timeout_s=timeout_s, memory_mb=memory_mb)[0]
    if out.error:  # name the file as the user knows it, not the worker's copy
        out.error = {**out.error, "message": out.error["message"].replace(str(path), policy)}
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

    def slots(self) -> int:
        cpus = self.ray.cluster_resources().get("CPU", 1.0)
        return max(1, int(cpus // self.cpus_per_task))

    def run(self, config: SimulationConfig, policy: str, seeds: list[int], timeout_s: float,
            memory_mb: int | None) -> list[SeedOutcome]:
        from glia.simulator.sandbox import SeedOutcome, error, skipped
        ray = self.ray
        source = None if policy in POLICIES else Path(policy).read_text(errors="replace")
        todo = list(seeds)
        running: dict = {}  # ref -> (seed, deadline)
        results: dict[int, SeedOutcome] = {}
        failed: SeedOutcome | None = None
        slots = self.slots()
        while (todo or running) and failed is None:
            while todo and len(running) < slots:
                seed = todo.pop(0)
                ref = self.task.remote(config, policy, source, seed, timeout_s, memory_mb)
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

    def close(self) -> None:
        pass  # the Ray connection lives as long as the process (a driver connects once)


def make_executor(name: str = "local", address: str | None = None, jobs: int | None = None) -> Executor:
    if name == "local":
        return LocalExecutor(jobs)
    if name == "ray":
        return RayExecutor(address)
    raise ValueError(f"unknown executor {name!r}; one of {', '.join(EXECUTORS)}")
