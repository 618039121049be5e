"""What an experiment costs beyond its simulation: one evaluation of a policy file over a task's seeds through the
evaluator every method uses (confined processes, records checked, metrics, bootstrap CIs, telemetry), against the
simulation alone (the engine in this process, the same policy and seeds). Target: at most 25 % above it.

    python benchmarks/evaluator_overhead.py [--task routing] [--repeats 3] [--policy FILE]

Prints the simulation time, the evaluation's wall clock with one and with all cores, and the parts of the
difference measured one by one (a seed process doing nothing, the metrics, the aggregation with its bootstrap CIs,
the telemetry write). The best of ``--repeats`` is kept for each figure (the machine is shared). Then what bad
candidates cost with the timeout derived from the task's baselines: one that loops forever, one that raises on
seed 0.
"""

from __future__ import annotations

import argparse
import functools
import os
import tempfile
import time
from pathlib import Path

from glia.simulator import Simulation, load_policy, run_benchmark
from glia.simulator.loader import read_policy
from glia.simulator.metrics import aggregate
from glia.simulator.presets import get_preset
from glia.simulator.sandbox import simulate_seed
from glia.simulator.telemetry import write_run
from glia.state import load_task, score
from glia.tools.evaluator import Evaluator
from glia.tools.executors import LocalExecutor

STARTER = Path(__file__).parent.parent / "state" / "tasks" / "routing_starter.py"
POLICIES = Path(__file__).parent.parent / "tests" / "policies"


def best_of(repeats: int, fn) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--task", default="routing")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--policy", default=str(STARTER))
    args = ap.parse_args()
    task = load_task(args.task)
    workload, seeds = task["benchmark"]["workload"], task["benchmark"]["seeds"]
    config = get_preset(workload)
    cls = load_policy(args.policy)

    def simulate_only():
        for s in seeds:
            Simulation(config, cls, s).run()

    sim = best_of(args.repeats, simulate_only)
    tmp = Path(tempfile.mkdtemp(prefix="glia-overhead-"))
    counter = iter(range(10**6))

    def evaluation(jobs: int, db: Path | None):
        ev = Evaluator(workload, seeds, functools.partial(score, task), task["objective"]["metric"], db,
                       LocalExecutor(jobs))
        res = ev.measure(args.policy, f"e{next(counter)}")
        assert not res.get("error"), res["error"]

    one = best_of(args.repeats, lambda: evaluation(1, tmp / "telemetry.duckdb"))
    one_bare = best_of(args.repeats, lambda: evaluation(1, None))
    both = best_of(args.repeats, lambda: evaluation(os.cpu_count() or 1, tmp / "telemetry.duckdb"))
    outcomes = [simulate_seed(config, read_policy(args.policy), s) for s in seeds]
    agg = best_of(args.repeats, lambda: aggregate([o.summary for o in outcomes], [o.requests for o in outcomes]))
    tel = best_of(args.repeats, lambda: write_run(tmp / f"w{next(counter)}.duckdb", {"run_id": "x"}, outcomes))
    in_process = best_of(args.repeats, lambda: run_benchmark(args.policy, workload, seeds, isolate=False,
                                                             allow_unconfined=True))
    n = len(seeds)
    print(f"task {args.task}: {Path(args.policy).name} on {workload}, {n} seeds, best of {args.repeats} "
          f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    print(f"simulation alone (engine in-process)        {sim:7.2f} s  ({sim / n:.2f} s per seed)")
    print(f"evaluation, 1 process at a time, telemetry  {one:7.2f} s  overhead {100 * (one / sim - 1):+5.1f} %")
    print(f"evaluation, 1 process at a time, no record  {one_bare:7.2f} s  "
          f"overhead {100 * (one_bare / sim - 1):+5.1f} %")
    print(f"evaluation, {os.cpu_count()} processes, telemetry        {both:7.2f} s  "
          f"against simulation / cores {sim / min(n, os.cpu_count() or 1):.2f} s")
    print(f"parts: records checked and measured, aggregated (in this process) {in_process - sim:+.2f} s, of which "
          f"the aggregation with bootstrap CIs {agg:.3f} s; a confined process per seed and the records' trip "
          f"{one_bare - in_process:+.2f} s; the telemetry write {one - one_bare:+.2f} s (alone: {tel:.2f} s)")
    ev = Evaluator(workload, seeds, functools.partial(score, task), task["objective"]["metric"], tmp / "t.duckdb")
    ev.calibrate([ev.measure(p, f"baseline-{p}") for p in task["benchmark"]["baselines"]])
    for name in ("loops_forever.py", "raises_on_seed_0.py"):
        t = time.perf_counter()
        res = ev.measure(str(POLICIES / name), f"bad-{name}")
        print(f"{name}: {res['error']['kind']} after {time.perf_counter() - t:.1f} s (timeout {ev.timeout_s:g} s "
              f"derived from the baselines), {res['seeds_run']} of {n} seeds run")


if __name__ == "__main__":
    main()
