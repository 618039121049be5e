"""Benchmark runs: a policy on a benchmark over seeds, in parallel and isolated, aggregated, recorded; and the
hardened re-measurement that confirms a result before it is reported best."""

from __future__ import annotations

import json
import math
import os
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from glia.simulator.config import SimulationConfig
from glia.simulator.harness.artifacts import write_seed_artifacts
from glia.simulator.harness.sandbox import CpuBudget, SeedOutcome, run_seeds
from glia.simulator.harness.telemetry import config_json, write_run, write_run_later
from glia.simulator.isolation import confine
from glia.simulator.metrics import JSON_METRICS, RUNS_TABLE_METRICS, SUMMARY_METRICS, aggregate, clean
from glia.simulator.policy.builtin import POLICIES
from glia.simulator.policy.loader import is_builtin, policy_source_hash
from glia.simulator.presets import get_preset

DEFAULT_TIMEOUT_S = 300.0   # wall-clock seconds per seed, before anything was measured
# A candidate's deadline is CPU time, which does not move with the machine's load (wall time does: at load 10 on two
# cores a seed takes five times as long): CPU_FACTOR x the CPU seconds per seed of the slowest baseline, within
# [CPU_FLOOR_S, CPU_CEILING_S], enforced by the kernel in the seed's process; a wall-clock cap WALL_FACTOR x that
# budget (at least WALL_FLOOR_S) stands behind it, for a process that waits instead of computing.
DEFAULT_CPU_S = 300.0       # CPU seconds per seed, before anything was measured
CPU_FACTOR = 10.0
CPU_FLOOR_S = 10.0
CPU_CEILING_S = 300.0
WALL_FACTOR = 10.0
WALL_FLOOR_S = 60.0
TRUSTED_WALL_S = 3600.0     # built-in policies (trusted code) are never stopped by a derived deadline: this caps a bug


def derive_budget(cpu_seconds, wall: bool = False) -> CpuBudget:
    """The CPU budget per seed for candidates of a benchmark, from its baselines' CPU seconds per seed (as the
    kernel counted them): whole seconds (the kernel's limit is in seconds), saying how they were derived. A
    candidate that loops forever then costs seconds of CPU, whatever else runs on the machine. ``wall``: the
    figures are wall-clock seconds (baselines measured before their CPU was counted; at least their CPU time)."""
    measured = [s for s in cpu_seconds if s and s > 0 and math.isfinite(s)]
    if not measured:
        return CpuBudget(DEFAULT_CPU_S, "the default: no baseline was measured")
    slowest = max(measured)
    seconds = float(math.ceil(min(CPU_CEILING_S, max(CPU_FLOOR_S, CPU_FACTOR * slowest))))
    bound = ("at least" if seconds == CPU_FLOOR_S and CPU_FACTOR * slowest < CPU_FLOOR_S else
             "at most" if seconds == CPU_CEILING_S and CPU_FACTOR * slowest > CPU_CEILING_S else "")
    unit = "of wall time (CPU not recorded)" if wall else "of CPU"
    return CpuBudget(seconds, f"{CPU_FACTOR:g} x the slowest baseline's {slowest:.2f} s {unit} per seed"
                     + (f", {bound} {seconds:g} s" if bound else ""))


def wall_cap(budget: CpuBudget | None) -> float:
    """The wall-clock cap behind a CPU budget: generous, so that on a loaded machine the CPU budget is what stops a
    candidate that computes; it stops one that waits."""
    if budget is None:
        return TRUSTED_WALL_S
    return round(max(WALL_FLOOR_S, WALL_FACTOR * budget.seconds), 1)


@dataclass
class BenchmarkResult:
    """The outcome of one benchmark run."""

    run_id: str
    policy: str
    workload: str
    seeds: list[int]
    metrics: dict = field(default_factory=dict)   # metric -> {"mean", "ci90", "per_seed"}
    outcomes: list[SeedOutcome] = field(default_factory=list)
    error: dict | None = None
    wall_s: float = 0.0
    artifacts: str | None = None
    batch_policy: str = "fcfs"
    autoscaler: str | None = None    # the autoscaling policy; None for a fixed cluster
    hardened: bool = False
    isolation: str = ""      # the mechanisms the policy's processes ran under, or a loud UNCONFINED warning

    def metric(self, name: str) -> float:
        m = self.metrics.get(name)
        return m["mean"] if m else float("nan")

    def cis(self) -> dict[str, list]:
        """The 90 % CI of each summary metric: metric -> [low, high]."""
        return {m: [clean(v, None) for v in self.metrics[m]["ci90"]] for m in SUMMARY_METRICS if m in self.metrics}

    def to_json(self) -> dict:
        """The compact summary the CLI prints with ``--json``."""
        ci = self.metrics.get("mean_e2e_s", {}).get("ci90")
        out = {"run_id": self.run_id, "policy": self.policy, "batch_policy": self.batch_policy,
               "autoscaler": self.autoscaler, "workload": self.workload, "seeds": len(self.seeds),
               **{m: clean(self.metric(m)) for m in JSON_METRICS},
               "mean_e2e_ci90": [clean(ci[0]), clean(ci[1])] if ci else None,
               "wall_s": round(self.wall_s, 3), "error": self.error, "isolation": self.isolation}
        if self.artifacts:
            out["artifacts"] = self.artifacts
        printed = {str(o.seed): o.output for o in self.outcomes if o.output}
        if printed:
            out["output"] = printed  # what the policies' processes printed, as inert text
        replayed = [f"seed {o.seed}, {o.replayed}" for o in self.outcomes if o.replayed]
        if replayed:
            out["replayed"] = replayed
        return out


def _short(spec: str) -> str:
    """A policy spec as the telemetry names it: a built-in's name, a file's base name."""
    return os.path.basename(spec) if ".py" in spec else spec


def benchmark_config(workload: str | SimulationConfig) -> tuple[str, SimulationConfig]:
    """A preset's name and configuration, or ("custom", the configuration given)."""
    if isinstance(workload, SimulationConfig):
        return "custom", workload
    return workload, get_preset(workload)


def run_benchmark(policy: str, workload: str | SimulationConfig = "paper-routing", seeds: int | list[int] = 1,
                  jobs: int | None = None, timeout_s: float = 300.0, memory_mb: int | None = 4096,
                  out_dir: str | Path | None = None, telemetry: str | Path | None = None, context: str = "",
                  isolate: bool = True, run_id: str | None = None, batch: str | None = None,
                  autoscaler: str | None = None, hardened: bool = False, allow_unconfined: bool = False,
                  executor=None, fail_fast: bool = False, record_later: bool = False,
                  identity: dict | None = None, cpu: CpuBudget | None = None) -> BenchmarkResult:
    """Run the router ``policy`` (a built-in name or a policy file) on a benchmark over ``seeds`` (a count: 0..N-1,
    or a list), with the benchmark's batch policy and autoscaling unless ``batch`` / ``autoscaler`` name others
    (built-ins or files; ``autoscaler="none"`` for a fixed cluster). Policy files of every layer are confined,
    checked and measured alike.

    With ``out_dir``, each seed's artifact files go to ``out_dir/RUN_ID/seed_K/``; with ``telemetry``, everything is
    added to that DuckDB file. A failing policy of any layer gives ``error`` (kind, message, seed); it never raises.
    ``hardened`` runs each seed's policies in a process of their own driven over a pipe (slower; see ``remeasure``).
    ``cpu``: the CPU seconds a seed's process may use (the kernel stops it there), ``timeout_s`` then the wall-clock
    cap behind it. ``executor`` (an object with ``run(config, policy, seeds, timeout_s, memory_mb, cpu)``, e.g.
    ``glia.tools``' executors) runs the seeds instead of this machine's pool; it stops a candidate at its first
    failing seed, whose other seeds then come back ``skipped``, as ``fail_fast`` does on this machine.
    ``record_later``: the telemetry is written by a background thread while the caller goes on
    (``telemetry.flush`` waits for it; every telemetry read in this process does). ``identity`` (``program``,
    ``benchmark``: digests of what is measured, see ``glia.tools.identity``) is recorded with the run, so that a
    reader never takes it for another measurement.
    """
    start = time.perf_counter()
    seed_list = list(range(seeds)) if isinstance(seeds, int) else list(seeds)
    name, config = benchmark_config(workload)
    config = config.with_stack(batch, autoscaler)
    run_id = run_id or datetime.now(UTC).strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
    if executor is not None:
        outcomes = executor.run(config, policy, seed_list, timeout_s, memory_mb, cpu)
    else:
        outcomes = run_seeds(config, policy, seed_list, jobs=jobs, timeout_s=timeout_s, memory_mb=memory_mb,
                             isolate=isolate, hardened=hardened, allow_unconfined=allow_unconfined,
                             fail_fast=fail_fast, cpu=cpu)
    ok = [o for o in outcomes if o.error is None]
    # the seed that failed first is the error; seeds it stopped are listed with it
    failed = sorted((o for o in outcomes if o.error is not None), key=lambda o: o.error["kind"] == "skipped")
    result = BenchmarkResult(run_id, policy, name, seed_list, outcomes=outcomes,
                             batch_policy=config.cluster.batch_policy,
                             autoscaler=config.autoscaler.policy if config.autoscaler else None, hardened=hardened,
                             isolation=_isolation(config, policy, outcomes))
    if failed:
        first = failed[0]
        result.error = {**first.error, "seed": first.seed, "failed_seeds": [o.seed for o in failed]}
    if ok:
        result.metrics = aggregate([o.summary for o in ok], [o.requests for o in ok])
    result.wall_s = time.perf_counter() - start
    cfg_dict = config.to_dict()
    if out_dir is not None:
        base = Path(out_dir) / run_id
        for o in outcomes:
            write_seed_artifacts(base / f"seed_{o.seed}", cfg_dict, o)
        (base / "summary.json").write_text(json.dumps(result.to_json(), indent=2))
        result.artifacts = str(base)
    if telemetry is not None:
        ci = result.metrics.get("mean_e2e_s", {}).get("ci90", (None, None))
        scaling = config.autoscaler.policy if config.autoscaler else None
        row = {"run_id": run_id, "policy": _short(policy), "batch_policy": _short(config.cluster.batch_policy),
               "autoscaler": _short(scaling) if scaling else None,
               "policy_hash": policy_source_hash(policy, config.cluster.batch_policy, scaling), "workload": name,
               "seeds": len(seed_list),
               "context": context, "created_at": datetime.now(UTC).replace(tzinfo=None),
               "wall_s": result.wall_s, "error_kind": (result.error or {}).get("kind"),
               "error_message": (result.error or {}).get("message"), "config": config_json(cfg_dict),
               "mean_e2e_s": clean(result.metric("mean_e2e_s")), "mean_e2e_ci_low": clean(ci[0]),
               "mean_e2e_ci_high": clean(ci[1]), **{m: clean(result.metric(m)) for m in RUNS_TABLE_METRICS},
               "ci90": json.dumps(result.cis()),
               "program": (identity or {}).get("program"), "benchmark": (identity or {}).get("benchmark")}
        (write_run_later if record_later else write_run)(telemetry, row, outcomes)
    return result


def _isolation(config: SimulationConfig, policy: str, outcomes: list[SeedOutcome]) -> str:
    """What the policies' processes ran under; for a policy file (of any layer) on a machine without enough
    confinement (allowed explicitly), the UNCONFINED warning instead."""
    files = policy not in POLICIES or not is_builtin(config.cluster.batch_policy, "batch") or (
        config.autoscaler is not None and not is_builtin(config.autoscaler.policy, "autoscaler"))
    if files and not confine.available().confined("policy"):
        return confine.describe()
    return "/".join(sorted({o.isolation for o in outcomes if o.isolation})) or "in-process"


def same_figure(a: float | None, b: float | None) -> bool:
    """Equal, to float rounding (aggregates may be summed in another order); missing equals missing."""
    a, b = (math.nan if a is None else a), (math.nan if b is None else b)
    return (math.isnan(a) and math.isnan(b)) or a == b or abs(a - b) <= 1e-9 * max(abs(a), abs(b))


def compare(normal: BenchmarkResult, hardened: BenchmarkResult) -> dict:
    """Whether a hardened re-measurement agrees with the normal measurement: every figure of every seed equal (to
    float rounding) and the same seeds failing the same way. ``differences``: metric -> [normal, hardened]."""
    diffs: dict = {}
    for m in SUMMARY_METRICS:
        a, b = normal.metrics.get(m, {}).get("per_seed", []), hardened.metrics.get(m, {}).get("per_seed", [])
        if len(a) != len(b) or not all(same_figure(x, y) for x, y in zip(a, b, strict=True)):
            diffs[m] = [clean(normal.metric(m)), clean(hardened.metric(m))]
    errors = ([(o.seed, (o.error or {}).get("kind")) for o in normal.outcomes],
              [(o.seed, (o.error or {}).get("kind")) for o in hardened.outcomes])
    if errors[0] != errors[1]:
        diffs["errors"] = [normal.error, hardened.error]
    return {"agree": not diffs, "differences": diffs, "wall_s": round(hardened.wall_s, 3),
            "isolation": hardened.isolation, "error": hardened.error}


def remeasure(normal: BenchmarkResult, workload: str | SimulationConfig, **kwargs) -> tuple[BenchmarkResult, dict]:
    """Run ``normal``'s policy again, hardened, on the same seeds; (the hardened result, ``compare``'s verdict)."""
    hard = run_benchmark(normal.policy, workload, normal.seeds, hardened=True, batch=normal.batch_policy,
                         autoscaler=normal.autoscaler or "none", **kwargs)
    return hard, compare(normal, hard)
