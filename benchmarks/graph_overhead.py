"""Graph overhead per super-step with the SQLite checkpointer, excluding model and simulation time.

The real graph runs with the offline nodes, but simulations and baselines return canned results at once and the
analyst's SQL is replaced by canned findings, so what is timed is LangGraph, checkpointing and the nodes' own logic.

    python -m benchmarks.graph_overhead [--sims 40] [--contexts 1]
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
import time

import glia.nodes.analyst as analyst
import glia.nodes.steps as harness
from glia.graph.config import RunConfig
from glia.graph.runs import start_run
from glia.tools.toolkit import ToolResult

_scores = itertools.cycle([30.0, 28.0, 31.0, 25.0, 26.0, 24.0, 27.0])


def fake_execute(ctx, name, args, call_id, sims_left):
    if name != "run_simulation":
        return ToolResult(f"ok {name}")
    value = next(_scores)
    exp = {"id": f"{ctx.context_id}-{call_id}", "candidate": "policy.py", "snapshot": "policy.py", "hash": "0" * 16,
           "workload": "paper-routing", "seeds": [0], "metrics": {"mean_e2e_s": value, "restart_fraction": 0.1},
           "mean_e2e_ci90": [value - 1, value + 1], "error": None, "wall_s": 0.0, "reused": False,
           "label": args.get("label", ""), "hypothesis": args.get("hypothesis", "")}
    return ToolResult(f'{{"mean_e2e_s": {value:f}}}', False, exp)


def fake_baseline(db, policy, workload, seeds, run_id):
    return {"id": run_id, "policy": policy, "workload": workload, "seeds": seeds,
            "metrics": {"mean_e2e_s": 40.0}, "mean_e2e_ci90": [39.0, 41.0], "error": None}


def fake_diagnose(db, run_id):
    return [{"id": f"{run_id}:{t}", "experiment": run_id, "topic": t, "flagged": True, "text": f"{t} finding",
             "value": 300.0, "sql": ""} for t in ("restarts", "short_prompts_wait", "imbalance", "output_length")]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sims", type=int, default=40)
    ap.add_argument("--contexts", type=int, default=1)
    args = ap.parse_args()
    harness.execute, harness.run_baseline, analyst.diagnose = fake_execute, fake_baseline, fake_diagnose
    updates = 0

    def count(e):
        nonlocal updates
        if e["mode"] == "updates":
            updates += 1

    with tempfile.TemporaryDirectory() as ws:
        start = time.perf_counter()
        out = start_run(RunConfig.build("routing", contexts=args.contexts, budget_sims=args.sims, offline=True,
                                        workspace=ws), on_event=count)
        wall = time.perf_counter() - start
    print(f"status {out.status}; {len(out.state['ledger'])} simulations (canned), {args.contexts} context(s)")
    print(f"node executions (super-step updates, subgraphs included): {updates}")
    print(f"wall {wall:.2f} s -> {1000 * wall / updates:.1f} ms per super-step with the SQLite checkpointer "
          f"(target: at most 20 ms)")


if __name__ == "__main__":
    main()
