"""Sim-to-real: several policies under the same replayed workload, in the simulator calibrated to the real backends
and on the real backends behind the router; the figures side by side and how far the rankings agree.

1. Each backend is timed alone (``loadgen.measure_service``; all at once, as they will run) and one ``ServiceModel``
   is fitted to all of them; the simulator gets a ``MeasuredClusterConfig`` with that model, the backends' KV
   capacity in blocks, their batch-size cap (1 for llama-cpp-python) and prefill chunk (``n_batch``).
2. For each policy (``repeats`` times, the order rotated): a router on an ephemeral loopback port in front of the
   backends, the load generator replaying the plan against it (prompts drawn afresh each time, same lengths), both
   recorded in the telemetry database; then the simulator on exactly the same requests.
3. Agreement on each of mean e2e, p90 e2e and mean TTFT: Kendall's tau-b between the simulated and the real
   per-policy figures, with a 90 % CI from a paired bootstrap over requests (the same resampled requests for every
   policy, simulated and real); for each pair of policies, who wins in each world and how often the real winner
   holds over the resamples; and the real / simulated ratio per policy.
4. For backends that serve one request at a time, the simulator again with a service model fitted to the routers'
   own records of the runs: a machine shared with other work serves slower under load than when timed alone, and
   this second comparison tells that apart from the simulator's model of queueing and routing.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import numpy as np

from glia.graph.serving.backends import Backend, discover
from glia.graph.serving.loadgen import Outcome, Plan, PromptMaker, lengths_held, measure_service, run_load
from glia.graph.serving.records import Recorder
from glia.graph.serving.router import Router
from glia.simulator.config import SimulationConfig
from glia.simulator.harness.runner import run_benchmark
from glia.simulator.measured import MeasuredClusterConfig, MeasuredExecutionModel, ServiceModel
from glia.simulator.workloads import WorkloadSpec

METRICS = (("mean_e2e_s", "mean e2e (s)"), ("p90_e2e_s", "p90 e2e (s)"), ("mean_ttft_s", "mean TTFT (s)"))
BOOTSTRAP = 2000


@dataclass
class PolicyRun:
    """One policy's figures in both worlds, and its per-request times (indexed like the plan)."""

    policy: str
    real_e2e: np.ndarray
    real_ttft: np.ndarray
    sim_e2e: np.ndarray
    sim_ttft: np.ndarray
    real: dict = field(default_factory=dict)
    sim: dict = field(default_factory=dict)
    fit_e2e: np.ndarray | None = None    # the simulator with the service model fitted to the real run itself
    fit_ttft: np.ndarray | None = None
    fit: dict = field(default_factory=dict)
    failed: int = 0
    lengths_held: tuple[int, int] = (0, 0)
    retries: int = 0
    run_ids: list = field(default_factory=list)


def kendall_tau(x: np.ndarray, y: np.ndarray) -> float:
    """Kendall's tau-b (ties counted as neither concordant nor discordant)."""
    concordant = discordant = ties_x = ties_y = 0
    for i, j in itertools.combinations(range(len(x)), 2):
        dx, dy = np.sign(x[i] - x[j]), np.sign(y[i] - y[j])
        if dx == 0 and dy == 0:
            continue
        if dx == 0:
            ties_x += 1
        elif dy == 0:
            ties_y += 1
        elif dx == dy:
            concordant += 1
        else:
            discordant += 1
    denom = math.sqrt((concordant + discordant + ties_x) * (concordant + discordant + ties_y))
    return (concordant - discordant) / denom if denom else math.nan


def _figure(metric: str, e2e: np.ndarray, ttft: np.ndarray) -> float:
    with np.errstate(all="ignore"):
        if metric == "mean_e2e_s":
            return float(np.nanmean(e2e))
        if metric == "p90_e2e_s":
            return float(np.nanpercentile(e2e, 90))
        return float(np.nanmean(ttft))


def agreement(runs: list[PolicyRun], resamples: int = BOOTSTRAP, seed: int = 0, source: str = "sim") -> dict:
    """Per metric: tau-b of sim against real with a 90 % paired-bootstrap CI, pairwise wins, real/sim ratios.
    ``source`` is ``sim`` (calibrated alone, before the runs) or ``fit`` (fitted to the runs)."""
    n = len(runs[0].real_e2e)
    rng = np.random.default_rng(seed)
    draws = [rng.integers(0, n, n) for _ in range(resamples)]
    out = {}
    for metric, _ in METRICS:
        real = np.array([_figure(metric, r.real_e2e, r.real_ttft) for r in runs])
        sim = np.array([_figure(metric, getattr(r, f"{source}_e2e"), getattr(r, f"{source}_ttft")) for r in runs])
        boot_real = np.array([[_figure(metric, r.real_e2e[d], r.real_ttft[d]) for r in runs] for d in draws])
        boot_sim = np.array([[_figure(metric, getattr(r, f"{source}_e2e")[d], getattr(r, f"{source}_ttft")[d])
                              for r in runs] for d in draws])
        taus = np.array([kendall_tau(s, r) for s, r in zip(boot_sim, boot_real, strict=True)])
        taus = taus[~np.isnan(taus)]
        pairs = []
        for i, j in itertools.combinations(range(len(runs)), 2):
            sim_winner = runs[i].policy if sim[i] < sim[j] else runs[j].policy
            real_winner = runs[i].policy if real[i] < real[j] else runs[j].policy
            held = float(np.mean((boot_real[:, i] < boot_real[:, j]) == (real[i] < real[j])))
            pairs.append({"a": runs[i].policy, "b": runs[j].policy, "sim_winner": sim_winner,
                          "real_winner": real_winner, "agree": sim_winner == real_winner,
                          "real_winner_share": held})
        out[metric] = {"real": real.tolist(), "sim": sim.tolist(), "tau": kendall_tau(sim, real),
                       "tau_ci90": [float(np.percentile(taus, 5)), float(np.percentile(taus, 95))] if len(taus)
                       else [math.nan, math.nan],
                       "pairs": pairs, "pairs_agree": sum(p["agree"] for p in pairs),
                       "ratios": (real / sim).tolist()}
    return out


def report_markdown(runs: list[PolicyRun], agree: dict, setup: dict, fitted: dict | None = None) -> str:
    """The sim-to-real tables and the agreement, as Markdown; ``fitted`` is the agreement with the simulator run on
    the service model fitted to the real runs themselves, when there is one."""
    backends = ", ".join(b["url"] + " (" + b["kind"] + ")" for b in setup["backends"])
    c = setup["cluster"]
    lines = [f"# Sim-to-real: {', '.join(r.policy for r in runs)} on {setup['workload']}", "",
             f"{setup['requests']} requests replayed ({setup['repeats']} time(s) per policy) against "
             f"{len(setup['backends'])} backend(s): {backends}.", "",
             f"Simulator: {c['num_blocks']} KV blocks of {c['block_size']} tokens, batch-size cap "
             f"{c['batch_size_cap']}, prefill chunk {c['chunk_size']}; iteration = overhead + per token x new tokens "
             f"+ per context token x KV tokens, timed on each backend alone before the runs: {setup['service']}.", ""]
    lines += _tables(runs, agree, "sim", "sim")
    if fitted is not None:
        lines += ["", "## The simulator on the service model fitted to the runs themselves", "",
                  "Fitted to the routers' records of every run (backend took the request up -> first token: the "
                  "prefill; first -> last token: the decode steps): "
                  f"{setup['fitted_service']}. Set beside the table above, this separates a machine that served "
                  "slower or faster under load than when timed alone from the simulator's model of queueing and "
                  "routing.", ""]
        lines += _tables(runs, fitted, "fit", "sim (fit)")
    if len(runs) <= 3:
        lines += ["", f"With {len(runs)} policies tau can only be one of "
                  f"{', '.join(_f(t) for t in _possible_taus(len(runs)))}: read it with the pairwise table."]
    return "\n".join(lines) + "\n"


def _tables(runs: list[PolicyRun], agree: dict, source: str, name: str) -> list[str]:
    lines = ["| policy | " + " | ".join(f"real {label} | {name} {label} | real/sim" for _, label in METRICS)
             + f" | real mean slowdown | {name} mean slowdown | failed | retries | lengths held |",
             "| --- |" + " ---: |" * (3 * len(METRICS) + 5)]
    for k, r in enumerate(runs):
        cells = []
        for metric, _ in METRICS:
            a = agree[metric]
            cells += [_f(a["real"][k]), _f(a["sim"][k]), _f(a["ratios"][k])]
        held, total = r.lengths_held
        lines.append(f"| {r.policy} | " + " | ".join(cells) + f" | {_f(r.real.get('mean_slowdown'))} | "
                     f"{_f(getattr(r, source).get('mean_slowdown'))} | {r.failed} | {r.retries} | {held}/{total} |")
    lines += ["", f"Rank agreement, {name} against real (lower is better for every metric; 90 % CI over "
              f"{BOOTSTRAP} paired bootstrap resamples of the requests):", "",
              "| metric | Kendall tau-b | 90 % CI | pairs agreeing |", "| --- | ---: | ---: | ---: |"]
    for metric, label in METRICS:
        a = agree[metric]
        lines.append(f"| {label} | {_f(a['tau'])} | [{_f(a['tau_ci90'][0])}, {_f(a['tau_ci90'][1])}] | "
                     f"{a['pairs_agree']}/{len(a['pairs'])} |")
    lines += ["", f"Pairwise (mean e2e): the winner in {name}, the real winner, and the share of resamples in which "
              "the real winner holds:", "", f"| pair | {name} | real | agree | real winner holds |",
              "| --- | --- | --- | --- | ---: |"]
    for p in agree["mean_e2e_s"]["pairs"]:
        lines.append(f"| {p['a']} vs {p['b']} | {p['sim_winner']} | {p['real_winner']} | "
                     f"{'yes' if p['agree'] else 'no'} | {100 * p['real_winner_share']:.0f} % |")
    return lines


def _possible_taus(k: int) -> list[float]:
    pairs = k * (k - 1) // 2
    return [(pairs - 2 * d) / pairs for d in range(pairs + 1)][::-1]


def _f(v) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3f}"


async def calibrate(session: aiohttp.ClientSession, backends: list[Backend], maker: PromptMaker,
                    chunk_size: int) -> tuple[ServiceModel, list[dict]]:
    """Time each backend alone, all at the same time (in the real runs they compute side by side and share the
    machine), and fit one model to all their measurements."""
    measured = await asyncio.gather(*(measure_service(session, b.url, maker, b.config.num_blocks * b.config.block_size,
                                                      chunk_size) for b in backends))
    details = [d for _, d in measured]
    prefill = [p for d in details for p in d["prefill"]]
    decode = [p for d in details for p in d["decode"]]
    return ServiceModel.fit(prefill, decode, chunk_size), details


async def run_real(policy: str, urls: list[str], plan: Plan, maker: PromptMaker, service: ServiceModel,
                   chunk_size: int, telemetry: Path | None, seed: int, progress: bool = True,
                   kv_tokens: int | None = None) -> tuple[list[Outcome], Recorder, dict]:
    """One policy on the real backends: a router on an ephemeral port, the plan replayed through it."""
    async with aiohttp.ClientSession() as session:
        backends = [await discover(session, i, u, kv_tokens) for i, u in enumerate(urls)]
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S-")
    config = {"backends": [b.describe() for b in backends], "service": service.to_dict(), "plan": plan.name}
    recorder = Recorder(telemetry, f"{stamp}serve-{policy}-{seed}", policy, plan.name, config, "serving", service,
                        chunk_size, len(backends))
    router = Router(policy, backends, recorder)
    await router.start("127.0.0.1", 0)
    try:
        outcomes = await run_load(router.url, plan, maker, seed=seed, progress=progress)
    finally:
        status = router.status()
        await router.stop()
    return outcomes, recorder, status


def run_sim(policy: str, cluster: MeasuredClusterConfig, plan: Plan, telemetry: Path | None):
    config = SimulationConfig(cluster, WorkloadSpec("requests", {"requests": plan.as_requests()}))
    return run_benchmark(policy, config, seeds=1, telemetry=telemetry, context="sim-to-real", jobs=1)


async def sim_to_real(urls: list[str], policies: list[str], plan: Plan, telemetry: Path | None,
                      chunk_size: int = 512, repeats: int = 1, service: ServiceModel | None = None,
                      kv_tokens: int | None = None, progress: bool = True) -> tuple[list[PolicyRun], dict, dict]:
    """Everything above; returns the per-policy runs, the agreement and the set-up."""
    if plan.arrivals is None:
        raise ValueError("sim-to-real replays an open-loop trace (a closed loop's arrivals depend on the system)")
    async with aiohttp.ClientSession() as session:
        backends = [await discover(session, i, u, kv_tokens) for i, u in enumerate(urls)]
        maker = await PromptMaker.for_target(session, urls[0])
        details: list[dict] = []
        if service is None:
            service, details = await calibrate(session, backends, maker, chunk_size)
    b0 = backends[0]
    cluster = MeasuredClusterConfig.from_service(
        service, num_replicas=len(backends), num_blocks=min(b.config.num_blocks for b in backends),
        block_size=b0.config.block_size, chunk_size=chunk_size, batch_size_cap=b0.config.batch_size_cap,
        watermark_fraction=0.0)
    n = len(plan)
    real = {p: [] for p in policies}
    for rep in range(repeats):
        order = policies[rep % len(policies):] + policies[:rep % len(policies)]
        for p in order:
            outcomes, recorder, status = await run_real(p, urls, plan, maker, service, chunk_size, telemetry,
                                                        seed=1000 * rep + policies.index(p), progress=progress,
                                                        kv_tokens=kv_tokens)
            real[p].append((outcomes, recorder, status))
    runs = []
    for p in policies:
        e2e = np.full((repeats, n), np.nan)
        ttft = np.full((repeats, n), np.nan)
        failed = retries = 0
        held = [0, 0]
        for k, (outcomes, recorder, _) in enumerate(real[p]):
            for o in outcomes:
                if o.status == "ok":
                    e2e[k, o.index] = o.completed_at - o.arrived_at
                    ttft[k, o.index] = o.first_token_at - o.arrived_at
            failed += sum(o.status != "ok" for o in outcomes) + n - len(outcomes)
            retries += sum(1 for e in recorder.events if e[1] == "retry")
            h, t = lengths_held(outcomes)
            held = [held[0] + h, held[1] + t]
        sim = run_sim(p, cluster, plan, telemetry)
        if sim.error:
            raise RuntimeError(f"the simulation of {p} failed: {sim.error['message']}")
        req = sim.outcomes[0].requests
        with np.errstate(all="ignore"):
            real_e2e, real_ttft = np.nanmean(e2e, axis=0), np.nanmean(ttft, axis=0)
        runs.append(PolicyRun(p, real_e2e, real_ttft, np.asarray(req["e2e_s"]), np.asarray(req["ttft_s"]),
                              real=_client_summary(real_e2e, real_ttft, plan, service, chunk_size),
                              sim=sim.outcomes[0].summary or {}, failed=failed, lengths_held=tuple(held),
                              retries=retries, run_ids=[r.run_id for _, r, _ in real[p]] + [sim.run_id]))
    setup = {"workload": plan.name, "requests": n, "repeats": repeats, "backends": [b.describe() for b in backends],
             "service": _rounded(service), "calibration": details,
             "cluster": {"num_blocks": cluster.num_blocks, "block_size": cluster.block_size,
                         "batch_size_cap": cluster.batch_size_cap, "chunk_size": cluster.chunk_size}}
    agree = {"alone": agreement(runs), "fit": None}
    fitted = fit_in_run([rec for p in policies for _, rec, _ in real[p]], chunk_size) \
        if cluster.batch_size_cap == 1 else None
    if fitted is not None:
        cluster_fit = MeasuredClusterConfig.from_service(
            fitted, num_replicas=cluster.num_replicas, num_blocks=cluster.num_blocks, block_size=cluster.block_size,
            chunk_size=chunk_size, batch_size_cap=1, watermark_fraction=0.0)
        for r in runs:
            sim = run_sim(r.policy, cluster_fit, plan, telemetry)
            if sim.error:
                raise RuntimeError(f"the simulation of {r.policy} failed: {sim.error['message']}")
            req = sim.outcomes[0].requests
            r.fit_e2e, r.fit_ttft = np.asarray(req["e2e_s"]), np.asarray(req["ttft_s"])
            r.fit = sim.outcomes[0].summary or {}
            r.run_ids.append(sim.run_id)
        setup["fitted_service"] = _rounded(fitted)
        agree["fit"] = agreement(runs, source="fit")
    return runs, agree, setup


def fit_in_run(recorders: list[Recorder], chunk_size: int) -> ServiceModel | None:
    """A service model fitted to what the routers recorded, for backends that serve one request at a time (there
    the time a backend took a request up is when its service began): prefill = first token - taken up, decode step =
    (last - first token) / (tokens - 1), requests that were retried left out."""
    prefill, decode = [], []
    for rec in recorders:
        for r in rec.finished:
            times = (r["scheduled_at"], r["first_token_at"], r["completed_at"])
            if r["num_restarts"] or not all(math.isfinite(t) for t in times):
                continue
            prefill.append((r["num_prefill_tokens"], r["first_token_at"] - r["scheduled_at"]))
            d = r["num_decode_tokens"]
            if d >= 2:
                decode.append((r["num_prefill_tokens"] + d / 2, (r["completed_at"] - r["first_token_at"]) / (d - 1)))
    return ServiceModel.fit(prefill, decode, chunk_size) if prefill and decode else None


def _rounded(service: ServiceModel) -> dict:
    return {k: float(f"{v:.4g}") for k, v in service.to_dict().items()}


def _client_summary(e2e: np.ndarray, ttft: np.ndarray, plan: Plan, service: ServiceModel, chunk: int) -> dict:
    """Slowdown as the simulator computes it: e2e over the request's time alone under the fitted model."""
    model = MeasuredExecutionModel(service)
    alone = np.array([model.isolated_time(int(p), int(d), chunk)
                      for p, d in zip(plan.prefill, plan.decode, strict=True)])
    with np.errstate(all="ignore"):
        return {"mean_slowdown": float(np.nanmean(e2e / alone)), "mean_e2e_s": float(np.nanmean(e2e)),
                "mean_ttft_s": float(np.nanmean(ttft))}


def write_outputs(out_dir: Path, runs: list[PolicyRun], agree: dict, setup: dict) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "sim_to_real.md").write_text(report_markdown(runs, agree["alone"], setup, agree["fit"]))
    (out_dir / "calibration.json").write_text(json.dumps({"fit": setup["service"], "backends": setup["calibration"]},
                                                         indent=2))
    (out_dir / "sim_to_real.json").write_text(json.dumps(
        {"setup": setup, "agreement": agree,
         "policies": [{"policy": r.policy, "real": r.real, "sim": r.sim, "sim_fit": r.fit, "failed": r.failed,
                       "retries": r.retries, "lengths_held": list(r.lengths_held), "run_ids": r.run_ids}
                      for r in runs]}, indent=2,
        default=float))
    return out_dir / "sim_to_real.md"

