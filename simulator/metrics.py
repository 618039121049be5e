"""Per-request and per-run metrics, their aggregation over seeds with 90 % bootstrap confidence intervals, and the
names and formatting every report, table and JSON output uses (defined here once)."""

from __future__ import annotations

import math

import numpy as np

from glia.simulator.engine import RunResult
from glia.simulator.execution import ExecutionModel
from glia.simulator.rows import columns

# every per-run figure ``run_summary`` produces (the telemetry's ``run_seeds`` columns, in order)
RUN_METRICS = ("num_requests", "mean_e2e_s", "p50_e2e_s", "p90_e2e_s", "p95_e2e_s", "p99_e2e_s", "mean_ttft_s",
               "p50_ttft_s", "p90_ttft_s", "p95_ttft_s", "p99_ttft_s", "mean_tpot_s", "p90_tpot_s", "mean_queueing_s",
               "p90_queueing_s", "mean_slowdown", "p90_slowdown", "p95_slowdown", "restart_fraction",
               "mean_restarts", "e2e_restarted_s", "e2e_not_restarted_s", "wasted_tokens", "preemptions",
               "makespan_s", "throughput_rps", "throughput_tokens_per_s", "gpu_utilisation", "kv_utilisation",
               "gpu_hours")
# the figures of an experiment: what the agents see, what the ledger keeps, what ``glia simulate`` prints
SUMMARY_METRICS = ("mean_e2e_s", "p50_e2e_s", "p90_e2e_s", "p95_e2e_s", "p99_e2e_s", "mean_ttft_s", "p90_ttft_s",
                   "p95_ttft_s", "mean_tpot_s", "mean_queueing_s", "mean_slowdown", "p95_slowdown", "restart_fraction",
                   "throughput_rps", "gpu_utilisation", "kv_utilisation", "gpu_hours")
# what ``glia simulate --json`` prints beside the mean's CI
JSON_METRICS = ("mean_e2e_s", "p90_e2e_s", "p95_e2e_s", "p99_e2e_s", "mean_ttft_s", "p90_ttft_s", "p95_ttft_s",
                "mean_tpot_s", "p95_slowdown", "restart_fraction", "throughput_rps", "gpu_utilisation",
                "kv_utilisation", "gpu_hours")
# the metric columns of the telemetry's ``runs`` table, beside the mean and its CI
RUNS_TABLE_METRICS = ("p90_e2e_s", "mean_ttft_s", "p90_ttft_s", "restart_fraction", "throughput_rps", "gpu_hours")
# what a run's report compares between the first and the best design
KEY_METRICS = ("mean_e2e_s", "p90_e2e_s", "p99_e2e_s", "mean_ttft_s", "mean_queueing_s", "restart_fraction",
               "kv_utilisation")

# what an experiment's figure over several seeds is, said wherever one is shown beside figures pooled over requests
OVER_SEEDS = "each the mean of the seeds' own figures: p99_e2e_s is the mean of the per-seed p99s"

BOOTSTRAP_RESAMPLES = 2000
CI_LEVEL = 0.90

# per-run metrics whose CI over a single seed is bootstrapped over that seed's requests
_MEAN_OF = {"mean_e2e_s": "e2e_s", "mean_ttft_s": "ttft_s", "mean_tpot_s": "tpot_s",
            "mean_queueing_s": "queueing_s", "mean_slowdown": "slowdown"}


_ALONE: dict[tuple, dict[tuple[int, int], float]] = {}  # execution model -> (prompt, decode) -> time alone


def request_metrics(run: RunResult, model: ExecutionModel, chunk_size: int) -> dict[str, np.ndarray]:
    """Per-request columns: the run's raw times plus end-to-end, TTFT, TPOT, queueing delay and slowdown."""
    r = dict(run.requests)
    arrived = r["arrived_at"]
    r["e2e_s"] = r["completed_at"] - arrived
    r["ttft_s"] = r["first_token_at"] - arrived
    decode = r["num_decode_tokens"]
    with np.errstate(invalid="ignore", divide="ignore"):
        r["tpot_s"] = np.where(decode > 1, (r["completed_at"] - r["first_token_at"]) / (decode - 1), np.nan)
    r["queueing_s"] = r["scheduled_at"] - arrived
    # every candidate of a task meets the same requests (its seeds' workload): the roofline's times alone are kept
    # per process (other models, e.g. measured ones, only per call)
    # CACHE: a request's time alone per process, by (device, model, TP, efficiency, chunk size, prompt, output)
    cache = (_ALONE.setdefault((model.device.name, model.model.name, model.tp, repr(model.eff), chunk_size), {})
             if type(model) is ExecutionModel else {})
    prompt = r["num_prefill_tokens"]
    if len(prompt) and min(prompt.min(), decode.min()) >= 0 and max(prompt.max(), decode.max()) < 2**31:
        # each distinct (prompt, decode) pair once (ShareGPT's 8,000 requests of a seed hold 3,000), as one integer
        codes, which = np.unique(prompt.astype(np.int64) << 32 | decode.astype(np.int64), return_inverse=True)
        keys, expand = zip((codes >> 32).tolist(), (codes & 0xFFFFFFFF).tolist(), strict=True), which.reshape(-1)
    else:
        keys, expand = zip(prompt.tolist(), decode.tolist(), strict=True), None
    alone = np.empty(len(codes) if expand is not None else len(arrived))
    for i, key in enumerate(keys):
        t = cache.get(key)
        if t is None:
            t = cache[key] = model.isolated_time(key[0], key[1], chunk_size)
        alone[i] = t
    if expand is not None:
        alone = alone[expand]
    r["isolated_s"] = alone
    r["slowdown"] = r["e2e_s"] / alone
    return r


def run_summary(run: RunResult, req: dict[str, np.ndarray]) -> dict[str, float]:
    """One seed's figures."""
    e2e, ttft, tpot = req["e2e_s"], req["ttft_s"], req["tpot_s"]
    n = len(e2e)
    out: dict[str, float] = {"num_requests": float(n)}
    if n == 0:
        return out
    for name, col in (("e2e", e2e), ("ttft", ttft), ("tpot", tpot), ("queueing", req["queueing_s"])):
        col = col[~np.isnan(col)]
        if len(col) == 0:
            continue
        out[f"mean_{name}_s"] = float(col.mean())
        for q, v in zip((50, 90, 95, 99), np.percentile(col, (50, 90, 95, 99)).tolist(), strict=True):
            out[f"p{q}_{name}_s"] = v  # one partition for the four (each the same as alone)
    out["mean_slowdown"] = float(req["slowdown"].mean())
    out["p90_slowdown"], out["p95_slowdown"] = np.percentile(req["slowdown"], (90, 95)).tolist()
    restarts = req["num_restarts"]
    out["restart_fraction"] = float((restarts > 0).mean())
    out["mean_restarts"] = float(restarts.mean())
    out["e2e_restarted_s"] = float(e2e[restarts > 0].mean()) if (restarts > 0).any() else float("nan")
    out["e2e_not_restarted_s"] = float(e2e[restarts == 0].mean()) if (restarts == 0).any() else float("nan")
    out["wasted_tokens"] = float(req["wasted_tokens"].sum())
    out["preemptions"] = float(run.num_preemptions)
    out["makespan_s"] = run.makespan_s
    out["throughput_rps"] = n / run.makespan_s if run.makespan_s > 0 else float("nan")
    out["throughput_tokens_per_s"] = (float(req["num_decode_tokens"].sum()) / run.makespan_s
                                      if run.makespan_s > 0 else float("nan"))
    out["gpu_utilisation"] = run.busy_s / run.replica_seconds if run.replica_seconds > 0 else float("nan")
    if len(run.samples):
        allocated, blocks = (c.astype(float) for c in columns(run.samples, 7)[4:6])
        out["kv_utilisation"] = float((allocated / blocks).mean())
    out["gpu_hours"] = run.gpu_hours
    return out


def bootstrap_ci(values: np.ndarray, rng: np.random.Generator, level: float = CI_LEVEL) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean."""
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    if len(values) == 0:
        return (float("nan"), float("nan"))
    if len(values) == 1:
        return (float(values[0]), float(values[0]))
    step = max(1, 2_000_000 // len(values))  # resample in slices to bound memory
    means = np.concatenate([values[rng.integers(0, len(values), (min(step, BOOTSTRAP_RESAMPLES - i), len(values)))]
                            .mean(axis=1) for i in range(0, BOOTSTRAP_RESAMPLES, step)])
    tail = (1.0 - level) / 2.0 * 100.0
    return (float(np.percentile(means, tail)), float(np.percentile(means, 100.0 - tail)))


def aggregate(summaries: list[dict[str, float]], requests: list[dict[str, np.ndarray]]) -> dict[str, dict]:
    """Mean over seeds of every metric, with a 90 % bootstrap CI: over the seeds' values when there are several,
    over the requests of the single seed otherwise (for the mean-type metrics)."""
    rng = np.random.default_rng(0)
    keys = sorted({k for s in summaries for k in s})
    out: dict[str, dict] = {}
    for k in keys:
        vals = np.array([s.get(k, np.nan) for s in summaries], dtype=float)
        mean = float(np.nanmean(vals)) if not np.isnan(vals).all() else float("nan")
        if len(summaries) > 1:
            ci = bootstrap_ci(vals, rng)
        elif k in _MEAN_OF and requests:
            ci = bootstrap_ci(requests[0][_MEAN_OF[k]], rng)
        else:
            ci = (mean, mean)
        out[k] = {"mean": mean, "ci90": ci, "per_seed": vals.tolist()}
    return out


def clean(v, digits: int | None = 4) -> float | None:
    """A figure for JSON or a database: None when missing or not finite, else a float (rounded to ``digits``)."""
    if v is None or not math.isfinite(v):
        return None
    return float(v) if digits is None else round(float(v), digits)


def jsonable(obj):
    """``obj`` with every non-finite float replaced by None, so that it serialises as valid JSON."""
    if isinstance(obj, float):
        return clean(obj, None)
    if isinstance(obj, dict):
        return {k: jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    return obj


def fmt(v, digits: int = 2) -> str:
    """A figure for a table: ``-`` when missing or not finite."""
    return "-" if v is None or not math.isfinite(v) else f"{v:.{digits}f}"
