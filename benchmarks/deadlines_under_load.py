"""Deadlines on a loaded machine: a candidate's budget per seed is CPU time derived from the task's baselines and
enforced by the kernel, so it does not move with the load; built-in baselines are never stopped by it.

    python -m benchmarks.deadlines_under_load [--task routing] [--busy 2] [--heldout-seeds 3]

Starts ``--busy`` processes that spin (``python -c 'while 1: pass'``) beside the evaluation, then, through the
evaluator every method uses: the task's baselines (their CPU and wall seconds per seed; the CPU budget derived from
them, and the wall-clock deadline the former rule, 10 x the slowest baseline's wall seconds per seed, would have
derived at this load), a candidate that loops forever (the CPU it used against its budget, the wall time it held
its seed), and the held-out and shifted re-measurements of a baseline and of the task's starter design (the hardened
mode), none of which may time out. Prints /proc/loadavg before and after.
"""

from __future__ import annotations

import argparse
import functools
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from glia.state import load_task, score
from glia.tools.evaluator import Evaluator
from glia.tools.heldout import measure_heldout

POLICIES = Path(__file__).parent.parent / "tests" / "policies"


def loadavg() -> str:
    return Path("/proc/loadavg").read_text().strip()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--task", default="routing")
    ap.add_argument("--busy", type=int, default=2, help="spinning processes beside the evaluation")
    ap.add_argument("--heldout-seeds", type=int, default=3)
    args = ap.parse_args()
    task = load_task(args.task)
    workload, seeds = task["benchmark"]["workload"], task["benchmark"]["seeds"]
    print(f"task {args.task}: {workload}, seeds {seeds}; /proc/loadavg before: {loadavg()}")
    busy = [subprocess.Popen([sys.executable, "-c", "while 1: pass"]) for _ in range(args.busy)]
    try:
        time.sleep(2)
        print(f"{args.busy} busy processes started; /proc/loadavg: {loadavg()}")
        tmp = Path(tempfile.mkdtemp(prefix="glia-deadlines-"))
        db = tmp / "telemetry.duckdb"
        ev = Evaluator(workload, seeds, functools.partial(score, task), task["objective"]["metric"], db)
        baselines = []
        for policy in task["benchmark"]["baselines"]:
            t = time.perf_counter()
            b = ev.measure(policy, f"baseline-{policy}", context="baselines")
            baselines.append(b)
            print(f"baseline {policy}: {'error ' + b['error']['kind'] if b['error'] else 'ok'}, "
                  f"{b['seed_cpu_s'] or 0:.2f} s CPU / {b['seed_s']:.2f} s wall for its slowest seed, "
                  f"{time.perf_counter() - t:.1f} s wall in all")
        budget = ev.calibrate(baselines)
        old = min(300.0, max(15.0, 10 * max(b["seed_s"] for b in baselines if not b["error"])))
        print(f"CPU budget per seed: {budget.seconds:g} s ({budget.basis}); wall-clock cap behind it "
              f"{ev.timeout_s:g} s; the former wall-clock rule would derive {old:.1f} s at this load")
        t = time.perf_counter()
        res = ev.measure(str(POLICIES / "loops_forever.py"), "loops")
        wall = time.perf_counter() - t
        print(f"loops_forever.py: {res['error']['kind']}, {res['seeds_run']} of {len(seeds)} seeds run, "
              f"{res['cpu_s']:.2f} s of CPU used against its budget of {budget.seconds:g} s per seed, "
              f"{wall:.1f} s wall; load {loadavg()}")
        print(f"  error: {res['error']['message'][:300]}")
        task = {**task, "heldout": {**task.get("heldout", {}), "seeds": args.heldout_seeds}}
        starter = tmp / "starter.py"
        starter.write_text(task["design"]["starter_source"])
        designs = {task["benchmark"]["baselines"][0]: task["benchmark"]["baselines"][0], "starter": str(starter)}
        t = time.perf_counter()
        figures = measure_heldout(ev, task, designs, "run")
        for design, parts in figures.items():
            for part, fig in parts.items():
                status = f"error {fig['error']['kind']}" if fig["error"] else f"{fig['value']:.4f}"
                print(f"{part:8s} {design:10s} {status}{' (hardened)' if fig['hardened'] else ''}, "
                      f"{fig['wall_s']:.1f} s wall")
        failed = [(d, p) for d, parts in figures.items() for p, f in parts.items() if f["error"]]
        print(f"held-out and shifted: {len(failed)} failed of {2 * len(figures)} ({time.perf_counter() - t:.1f} s "
              f"wall); /proc/loadavg after: {loadavg()}")
    finally:
        for p in busy:
            p.kill()
            p.wait()


if __name__ == "__main__":
    main()
