"""What one evaluation of a program task costs beyond the evaluator's own time: Glia's runner (a fresh copy of the
working directory, the evaluator confined, the program in a further-confined process of its own behind a stand-in)
against the evaluator as its own framework runs it, for the two example problems.

    python -m benchmarks.program_overhead [--repeats 5]

Baselines (no Glia): the OpenEvolve example's ``evaluate(path)`` called in this process with the program loaded in
it, as OpenEvolve's worker does (the module imported once); the ShinkaEvolve example as ShinkaEvolve runs it, ``python
evaluate.py --program_path P --results_dir R`` in a fresh process. Glia: the runner with ``isolation = "split"``
(the default) and ``"shared"`` (the program in the evaluator's process, for comparison). Each figure is taken
``--repeats`` times in rounds (baseline, split, shared in turn, so that they share the load of the moment; the
machine is shared) and the medians are printed, with the overhead as the median of the rounds' differences and
ratios. Then the parts: the first evaluation of a process (the isolation probe, once per process), and a call into
the program across the bridge (a round trip between the two processes).

Then the executors (``--executor local|ray|both``, default both when Ray is installed): the same evaluations through
``LocalExecutor.run_program`` and ``RayExecutor.run_program`` (the working directory shipped through Ray's object
store, the same runner confining the evaluator and the program inside the worker), in rounds with the baseline,
with each one's overhead over the evaluator's own time; Ray's start and its first evaluation (a cold worker) are
printed apart. Ray runs locally on this machine's CPUs (token authentication off, temporary files in a temporary
directory), or joins ``--ray-address``.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from glia.simulator.isolation import confine
from glia.tools.programs import EvaluatorSpec, evaluate_program

EXAMPLES = Path(__file__).resolve().parent.parent / "state" / "tasks" / "builtin" / "programs"
CACHE, PLACEMENT = EXAMPLES / "cache-eviction", EXAMPLES / "job-placement"


def cache_spec() -> EvaluatorSpec:
    return EvaluatorSpec(format="openevolve", workdir=CACHE, program_file="initial_program.py",
                         entry="evaluator.py", timeout_s=120, cascade=(0.05,), validity=("validity", 1.0))


def placement_spec() -> EvaluatorSpec:
    return EvaluatorSpec(format="shinka", workdir=PLACEMENT, program_file="initial.py", entry="evaluate.py",
                         timeout_s=60)


def oe_in_process():
    """OpenEvolve's way: the evaluator module imported once; each evaluation calls its stages in this process."""
    sys.path.insert(0, str(CACHE))
    spec = importlib.util.spec_from_file_location("evaluation_module", CACHE / "evaluator.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    program = str(CACHE / "initial_program.py")

    def run() -> float:
        t0 = time.perf_counter()
        first = module.evaluate_stage1(program)
        if first.metrics["combined_score"] >= 0.05:
            module.evaluate_stage2(program)
        return time.perf_counter() - t0
    return run


def shinka_subprocess():
    """ShinkaEvolve's way: a fresh interpreter per evaluation."""
    def run() -> float:
        with tempfile.TemporaryDirectory() as results:
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "evaluate.py", "--program_path", "initial.py", "--results_dir", results],
                           cwd=PLACEMENT, check=True, capture_output=True)
            return time.perf_counter() - t0
    return run


def glia(spec: EvaluatorSpec, source: str):
    def run() -> float:
        res = evaluate_program(spec, source)
        if res.status != "ok":
            raise SystemExit(f"the example failed under the runner: {res.summary()}")
        return res.wall_s
    return run


def rounds(name: str, baseline, split, shared, repeats: int) -> None:
    base, spl, sha = [], [], []
    for _ in range(repeats):
        base.append(baseline())
        spl.append(split())
        sha.append(shared())
    med = statistics.median

    def over(xs: list[float]) -> str:
        pairs = list(zip(xs, base, strict=True))
        return f"overhead {med(x - b for x, b in pairs):+.3f} s, x{med(x / b for x, b in pairs):.2f}"
    print(f"{name}:")
    print(f"  the evaluator's own time (its framework's way)  {med(base):7.3f} s")
    print(f"  Glia, split (program in its own process)        {med(spl):7.3f} s   {over(spl)}")
    print(f"  Glia, shared (program in the evaluator's)       {med(sha):7.3f} s   {over(sha)}")
    print(f"  (medians of {repeats} rounds; all rounds: baseline {[round(x, 3) for x in base]}, split "
          f"{[round(x, 3) for x in spl]}, shared {[round(x, 3) for x in sha]})")


CALLS = 5000
PING_EVALUATOR = f'''
import importlib.util, time
def evaluate(path):
    spec = importlib.util.spec_from_file_location("c", path)
    m = importlib.util.module_from_spec(spec)
    t0 = time.perf_counter()
    spec.loader.exec_module(m)
    t1 = time.perf_counter()
    for i in range({CALLS}):
        m.f(i)
    t2 = time.perf_counter()
    return {{"combined_score": 1.0, "load_s": t1 - t0, "call_us": (t2 - t1) / {CALLS} * 1e6}}
'''


def bridge_cost(repeats: int) -> None:
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "evaluator.py").write_text(textwrap.dedent(PING_EVALUATOR))
        spec = EvaluatorSpec(format="openevolve", workdir=Path(d), program_file="p.py", entry="evaluator.py",
                             timeout_s=60)
        loads, calls = [], []
        for _ in range(repeats):
            res = evaluate_program(spec, "def f(x):\n    return x + 1\n")
            loads.append(res.metrics["load_s"])
            calls.append(res.metrics["call_us"])
        shared = evaluate_program(dataclasses.replace(spec, isolation="shared"), "def f(x):\n    return x + 1\n")
    print(f"the bridge: starting the program's confined process and loading the program {statistics.median(loads):.3f}"
          f" s; a call into it {statistics.median(calls):.1f} us (in the evaluator's process: "
          f"{shared.metrics['call_us']:.2f} us); medians of {repeats}")


def on(executor, spec: EvaluatorSpec, source: str):
    def run() -> float:
        res = executor.run_program(spec, source)
        if res.status != "ok":
            raise SystemExit(f"the example failed on the {executor.name} executor: {res.summary()}")
        return res.wall_s
    return run


def executor_rounds(name: str, baseline, runs: dict, repeats: int) -> None:
    """The evaluator's own time and each executor's evaluation, in rounds; medians and overheads."""
    base = []
    took: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(repeats):
        base.append(baseline())
        for k, run in runs.items():
            took[k].append(run())
    med = statistics.median
    print(f"{name}:")
    print(f"  the evaluator's own time (its framework's way)  {med(base):7.3f} s")
    for k, xs in took.items():
        pairs = list(zip(xs, base, strict=True))
        print(f"  {k + ' executor':<46}  {med(xs):7.3f} s   overhead {med(x - b for x, b in pairs):+.3f} s per "
              f"evaluation, x{med(x / b for x, b in pairs):.2f}")
    if "local" in took and "ray" in took:
        print(f"  Ray over local: {med(r - v for r, v in zip(took['ray'], took['local'], strict=True)):+.3f} s per "
              "evaluation (median of the rounds' differences)")
    print(f"  (medians of {repeats} rounds; all rounds: baseline {[round(x, 3) for x in base]}, "
          + ", ".join(f"{k} {[round(x, 3) for x in xs]}" for k, xs in took.items()) + ")")


def executors(args) -> None:
    from glia.tools.executors import LocalExecutor, RayExecutor
    runs: dict = {}
    if args.executor in ("local", "both"):
        runs["local"] = LocalExecutor()
    if args.executor in ("ray", "both"):
        try:
            import ray
        except ImportError:
            if args.executor == "ray":
                raise SystemExit("--executor ray needs Ray: pip install 'glia[ray]'") from None
            print("Ray is not installed (pip install 'glia[ray]'): the local executor only")
        else:
            os.environ.setdefault("RAY_AUTH_MODE", "disabled")
            t0 = time.perf_counter()
            runs["ray"] = RayExecutor(args.ray_address)  # starts (or connects to) Ray as glia run --executor ray does
            started = time.perf_counter() - t0
            cold = runs["ray"].run_program(placement_spec(), (PLACEMENT / "initial.py").read_text())
            print(f"Ray: started in {started:.2f} s; a first evaluation (a cold worker: imports, the isolation "
                  f"probe) {cold.wall_s:.3f} s ({cold.status})")
    cache = (CACHE / "initial_program.py").read_text()
    placement = (PLACEMENT / "initial.py").read_text()
    executor_rounds("executors, cache eviction (OpenEvolve format, split isolation)", oe_in_process(),
                    {k: on(e, cache_spec(), cache) for k, e in runs.items()}, args.repeats)
    executor_rounds("executors, job placement (ShinkaEvolve format, split isolation)", shinka_subprocess(),
                    {k: on(e, placement_spec(), placement) for k, e in runs.items()}, args.repeats)
    if "ray" in runs:
        import ray
        ray.shutdown()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--executor", choices=("local", "ray", "both", "none"), default="both",
                   help="the executors' section (both: Ray too when installed; none: skip it)")
    p.add_argument("--ray-address", default=None, help="join a running Ray cluster (default: start a local one)")
    args = p.parse_args()
    t0 = time.perf_counter()
    confine.available()
    probe = time.perf_counter() - t0
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; {confine.describe()}")
    print(f"the isolation probe (once per process): {probe:.3f} s")
    first = evaluate_program(placement_spec(), (PLACEMENT / "initial.py").read_text())
    print(f"a first evaluation in this process (probe cached): {first.wall_s:.3f} s")
    rounds("cache eviction (OpenEvolve format; 9,800 calls into the program)", oe_in_process(),
           glia(cache_spec(), (CACHE / "initial_program.py").read_text()),
           glia(dataclasses.replace(cache_spec(), isolation="shared"), (CACHE / "initial_program.py").read_text()),
           args.repeats)
    rounds("job placement (ShinkaEvolve format; 5 calls into the program)", shinka_subprocess(),
           glia(placement_spec(), (PLACEMENT / "initial.py").read_text()),
           glia(dataclasses.replace(placement_spec(), isolation="shared"), (PLACEMENT / "initial.py").read_text()),
           args.repeats)
    bridge_cost(args.repeats)
    if args.executor != "none":
        executors(args)
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
