"""The simulator's commands: ``glia simulate``, ``glia baselines``, ``glia presets``. Their arguments need only the
policies' and presets' names (plain modules); a command imports the engine, the sandbox and numpy when it runs."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from glia.simulator.harness.workspace import DEFAULT_WORKSPACE, Paths
from glia.simulator.policy.builtin import POLICIES
from glia.simulator.policy.builtin.autoscalers import AUTOSCALERS
from glia.simulator.policy.builtin.batch_policies import BATCH_POLICIES
from glia.simulator.policy.layers import get_layer
from glia.simulator.presets import PRESETS, get_preset

if TYPE_CHECKING:
    from glia.simulator.harness.runner import BenchmarkResult


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("simulate", help="run a routing policy (with a batch policy and an autoscaler) on a benchmark")
    p.add_argument("--policy", required=True, help=f"built-in ({', '.join(POLICIES)}) or PATH.py[:ClassName]")
    p.add_argument("--hardened", action="store_true",
                   help="then re-measure with the policy in a process of its own, driven over a pipe, and flag any "
                        "disagreement")
    _common(p)
    p.set_defaults(func=cmd_simulate)
    b = sub.add_parser("baselines", help="the built-in policies side by side")
    _common(b)
    b.set_defaults(func=cmd_baselines)
    s = sub.add_parser("presets", help="list the named benchmarks")
    s.set_defaults(func=cmd_presets)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workload", default="paper-routing", choices=sorted(PRESETS), help="benchmark preset")
    p.add_argument("--seeds", type=_positive_int, default=10, help="number of seeds (0..N-1); default 10")
    p.add_argument("--jobs", type=_positive_int, default=None, help="parallel processes (default: all cores)")
    p.add_argument("--timeout", type=float, default=None,
                   help="wall-clock limit per seed, seconds, and no CPU budget (default for a policy file: a CPU "
                        "budget of 10 x llq's CPU time on the first seed, at least 10 s, at most 300 s, enforced by "
                        "the kernel, with a wall-clock cap of 10 x that behind it; for built-in policies 3600 s of "
                        "wall time)")
    p.add_argument("--memory-mb", type=_positive_int, default=4096, help="memory cap per seed process")
    p.add_argument("--all-seeds", action="store_true",
                   help="run every seed even after one failed (default: the first failure stops the others)")
    p.add_argument("--workspace", default=DEFAULT_WORKSPACE,
                   help="where run artifacts (simulations/) and the telemetry database (telemetry.duckdb) go")
    p.add_argument("--no-record", action="store_true", help="write no artifacts or telemetry")
    p.add_argument("--batch", default=None, metavar="NAME|PATH.py[:Class]",
                   help=f"batch policy of every replica ({', '.join(BATCH_POLICIES)} or a file; default: the preset's)")
    p.add_argument("--autoscaler", default=None, metavar="NAME|PATH.py[:Class]",
                   help=f"autoscaling policy ({', '.join(AUTOSCALERS)}, a file, or none; default: the preset's; "
                        "needs a preset with autoscaling)")
    p.add_argument("--allow-unconfined", action="store_true",
                   help="run policy files even where the filesystem or the network cannot be confined "
                        "(also GLIA_ALLOW_UNCONFINED=1); outputs then say so")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def _positive_int(text: str) -> int:
    v = int(text)
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {v}")
    return v


def _deadline(policy: str, args) -> tuple:
    """(the CPU budget per seed, the wall-clock cap): ``--timeout`` (a wall-clock limit, no budget), or for a policy
    file (of any layer) a CPU budget derived from llq's CPU time on the benchmark's first seed (measured here, in
    this process: a built-in policy is trusted), so that a policy that never returns costs seconds of CPU whatever
    the machine's load; built-in policies are never stopped by a derived deadline."""
    from glia.simulator.harness.runner import derive_budget, wall_cap
    from glia.simulator.harness.sandbox import simulate_seed
    if args.timeout is not None:
        return None, args.timeout
    files = [p for p, lay in ((policy, "router"), (args.batch, "batch"), (args.autoscaler, "autoscaler"))
             if p and not get_layer(lay).knows(p)]
    if not files:
        args.timeout = wall_cap(None)
        return None, args.timeout
    budget = derive_budget([simulate_seed(get_preset(args.workload), "llq", 0).cpu_s])
    args.cpu_budget, args.timeout = budget, wall_cap(budget)
    if not args.json:
        print(f"CPU budget per seed: {budget.seconds:g} s ({budget.basis}, llq on seed 0), wall-clock cap "
              f"{args.timeout:g} s (--timeout sets a wall-clock limit instead)", file=sys.stderr)
    return budget, args.timeout


def _run(policy: str, args) -> BenchmarkResult:
    from glia.simulator.harness.runner import run_benchmark
    ws = Paths(Path(args.workspace))
    record = not args.no_record
    cpu, wall = _deadline(policy, args)
    return run_benchmark(policy, args.workload, args.seeds, jobs=args.jobs, timeout_s=wall, cpu=cpu,
                         memory_mb=args.memory_mb, out_dir=ws.simulations if record else None,
                         telemetry=ws.db if record else None, batch=args.batch,
                         autoscaler=args.autoscaler, allow_unconfined=args.allow_unconfined,
                         fail_fast=not args.all_seeds)


def _verdict(check: dict) -> str:
    if check["agree"]:
        return (f"hardened re-measurement: agrees (every figure of every seed identical; {check['wall_s']:.1f} s, "
                f"policy process {check['isolation']})")
    diffs = "; ".join(f"{m}: {v[0]} measured, {v[1]} hardened" for m, v in check["differences"].items())
    return f"hardened re-measurement: DISAGREES, the measured figures cannot be trusted ({diffs})"


def cmd_simulate(args) -> int:
    from glia.simulator.harness.runner import remeasure, wall_cap
    from glia.simulator.metrics import SUMMARY_METRICS, fmt
    res = _run(args.policy, args)
    check = None
    if args.hardened and not res.error:
        cpu = getattr(args, "cpu_budget", None)
        hardened_cpu = cpu.scaled(4, "for the hardened mode") if cpu else None
        _, check = remeasure(res, args.workload, jobs=args.jobs, memory_mb=args.memory_mb, cpu=hardened_cpu,
                             timeout_s=wall_cap(hardened_cpu) if cpu else args.timeout,
                             allow_unconfined=args.allow_unconfined)
    if args.json:
        print(json.dumps({**res.to_json(), **({"hardened": check} if args.hardened else {})}))
        return 1 if res.error or (check and not check["agree"]) else 0
    scaling = f", autoscaler {res.autoscaler}" if res.autoscaler else ""
    print(f"policy {res.policy} (batch {res.batch_policy}{scaling}) on {res.workload}, {len(res.seeds)} seed(s), "
          f"{res.wall_s:.1f} s wall; "
          f"{res.isolation if 'UNCONFINED' in res.isolation else 'isolation: ' + res.isolation}")
    if res.metrics:
        print(f"{'metric':<26}{'mean':>12}{'90% CI':>24}")
        for key in SUMMARY_METRICS:
            m = res.metrics.get(key)
            if m:
                lo, hi = m["ci90"]
                print(f"{key:<26}{fmt(m['mean'], 3):>12}{'[' + fmt(lo, 3) + ', ' + fmt(hi, 3) + ']':>24}")
    if res.artifacts:
        print(f"artifacts: {res.artifacts}")
    for o in res.outcomes:
        if o.replayed:
            print(f"records checked from above: seed {o.seed}, {o.replayed}")
    printed = [o for o in res.outcomes if o.output and not o.error]
    if printed:  # shown as text: control characters written out, never passed to this terminal
        print(f"the policy printed (seed {printed[0].seed}, as text; {len(printed)} seed(s) printed):\n"
              f"{printed[0].output[:1000]}")
    if check:
        print(_verdict(check))
    if res.error:
        print(f"error ({res.error['kind']}, seed {res.error['seed']}): {res.error['message']}", file=sys.stderr)
        return 1
    return 0 if not check or check["agree"] else 1


def cmd_baselines(args) -> int:
    from glia.simulator.metrics import fmt
    results = [_run(p, args) for p in POLICIES]
    ref = next((r.metric("mean_e2e_s") for r in results if r.policy == "llq"), float("nan"))
    if args.json:
        print(json.dumps({"workload": args.workload, "seeds": args.seeds,
                          "policies": [r.to_json() for r in results]}))
        return 1 if any(r.error for r in results) else 0
    print(f"{args.workload}, {args.seeds} seed(s); mean end-to-end with its 90 % bootstrap CI over seeds")
    print(f"{'policy':<13}{'mean e2e s':>11}{'90% CI':>17}{'p90 e2e':>9}{'p99 e2e':>9}{'TTFT s':>8}"
          f"{'restarted':>10}{'vs llq':>8}{'wall s':>8}")
    for r in results:
        if r.error:
            print(f"{r.policy:<13} error ({r.error['kind']}): {r.error['message']}")
            continue
        lo, hi = r.metrics["mean_e2e_s"]["ci90"]
        mean = r.metric("mean_e2e_s")
        print(f"{r.policy:<13}{fmt(mean):>11}{'[' + fmt(lo) + ', ' + fmt(hi) + ']':>17}"
              f"{fmt(r.metric('p90_e2e_s')):>9}{fmt(r.metric('p99_e2e_s')):>9}{fmt(r.metric('mean_ttft_s')):>8}"
              f"{r.metric('restart_fraction') * 100:>9.1f}%{(mean / ref - 1) * 100:>+7.0f}%{r.wall_s:>8.1f}")
    return 1 if any(r.error for r in results) else 0


def cmd_presets(args) -> int:
    for name, (desc, _) in PRESETS.items():
        print(f"{name:<22}{desc}")
    return 0
