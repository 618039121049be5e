"""What a policy of each layer costs the simulator: one seed on one core with built-in policies against the same
policies as files (behind the contract checks) and against the designs the offline researcher writes. Prints
figures; asserts nothing.

    python -m benchmarks.stack_layers [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from glia.nodes.heuristic.autoscaler_designs import AutoscalerDesign
from glia.nodes.heuristic.batch_designs import BatchDesign
from glia.simulator import Simulation, get_preset
from glia.simulator.policy.builtin import POLICIES


def timed(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def row(label: str, config, router: str, repeat: int) -> None:
    wall, run = timed(lambda: Simulation(config, POLICIES[router], seed=0).run(), repeat)
    n = len(run.requests["request_id"])
    print(f"{label:<58}{n:>9}{wall:>8.2f}{wall / n * 1e6:>11.1f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="one repetition")
    rep = 1 if ap.parse_args().quick else 3
    tmp = Path(tempfile.mkdtemp())
    files = {"spf": BatchDesign(order="spf"), "admission": BatchDesign(order="spf", admission=True, growth=0.2)}
    for name, design in files.items():
        (tmp / f"{name}.py").write_text(design.code())
    (tmp / "proportional.py").write_text(AutoscalerDesign(kind="proportional", target=32.0).code())
    print(f"one seed, one core, median of {rep}; simulation only")
    print(f"{'stack':<58}{'requests':>9}{'wall s':>8}{'us/request':>11}")
    paper = get_preset("paper-routing")
    row("paper-routing, llq + fcfs (built-in)", paper, "llq", rep)
    row("paper-routing, llq + spf (built-in)", paper.with_stack(batch="spf"), "llq", rep)
    row("paper-routing, llq + spf (file)", paper.with_stack(batch=str(tmp / "spf.py")), "llq", rep)
    row("paper-routing, llq + spf with admission head-room (file)",
        paper.with_stack(batch=str(tmp / "admission.py")), "llq", rep)
    auto = get_preset("autoscale-sinusoid")
    row("autoscale-sinusoid, llq + fcfs + threshold (built-in)", auto, "llq", rep)
    row("autoscale-sinusoid, llq + fcfs + proportional (file)",
        auto.with_stack(autoscaler=str(tmp / "proportional.py")), "llq", rep)
    slo = get_preset("slo-prefill")
    row("slo-prefill (closed loop, 300 users), llq", slo, "llq", rep)


if __name__ == "__main__":
    main()
