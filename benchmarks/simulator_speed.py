"""Simulator speed: requests per second on every preset (so that a regression on any kind of run shows), one seed
of paper-routing on one core, ten seeds on all cores, and how the cost grows with requests and replicas. Prints
figures and ratios; asserts nothing. Others may share the machine: the load average is printed beside the figures.

    python -m benchmarks.simulator_speed [--quick] [--only presets] [--seeds 0,1] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from glia.simulator import PRESETS, Simulation, get_preset
from glia.simulator.config import ClusterConfig
from glia.simulator.harness.sandbox import run_seeds
from glia.simulator.policy.builtin import POLICIES
from glia.simulator.workloads import WorkloadSpec


def timed(fn, repeat: int = 3) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def presets(seeds: list[int], repeat: int, names: list[str]) -> None:
    """Every preset with the standard stack (llq, the preset's batch policy and autoscaler): a seed's wall time
    (workload generated, cluster built, events run: the median of ``repeat`` runs, then the median over the seeds),
    its CPU time (what the load of others on the machine changes least) and the requests simulated per second."""
    print(f"\n0. every preset, llq, seeds {','.join(map(str, seeds))} (median of {repeat} runs a seed; one core)")
    print(f"{'preset':<20}{'requests':>9}{'replicas':>9}{'wall s':>8}{'cpu s':>7}{'req/s':>8}{'req/cpu-s':>10}"
          f"{'load':>6}")
    total_n = total_wall = total_cpu = 0.0
    for name in names:
        cfg = get_preset(name)
        walls, cpus, counts, reps = [], [], [], []
        for seed in seeds:
            runs = []
            for _ in range(repeat):
                wall, cpu = time.perf_counter(), time.process_time()
                sim = Simulation(cfg, POLICIES["llq"], seed=seed)
                run = sim.run()
                runs.append((time.perf_counter() - wall, time.process_time() - cpu))
            walls.append(statistics.median(w for w, _ in runs))
            cpus.append(statistics.median(c for _, c in runs))
            counts.append(len(run.requests["request_id"]))
            reps.append(len(sim.all_replicas))
        n, wall, cpu = statistics.median(counts), statistics.median(walls), statistics.median(cpus)
        total_n, total_wall, total_cpu = total_n + sum(counts), total_wall + sum(walls), total_cpu + sum(cpus)
        print(f"{name:<20}{n:>9.0f}{max(reps):>9}{wall:>8.2f}{cpu:>7.2f}{n / wall:>8.0f}{n / cpu:>10.0f}"
              f"{os.getloadavg()[0]:>6.1f}", flush=True)
    print(f"{'all':<20}{total_n:>9.0f}{'':>9}{total_wall:>8.2f}{total_cpu:>7.2f}{total_n / total_wall:>8.0f}"
          f"{total_n / total_cpu:>10.0f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer repetitions and sizes")
    ap.add_argument("--only", choices=("presets", "scaling"), default=None,
                    help="only the per-preset table, or only the other sections")
    ap.add_argument("--seeds", default="0", help="seeds of the per-preset table, comma-separated (default 0)")
    ap.add_argument("--repeat", type=int, default=None, help="runs per figure (default 3, 1 with --quick)")
    ap.add_argument("--preset", action="append", choices=sorted(PRESETS), help="only these presets (repeatable)")
    args = ap.parse_args()
    rep = args.repeat or (1 if args.quick else 3)
    print(f"machine: {os.cpu_count()} cores; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.only != "scaling":
        presets([int(s) for s in args.seeds.split(",")], rep, args.preset or list(PRESETS))
    if args.only == "presets":
        return
    cfg = get_preset("paper-routing")
    print(f"\n1. one seed of paper-routing, one core (median of {rep} runs; simulation only)")
    print(f"{'policy':<13}{'requests':>9}{'iterations':>12}{'wall s':>8}{'us/request':>11}")
    for name in POLICIES:
        sim = Simulation(cfg, POLICIES[name], seed=0)
        wall, run = timed(sim.run, rep)
        n = len(run.requests["request_id"])
        iters = sum(r.num_iterations for r in sim.all_replicas.values())
        print(f"{name:<13}{n:>9}{iters:>12}{wall:>8.2f}{wall / n * 1e6:>11.1f}")

    print("\n2. skipped decode runs against stepping every iteration (llq, seed 0)")
    fast, _ = timed(lambda: Simulation(cfg, POLICIES["llq"], seed=0, fast=True).run(), rep)
    slow, _ = timed(lambda: Simulation(cfg, POLICIES["llq"], seed=0, fast=False).run(), rep)
    print(f"runs skipped: {fast:.2f} s; every iteration: {slow:.2f} s; ratio {slow / fast:.2f}x")

    print("\n3. ten seeds of paper-routing on all cores, isolated processes, metrics included")
    for name in ("llq", "hra"):
        start = time.perf_counter()
        outs = run_seeds(cfg, name, list(range(10)), jobs=os.cpu_count())
        wall = time.perf_counter() - start
        errs = [o.error for o in outs if o.error]
        print(f"{name:<6} 10 seeds: {wall:.2f} s wall ({sum(o.wall_s for o in outs):.2f} s of seed time)"
              f"{'  ERRORS: ' + str(errs) if errs else ''}")

    print("\n4. cost against requests (7.5 QPS, longer runs; llq)")
    print(f"{'duration s':>11}{'requests':>10}{'wall s':>8}{'us/request':>11}")
    for duration in ((250, 1000, 4000) if args.quick else (250, 500, 1000, 2000, 4000)):
        c = cfg.replace(workload=WorkloadSpec("sharegpt", {"qps": 7.5, "duration_s": float(duration)}))
        wall, run = timed(Simulation(c, POLICIES["llq"], seed=0).run, rep)
        n = len(run.requests["request_id"])
        print(f"{duration:>11}{n:>10}{wall:>8.2f}{wall / n * 1e6:>11.1f}")

    print("\n5. cost against replicas (load per replica fixed at 1.875 QPS, 500 s; llq)")
    print(f"{'replicas':>9}{'requests':>10}{'wall s':>8}{'us/request':>11}")
    for n_rep in ((2, 8, 32) if args.quick else (2, 4, 8, 16, 32)):
        c = cfg.replace(cluster=ClusterConfig(num_replicas=n_rep, num_blocks=2240),
                        workload=WorkloadSpec("sharegpt", {"qps": 1.875 * n_rep, "duration_s": 500.0}))
        wall, run = timed(Simulation(c, POLICIES["llq"], seed=0).run, rep)
        n = len(run.requests["request_id"])
        print(f"{n_rep:>9}{n:>10}{wall:>8.2f}{wall / n * 1e6:>11.1f}")


if __name__ == "__main__":
    main()
