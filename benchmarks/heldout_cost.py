"""What measuring held-out figures the hardened way costs: a policy file on a task's held-out seeds and on its
shifted workload (as ``collect`` does for the best design), normal against hardened, through the evaluator.

    python -m benchmarks.heldout_cost [--task routing] [--policy FILE] [--seeds 10]

Prints each wall clock (seeds on every core; a hardened seed is two processes talking over a pipe) and the ratio.
"""

from __future__ import annotations

import argparse
import functools
import os
import time
from pathlib import Path

from glia.state import load_task, score
from glia.tools.evaluator import Evaluator
from glia.tools.heldout import plan, shifted_workload

STARTER = Path(__file__).parent.parent / "state" / "tasks" / "builtin" / "routing_starter.py"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--task", default="routing")
    ap.add_argument("--policy", default=str(STARTER))
    ap.add_argument("--seeds", type=int, default=10)
    args = ap.parse_args()
    task = load_task(args.task)
    task["heldout"] = {**(task.get("heldout") or {}), "seeds": args.seeds}
    p = plan(task)
    name, shifted = shifted_workload(task["benchmark"]["workload"], p["shifted"])
    ev = Evaluator(task["benchmark"]["workload"], task["benchmark"]["seeds"], functools.partial(score, task),
                   task["objective"]["metric"], timeout_s=300)
    print(f"task {args.task}: {Path(args.policy).name}, held-out seeds {p['seeds'][0]}..{p['seeds'][-1]} and the "
          f"shifted workload {name}; {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    walls = {}
    for hardened in (False, True):
        t = time.perf_counter()
        for workload in (None, shifted):
            res = ev.measure(args.policy, f"x-{hardened}-{workload is None}", seeds=p["seeds"], workload=workload,
                             hardened=hardened)
            assert not res.get("error"), res["error"]
        walls[hardened] = time.perf_counter() - t
        print(f"{'hardened' if hardened else 'normal  '}: {walls[hardened]:6.1f} s for {2 * len(p['seeds'])} seeds "
              f"({walls[hardened] / (2 * len(p['seeds'])):.2f} s per seed)")
    print(f"hardened / normal: {walls[True] / walls[False]:.2f}x")


if __name__ == "__main__":
    main()
