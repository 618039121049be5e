"""What isolation costs: simulation time per seed of paper-routing without and with confinement (one seed in a
process, then five seeds through run_seeds), the start-up cost of confining a process and a shell command, and the
hardened re-measurement's time per seed. Prints figures; asserts nothing.

    python -m benchmarks.isolation_cost [--quick]

"In-process" is the built-in policy's simulation and its metrics in this process (no isolation at all); the other
columns run the same policy as a file (what Glia confines). "Process, unconfined" is the
isolated path with the OS mechanisms switched off (a seed process, the audit hook, records over the wire, checked and
measured by the parent); "confined" adds Landlock, the user and network namespaces and seccomp; "hardened" runs the
policy in a process of its own driven over a pipe.
"""

from __future__ import annotations

import argparse
import dataclasses
import multiprocessing as mp
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from glia.simulator import get_preset
from glia.simulator.harness.sandbox import Limits, policy_box, run_seeds, simulate_seed
from glia.simulator.isolation import confine
from glia.simulator.policy import guard
from glia.tools.workspace import shell


def timed(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _confine_child(conn) -> None:
    start = time.perf_counter()
    confine.apply(policy_box(Limits(60, 4096)))
    middle = time.perf_counter()
    guard.prepare_facades()
    guard.install_audit_hook([], confine.python_roots())
    conn.send((middle - start, time.perf_counter() - middle))


def confinement_startup(repeat: int) -> tuple[float, float]:
    ctx = mp.get_context("fork")
    os_s, hook_s = [], []
    for _ in range(repeat):
        a, b = ctx.Pipe(duplex=False)
        p = ctx.Process(target=_confine_child, args=(b,))
        p.start()
        x, y = a.recv()
        p.join()
        os_s.append(x)
        hook_s.append(y)
    return statistics.median(os_s), statistics.median(hook_s)


def as_file(name: str) -> str:
    """The built-in policy ``name`` as a policy file (what Glia confines: a file, as a model writes it)."""
    import inspect

    from glia.simulator.policy.builtin import POLICIES
    src = inspect.getsource(inspect.getmodule(POLICIES[name])).replace(
        "from ..global_scheduler import BaseGlobalScheduler", "from glia.simulator import BaseGlobalScheduler")
    path = Path(tempfile.mkdtemp(prefix="glia-isolation-")) / f"{name}_file.py"
    path.write_text(src)
    return f"{path}:{POLICIES[name].__name__}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="one repetition, two seeds")
    args = ap.parse_args()
    rep = 1 if args.quick else 3
    seeds = list(range(2 if args.quick else 5))
    cfg = get_preset("paper-routing")
    full = confine.available()
    bare = dataclasses.replace(full, landlock_abi=0, userns=False, pidns=False, seccomp=False)
    print(f"machine: {os.cpu_count()} cores; isolation available: {full.level}")
    run_seeds(cfg, "llq", [0])  # start the process server before timing

    print(f"\n1. one seed of paper-routing (seed 0), median of {rep}")
    print(f"{'policy':<8}{'in-process':>12}{'process, unconfined':>21}{'confined':>10}{'hardened':>10}")
    per_seed = {}
    files = {name: as_file(name) for name in ("llq", "hra")}  # the isolated columns run them as files
    for name in ("llq", "hra"):
        row = [timed(lambda n=name: simulate_seed(cfg, n, 0), rep)]
        confine._CACHED = bare
        row.append(timed(lambda n=name: run_seeds(cfg, files[n], [0], allow_unconfined=True), rep))
        confine._CACHED = full
        row.append(timed(lambda n=name: run_seeds(cfg, files[n], [0]), rep))
        row.append(timed(lambda n=name: run_seeds(cfg, files[n], [0], hardened=True), rep))
        per_seed[name] = row
        print(f"{name:<8}" + "".join(f"{v:>{w}.2f} s" for v, w in zip(row, (10, 19, 8, 8), strict=True)))

    print(f"\n2. {len(seeds)} seeds of paper-routing through run_seeds on all cores (wall)")
    print(f"{'policy':<8}{'process, unconfined':>21}{'confined':>10}{'hardened':>10}{'hardened per seed':>19}")
    for name in ("llq", "hra"):
        confine._CACHED = bare
        unconfined = timed(lambda n=name: run_seeds(cfg, files[n], seeds, allow_unconfined=True), 1)
        confine._CACHED = full
        confined = timed(lambda n=name: run_seeds(cfg, files[n], seeds), 1)
        start = time.perf_counter()
        outs = run_seeds(cfg, files[name], seeds, hardened=True)
        hardened = time.perf_counter() - start
        errors = [o.error for o in outs if o.error]
        print(f"{name:<8}{unconfined:>19.2f} s{confined:>8.2f} s{hardened:>8.2f} s"
              f"{statistics.mean(o.wall_s for o in outs):>17.2f} s{'  ERRORS: ' + str(errors) if errors else ''}")

    print(f"\n3. start-up cost of confinement (median of {5 * rep})")
    os_s, hook_s = confinement_startup(5 * rep)
    print(f"confining a forked process (userns + Landlock + seccomp + limits): {os_s * 1e3:.1f} ms; "
          f"audit hook and facades: {hook_s * 1e3:.1f} ms")
    with tempfile.TemporaryDirectory() as ws:
        plain = timed(lambda: subprocess.run(["bash", "-c", "true"], cwd=ws, check=True), 5 * rep)
        confined_shell = timed(lambda: shell(Path(ws), "true"), 5 * rep)
    print(f"a shell command ('true'): plain bash {plain * 1e3:.1f} ms; confined (launcher, namespaces, Landlock, "
          f"seccomp) {confined_shell * 1e3:.1f} ms")
    probe = timed(lambda: confine.available(refresh=True), rep)
    print(f"detecting the isolation available (once per process): {probe * 1e3:.1f} ms")

    print("\n4. ratios")
    for name, (inproc, unconf, conf, hard) in per_seed.items():
        print(f"{name}: confined / unconfined process {conf / unconf:.2f}x; hardened / confined {hard / conf:.2f}x; "
              f"confined / in-process {conf / inproc:.2f}x")


if __name__ == "__main__":
    main()
