"""The Ray executor against the local pool on this machine: the same figures seed for seed, the wall clock of each,
what starting Ray costs, and how long a stuck candidate holds a Ray task (cancelled at its deadline).

    python -m benchmarks.ray_executor [--workload paper-routing] [--seeds 10] [--address ADDR]

Needs ``pip install 'glia[ray]'``. Without ``--address`` a local Ray with this machine's CPUs is started (token
authentication off, temporary files in a temporary directory).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from glia.simulator import get_preset
from glia.simulator.harness.runner import run_benchmark
from glia.tools.executors import LocalExecutor, RayExecutor

STARTER = Path(__file__).parent.parent / "state" / "tasks" / "builtin" / "routing_starter.py"
LOOP = Path(__file__).parent.parent / "tests" / "policies" / "loops_forever.py"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workload", default="paper-routing")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--address", default=None)
    args = ap.parse_args()
    import ray

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    t = time.perf_counter()
    if args.address:
        ray.init(address=args.address, include_dashboard=False, log_to_driver=False)
    else:
        ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False,
                 _temp_dir=tempfile.mkdtemp(prefix="glia-ray-bench-"))
    started = time.perf_counter() - t
    remote = RayExecutor()
    print(f"ray {ray.__version__}: started/connected in {started:.1f} s, {remote.slots()} task slots; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    seeds = list(range(args.seeds))
    for policy in ("llq", str(STARTER)):
        runs = {}
        for name, executor in (("local", LocalExecutor()), ("ray", remote), ("local again", LocalExecutor())):
            t = time.perf_counter()
            runs[name] = run_benchmark(policy, args.workload, seeds, executor=executor)
            runs[name].wall_s = time.perf_counter() - t
        same = all(runs["ray"].metrics[m]["per_seed"] == v["per_seed"] for m, v in runs["local"].metrics.items())
        print(f"{Path(policy).name} on {args.workload}, {len(seeds)} seeds: local {runs['local'].wall_s:.1f} s "
              f"(again {runs['local again'].wall_s:.1f} s), ray {runs['ray'].wall_s:.1f} s; mean e2e "
              f"{runs['local'].metric('mean_e2e_s'):.4f} / {runs['ray'].metric('mean_e2e_s'):.4f}; every metric of "
              f"every seed identical: {same}")
    t = time.perf_counter()
    out = remote.run(get_preset(args.workload), str(LOOP), seeds[:4], timeout_s=15.0, memory_mb=4096)
    print(f"a policy that loops forever, 4 seeds, timeout 15 s: {[o.error['kind'] for o in out]} after "
          f"{time.perf_counter() - t:.1f} s")
    ray.shutdown()


if __name__ == "__main__":
    main()
