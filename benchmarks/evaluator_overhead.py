"""What an experiment costs beyond its simulation: one evaluation of a policy file over a task's seeds through the
evaluator every method uses (confined processes, records checked, metrics, bootstrap CIs, telemetry), against the
simulation alone (the engine in this process, the same policy and seeds). Target: at most 25 % above it.

    python -m benchmarks.evaluator_overhead [--task routing] [--repeats 3] [--policy FILE]

Prints the simulation time, an evaluation's wall clock with one and with all cores (two in a row, as a search makes
them, their telemetry written beside them, the last write waited for; and the same with the last write not waited
for, as a search goes on while it is written, with that wait measured apart: what a reader of the telemetry pays),
and the parts of the difference measured one by one (a seed process doing nothing, the metrics, the aggregation with
its bootstrap CIs, the telemetry write). Each figure is taken ``--repeats`` times in rounds, and the overhead is the
median of the rounds' ratios, so that a figure and the simulation it is compared with share the load of the moment
(the machine is shared). Wall time on a loaded machine measures the load as much as the work, so the CPU seconds
are printed too: this process's (every thread: the checks, the background telemetry writer, DuckDB's threads) plus
the seed processes' (as the kernel counted them), against the simulation's. Then what bad candidates cost with the
CPU budget derived from the task's baselines: one that loops forever, one that raises on seed 0.
"""

from __future__ import annotations

import argparse
import functools
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path

from glia.simulator import Simulation, load_policy
from glia.simulator.harness.runner import run_benchmark
from glia.simulator.harness.sandbox import run_seeds
from glia.simulator.harness.telemetry import flush, write_run
from glia.simulator.metrics import aggregate
from glia.simulator.policy.loader import read_policy
from glia.simulator.presets import get_preset
from glia.state import load_task, score
from glia.tools.evaluator import Evaluator
from glia.tools.executors import LocalExecutor

STARTER = Path(__file__).parent.parent / "state" / "tasks" / "builtin" / "routing_starter.py"
POLICIES = Path(__file__).parent.parent / "tests" / "policies"


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def own_cpu() -> float:
    """This process's CPU seconds, every thread of it."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


CHILD_CPU = [0.0]  # the seed processes' CPU seconds, as the evaluations report them


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

    tmp = Path(tempfile.mkdtemp(prefix="glia-overhead-"))
    counter = iter(range(10**6))
    cores = os.cpu_count() or 1

    def evaluation(jobs: int, db: Path | None):
        ev = Evaluator(workload, seeds, functools.partial(score, task), task["objective"]["metric"], db,
                       LocalExecutor(jobs))
        res = ev.measure(args.policy, f"e{next(counter)}")
        assert not res.get("error"), res["error"]
        CHILD_CPU[0] += res["cpu_s"]

    def search(jobs: int, db: Path | None, n: int = 2, wait: bool = True):
        """A search's n consecutive evaluations, their telemetry written beside them, and (``wait``) the wait for
        the last write: per evaluation."""
        for _ in range(n):
            evaluation(jobs, db)
        if wait:
            flush()

    def in_process():
        run_benchmark(args.policy, workload, seeds, isolate=False, allow_unconfined=True)

    # rounds of every figure in turn, so that each round's figures share the machine's load of the moment
    keys = ("sim", "one", "later", "last", "bare", "all", "inproc")
    figures: dict[str, list[float]] = {k: [] for k in keys}
    cpu: dict[str, list[float]] = {k: [] for k in keys}
    for _ in range(args.repeats):
        for key, fn in (("sim", simulate_only), ("one", lambda: search(1, tmp / "telemetry.duckdb")),
                        ("later", lambda: search(1, tmp / "telemetry.duckdb", wait=False)), ("last", flush),
                        ("bare", lambda: search(1, None)),
                        ("all", lambda: search(cores, tmp / "telemetry.duckdb")), ("inproc", in_process)):
            CHILD_CPU[0], c = 0.0, own_cpu()
            per = 2 if key in ("one", "later", "bare", "all") else 1
            figures[key].append(timed(fn) / per)
            cpu[key].append((own_cpu() - c + CHILD_CPU[0]) / per)
    med = {k: statistics.median(v) for k, v in figures.items()}
    ratio = {k: statistics.median(x / y for x, y in zip(figures[k], figures["sim"], strict=True))
             for k in ("one", "later", "bare", "all", "inproc")}
    cpu_ratio = {k: statistics.median(x / y for x, y in zip(cpu[k], cpu["sim"], strict=True))
                 for k in ("one", "bare", "all")}
    # the seeds' outcomes as an evaluation has them (the records the seed processes sent, checked and measured)
    outcomes = run_seeds(config, read_policy(args.policy), seeds)
    assert not any(o.error for o in outcomes), [o.error for o in outcomes if o.error]
    agg = statistics.median(timed(lambda: aggregate([o.summary for o in outcomes], [o.requests for o in outcomes]))
                            for _ in range(args.repeats))
    # into a file that already holds runs, as a search's workspace does (a fresh file is cheaper to append to)
    alone = tmp / "alone.duckdb"
    for i in range(2):
        write_run(alone, {"run_id": f"earlier-{i}"}, outcomes)
    tels = []
    for _ in range(args.repeats):
        c = own_cpu()
        tels.append((timed(lambda: write_run(alone, {"run_id": f"w{next(counter)}"}, outcomes)), own_cpu() - c))
    tel, tel_cpu = statistics.median(w for w, _ in tels), statistics.median(c for _, c in tels)
    rows = sum(len(o.requests["request_id"]) + len(o.events) + len(o.samples) for o in outcomes)
    n, sim = len(seeds), med["sim"]
    print(f"task {args.task}: {Path(args.policy).name} on {workload}, {n} seeds; medians of {args.repeats} rounds "
          f"(load average {os.getloadavg()[0]:.1f} on {cores} cores; overheads are the medians of each round's ratio)")
    print(f"simulation alone (engine in-process)        {sim:7.2f} s  ({sim / n:.2f} s per seed; "
          f"{statistics.median(cpu['sim']):.2f} s CPU)")
    for key, what in (("one", "telemetry"), ("later", "tel., last write not waited for"), ("bare", "no record")):
        print(f"evaluation, 1 process at a time, {what:<10} {med[key]:7.2f} s  overhead "
              f"{100 * (ratio[key] - 1):+5.1f} %"
              + (f"  (CPU {statistics.median(cpu[key]):.2f} s: {100 * (cpu_ratio[key] - 1):+5.1f} %)"
                 if key in cpu_ratio else ""))
    print(f"the wait for the last write (what a reader of the telemetry pays, once): {med['last']:.2f} s")
    rounds = -(-n // cores)
    print(f"evaluation, {cores} processes, telemetry        {med['all']:7.2f} s  against the simulation's "
          f"{rounds} rounds of {cores} seeds {rounds * sim / n:.2f} s: overhead "
          f"{100 * (ratio['all'] * n / rounds - 1):+5.1f} % (CPU {statistics.median(cpu['all']):.2f} s: "
          f"{100 * (cpu_ratio['all'] - 1):+5.1f} %)")
    print(f"parts: records checked and measured, aggregated (in this process) {med['inproc'] - sim:+.2f} s, of which "
          f"the aggregation with bootstrap CIs {agg:.3f} s; a confined process per seed and the records' trip "
          f"{med['bare'] - med['inproc']:+.2f} s; the telemetry write {med['one'] - med['bare']:+.2f} s (alone: "
          f"{tel:.2f} s, {tel_cpu:.2f} s CPU, {rows:,} rows)")
    ev = Evaluator(workload, seeds, functools.partial(score, task), task["objective"]["metric"], tmp / "t.duckdb")
    ev.calibrate([ev.measure(p, f"baseline-{p}") for p in task["benchmark"]["baselines"]])
    for name in ("loops_forever.py", "raises_on_seed_0.py"):
        t = time.perf_counter()
        res = ev.measure(str(POLICIES / name), f"bad-{name}")
        print(f"{name}: {res['error']['kind']} after {time.perf_counter() - t:.1f} s wall, {res['cpu_s']:.1f} s CPU "
              f"(CPU budget {ev.cpu.seconds:g} s per seed, {ev.cpu.basis}; wall-clock cap {ev.timeout_s:g} s), "
              f"{res['seeds_run']} of {n} seeds run")


if __name__ == "__main__":
    main()
