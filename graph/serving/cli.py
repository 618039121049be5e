"""The serving commands: ``glia route``, ``glia loadgen``, ``glia sim-to-real``.

aiohttp and prometheus-client (the ``serve`` extra) are imported only when one of them runs.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import logging
import signal
import sys
import urllib.parse
from datetime import UTC, datetime
from pathlib import Path

from glia.simulator.harness.workspace import DEFAULT_WORKSPACE, Paths
from glia.simulator.policy.builtin import POLICIES

DEFAULT_PORT = 8800


def add_commands(sub: argparse._SubParsersAction) -> None:
    r = sub.add_parser("route", help="serve a routing policy as an OpenAI-compatible router in front of backends")
    r.add_argument("--policy", required=True, help=f"built-in ({', '.join(POLICIES)}) or PATH.py[:ClassName]")
    r.add_argument("--backend", action="append", required=True, metavar="URL",
                   help="an OpenAI-compatible server (repeat for each); its metrics, tokenizer and capacity are probed")
    r.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    r.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    r.add_argument("--kv-tokens", type=int, default=None,
                   help="KV capacity in tokens of backends that report none (default 2048: llama-cpp-python's n_ctx)")
    r.add_argument("--block-size", type=int, default=16, help="KV block size for such backends (default 16)")
    r.add_argument("--batch-cap", type=int, default=None,
                   help="requests a backend runs at once, if not known (llama-cpp-python: 1; others: 128)")
    r.add_argument("--probe-interval", type=float, default=1.0, help="seconds between health checks / scrapes")
    r.add_argument("--max-retries", type=int, default=3, help="retries of a request whose backend failed")
    r.add_argument("--queue-timeout", type=float, default=600.0, help="seconds a request may be held before 503")
    r.add_argument("--calibration", type=Path, default=None,
                   help="service model JSON (from glia loadgen --save-calibration) for slowdown in the records")
    r.add_argument("--workspace", default=DEFAULT_WORKSPACE, help="where telemetry.duckdb is")
    r.add_argument("--no-record", action="store_true", help="write no telemetry")
    r.add_argument("--policy-timeout", type=float, default=2.0,
                   help="seconds a policy file's schedule() call may take before its process is killed and started "
                        "again (default 2)")
    r.add_argument("--allow-unconfined", action="store_true",
                   help="serve a policy file on a machine that cannot confine it (see the README's Isolation)")
    r.set_defaults(func=cmd_route)

    g = sub.add_parser("loadgen", help="replay a workload against an OpenAI-compatible endpoint")
    g.add_argument("--target", required=True, metavar="URL", help="a glia router or any OpenAI-compatible server")
    _plan_options(g)
    g.add_argument("--api", choices=("completions", "chat"), default="completions")
    g.add_argument("--users", type=int, default=None, help="closed loop with this many users (default: open loop)")
    g.add_argument("--think", type=float, default=1.0, help="closed loop: mean think time, seconds")
    g.add_argument("--eos-id", type=int, action="append", default=None,
                   help="token id to bias away (repeat); default: found with the target's tokenizer")
    g.add_argument("--calibrate", action="store_true",
                   help="time the target alone first: the service model gives slowdown against the request alone")
    g.add_argument("--calibration", type=Path, default=None, help="a saved service model instead of --calibrate")
    g.add_argument("--save-calibration", type=Path, default=None, help="write the measured service model here")
    g.add_argument("--max-context", type=int, default=2048, help="longest prompt + output the target takes")
    g.add_argument("--timeout", type=float, default=600.0, help="seconds per request")
    g.add_argument("--drain-timeout", type=float, default=600.0,
                   help="seconds to wait for answers after the last request was sent")
    g.add_argument("--label", default=None, help="the runs row's policy column (default: the router's policy)")
    g.add_argument("--out", type=Path, default=None, help="write every request's record as JSON lines here")
    g.add_argument("--allow-remote", action="store_true", help="allow a target that is not on this machine")
    g.add_argument("--no-progress", action="store_true")
    _record_options(g)
    g.set_defaults(func=cmd_loadgen)

    s = sub.add_parser("sim-to-real", help="policies under the same replayed load: calibrated simulator vs real")
    s.add_argument("--backend", action="append", required=True, metavar="URL")
    s.add_argument("--policies", default="llq,round_robin,hra", help="comma-separated (default llq,round_robin,hra)")
    _plan_options(s)
    s.add_argument("--repeats", type=int, default=1, help="real runs per policy (the order rotated)")
    s.add_argument("--chunk-size", type=int, default=512, help="the backends' prefill batch (llama.cpp n_batch)")
    s.add_argument("--kv-tokens", type=int, default=None, help="KV capacity of backends that report none")
    s.add_argument("--calibration", type=Path, default=None, help="a saved service model instead of measuring")
    s.add_argument("--out", type=Path, default=None, help="directory for sim_to_real.md / .json "
                   "(default WORKSPACE/sim-to-real/STAMP)")
    s.add_argument("--allow-remote", action="store_true", help="allow backends that are not on this machine")
    s.add_argument("--no-progress", action="store_true")
    _record_options(s)
    s.set_defaults(func=cmd_sim_to_real)


def _plan_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workload", required=True, help="a preset (glia presets) or a trace CSV")
    p.add_argument("--seed", type=int, default=0, help="which draw of a preset's workload")
    p.add_argument("--max-requests", type=int, default=None)
    p.add_argument("--duration", type=float, default=None, help="send for at most this many seconds")
    p.add_argument("--time-scale", type=float, default=1.0, help="multiply arrival times (< 1: more load)")
    p.add_argument("--length-scale", type=float, default=1.0, help="multiply prompt and output lengths")
    p.add_argument("--max-prompt", type=int, default=None, help="cap prompt lengths (tokens)")
    p.add_argument("--max-output", type=int, default=None, help="cap output lengths (tokens)")


def _record_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workspace", default=DEFAULT_WORKSPACE, help="where telemetry.duckdb is")
    p.add_argument("--no-record", action="store_true", help="write no telemetry")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def _serving_modules():
    try:
        from glia.graph.serving import backends, loadgen, records, router, simtoreal
    except ImportError as exc:
        raise ValueError(f"serving needs the 'serve' extra (pip install 'glia[serve]'): {exc}") from None
    return backends, loadgen, records, router, simtoreal


def _telemetry(args) -> Path | None:
    return None if args.no_record else Paths(Path(args.workspace)).db


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S")


def _service(path: Path | None):
    if path is None:
        return None
    from glia.simulator.measured import ServiceModel
    try:
        data = json.loads(path.read_text())
        return ServiceModel(**{k: float(data["fit"][k] if "fit" in data else data[k])
                               for k in ("overhead_s", "per_token_s", "per_context_token_s")})
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"cannot read the service model in {path}: {exc}") from None


def _check_loopback(url: str, allow_remote: bool) -> None:
    host = urllib.parse.urlsplit(url).hostname or ""
    try:
        local = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        local = False
    if not local and not allow_remote:
        raise ValueError(f"{url} is not on this machine: a load generator sends real load; pass --allow-remote if "
                         "that is meant")


# -- glia route ---------------------------------------------------------------------------------------------------
def cmd_route(args) -> int:
    import asyncio  # (like everything a command runs, imported when it runs: glia --help needs none of it)
    backends, _, records, router_mod, _ = _serving_modules()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    service = _service(args.calibration)
    return asyncio.run(_route(args, backends, records, router_mod, service))


async def _route(args, backends_mod, records, router_mod, service) -> int:
    import asyncio

    import aiohttp
    async with aiohttp.ClientSession() as session:
        try:
            found = [await backends_mod.discover(session, i, u, args.kv_tokens, args.block_size, args.batch_cap)
                     for i, u in enumerate(args.backend)]
        except ConnectionError as exc:
            raise ValueError(str(exc)) from None
    config = {"backends": [b.describe() for b in found], "service": service.to_dict() if service else None}
    recorder = records.Recorder(_telemetry(args), f"{_stamp()}-route-{Path(args.policy).stem}", args.policy, "live",
                                config, "serving", service, found[0].config.chunk_size, len(found))
    router = router_mod.Router(args.policy, found, recorder, probe_interval_s=args.probe_interval,
                               max_retries=args.max_retries, queue_timeout_s=args.queue_timeout,
                               policy_timeout_s=args.policy_timeout, allow_unconfined=args.allow_unconfined)
    url = await router.start(args.host, args.port)
    for b in found:
        print(f"backend {b.index}: {b.url} ({b.kind}; {b.config.num_blocks} blocks of {b.config.block_size} from "
              f"{b.capacity_source}; batch cap {b.config.batch_size_cap})", flush=True)
    process = router.status()["policy_process"]
    where = process["isolation"] if "restarts" not in process else f"in a process of its own, {process['isolation']}"
    print(f"glia route: policy {args.policy} on {url} (records: {recorder.path or 'off'}, run {recorder.run_id}; "
          f"policy {where})", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await router.stop()
    status = router.status()
    print(f"stopped: {len(recorder.served)} requests ({recorder.failures() or 'none failed'}), "
          f"{status['policy_errors']} policy error(s)", flush=True)
    return 0


# -- glia loadgen -------------------------------------------------------------------------------------------------
def _plan(args, loadgen):
    return loadgen.plan_workload(args.workload, args.seed, args.max_requests, args.duration, args.time_scale,
                                 args.length_scale, args.max_prompt, args.max_output,
                                 getattr(args, "users", None), getattr(args, "think", 1.0))


def cmd_loadgen(args) -> int:
    import asyncio
    _, loadgen, _, _, _ = _serving_modules()
    _check_loopback(args.target, args.allow_remote)
    plan = _plan(args, loadgen)
    return asyncio.run(_loadgen(args, loadgen, plan))


async def _loadgen(args, loadgen, plan) -> int:
    import aiohttp
    service = _service(args.calibration)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        status = await _router_status(session, args.target)
        tokenizer_url = status["backends"][0]["url"] if status else args.target
        maker = await loadgen.PromptMaker.for_target(session, tokenizer_url,
                                                     tuple(args.eos_id) if args.eos_id else None)
        if args.calibrate:
            service, details = await loadgen.measure_service(session, args.target, maker, args.max_context,
                                                             api=args.api)
            if args.save_calibration:
                args.save_calibration.write_text(json.dumps(details, indent=2))
            if not args.json:
                print(f"calibration (target alone): {details['fit']}", file=sys.stderr)
        outcomes = await loadgen.run_load(args.target, plan, maker, args.api, args.seed, args.timeout,
                                          args.drain_timeout, not args.no_progress, session)
    label = args.label or (status["policy"] if status else args.target)
    config = {"target": args.target, "api": args.api, "plan": plan.name, "users": plan.users,
              "eos_ids": list(maker.eos_ids), "exact_prompts": maker.exact,
              "service": service.to_dict() if service else None}
    rec = loadgen.record(_telemetry(args), f"{_stamp()}-loadgen", label, plan, outcomes, config, service, api=args.api)
    _, summary = rec.metrics()
    held, done = loadgen.lengths_held(outcomes)
    failures = rec.failures()
    if args.out:
        with args.out.open("w") as f:
            for o in outcomes:
                f.write(json.dumps({k: v for k, v in vars(o).items() if k != "token_times"}, default=str) + "\n")
    result = {"target": args.target, "label": label, "workload": plan.name, "requests": len(outcomes),
              "completed": done, "failed": failures, "lengths_held": held, "exact_prompts": maker.exact,
              "eos_ids": list(maker.eos_ids), "run_id": rec.run_id if rec.path else None,
              **{k: _clean(summary.get(k)) for k in ("mean_e2e_s", "p90_e2e_s", "mean_ttft_s", "p90_ttft_s",
                                                      "mean_tpot_s", "mean_slowdown", "p90_slowdown",
                                                      "throughput_rps")}}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{label} <- {plan.name}: {len(outcomes)} requests, {done} completed, failed: {failures or 'none'}")
        print(f"output lengths as asked: {held}/{done}" + ("" if maker.exact else
              "; prompt lengths approximate (the target has no tokenizer endpoint)"))
        for key in ("mean_e2e_s", "p90_e2e_s", "mean_ttft_s", "p90_ttft_s", "mean_tpot_s", "mean_slowdown",
                    "p90_slowdown", "throughput_rps"):
            v = result[key]
            print(f"  {key:<16}{'-' if v is None else f'{v:.3f}':>10}")
        if result["mean_slowdown"] is None:
            print("  (slowdown needs a service model: --calibrate or --calibration FILE)")
    return 0 if not failures else 1


async def _router_status(session, target: str) -> dict | None:
    import aiohttp
    try:
        async with session.get(target.rstrip("/") + "/glia/status", timeout=aiohttp.ClientTimeout(total=5)) as r:
            return await r.json() if r.status == 200 else None
    except (TimeoutError, aiohttp.ClientError, ValueError):
        return None


def _clean(v):
    return None if v is None or v != v else round(float(v), 4)


# -- glia sim-to-real ---------------------------------------------------------------------------------------------
def cmd_sim_to_real(args) -> int:
    import asyncio
    _, loadgen, _, _, simtoreal = _serving_modules()
    for url in args.backend:
        _check_loopback(url, args.allow_remote)
    plan = _plan(args, loadgen)
    policies = [p.strip() for p in args.policies.split(",") if p.strip()]
    if len(policies) < 2:
        raise ValueError("sim-to-real compares at least two policies")
    runs, agree, setup = asyncio.run(simtoreal.sim_to_real(
        args.backend, policies, plan, _telemetry(args), chunk_size=args.chunk_size, repeats=args.repeats,
        service=_service(args.calibration), kv_tokens=args.kv_tokens, progress=not args.no_progress))
    out_dir = args.out or Paths(Path(args.workspace)).sim_to_real / _stamp()
    path = simtoreal.write_outputs(out_dir, runs, agree, setup)
    if args.json:
        print(json.dumps({"report": str(path), "agreement": {
            source: {m: {k: a[m][k] for k in ("tau", "tau_ci90", "pairs_agree", "ratios")} for m in a}
            for source, a in agree.items() if a}}, default=float))
    else:
        print(path.read_text())
        print(f"written to {out_dir}")
    return 0
