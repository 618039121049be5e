"""The serving figures on real servers: llq, round_robin and hra behind the router over two llama-cpp-python servers
(SmolLM2-135M, one thread each) under the same replayed load, the calibrated simulator beside them, and a run in
which one server is killed mid-run, with ``glia route`` and ``glia loadgen`` as a user would run them.

Run: ``python -m benchmarks.sim_to_real_llama [--requests 60] [--repeats 2] [--workspace DIR]``; it starts its
servers on ports 8801-8802 and the router on 8800, prints the tables and writes them under WORKSPACE/sim-to-real/.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import duckdb

from glia.graph.serving.loadgen import plan_workload
from glia.graph.serving.simtoreal import sim_to_real, write_outputs
from tests.support.llama_servers import LlamaServers

PLAN = {"workload": "paper-routing", "seed": 0, "length_scale": 0.2, "max_prompt": 800, "max_output": 64,
        "time_scale": 6.25}


def plan_args(requests: int) -> list[str]:
    return ["--workload", PLAN["workload"], "--seed", str(PLAN["seed"]), "--max-requests", str(requests),
            "--length-scale", str(PLAN["length_scale"]), "--max-prompt", str(PLAN["max_prompt"]),
            "--max-output", str(PLAN["max_output"]), "--time-scale", str(PLAN["time_scale"])]


def killed_run(servers: LlamaServers, workspace: Path, requests: int, kill_after_s: float, calibration: Path) -> dict:
    """``glia route --policy hra`` and ``glia loadgen`` as processes; server 1 gets SIGKILL ``kill_after_s`` into the
    load. Returns the load generator's JSON summary and what the router recorded."""
    glia = [sys.executable, "-m", "glia.graph.cli"]
    router = subprocess.Popen(glia + ["route", "--policy", "hra", "--port", "8800", "--workspace", str(workspace),
                                      "--calibration", str(calibration)]
                              + sum((["--backend", u] for u in servers.urls), []),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for line in router.stdout:
            print("  route:", line.rstrip())
            if line.startswith("glia route:"):
                run_id = line.rsplit("run ", 1)[1].rstrip(")\n")
                break
        load = subprocess.Popen(glia + ["loadgen", "--target", "http://127.0.0.1:8800", "--json", "--no-progress",
                                        "--workspace", str(workspace), "--calibration", str(calibration)]
                                + plan_args(requests),
                                stdout=subprocess.PIPE, text=True)
        time.sleep(kill_after_s)
        servers.kill(1)
        print(f"  killed server 1 ({servers.urls[1]}) {kill_after_s:g} s into the load")
        out, _ = load.communicate(timeout=900)
    finally:
        router.terminate()
        rest, _ = router.communicate(timeout=60)
    for line in rest.splitlines():
        print("  route:", line)
    summary = json.loads(out.strip().splitlines()[-1])
    con = duckdb.connect(str(workspace / "telemetry.duckdb"), read_only=True)
    try:
        summary["router_records"] = con.execute(
            "SELECT count(*), sum(num_restarts > 0), sum(wasted_tokens) FROM requests WHERE run_id = ?",
            [run_id]).fetchone()
        summary["router_outcomes"] = con.execute(
            "SELECT status, count(*) FROM served_requests WHERE run_id = ? GROUP BY 1", [run_id]).fetchall()
        summary["router_events"] = dict(con.execute(
            "SELECT kind, count(*) FROM scheduling_events WHERE run_id = ? GROUP BY 1", [run_id]).fetchall())
    finally:
        con.close()
    return summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--requests", type=int, default=60)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--workspace", type=Path, default=Path("glia-workspace"))
    ap.add_argument("--skip-kill", action="store_true")
    args = ap.parse_args()
    plan = plan_workload(PLAN["workload"], PLAN["seed"], args.requests, None, PLAN["time_scale"],
                         PLAN["length_scale"], PLAN["max_prompt"], PLAN["max_output"])
    print(f"plan: {len(plan)} requests over {plan.arrivals[-1]:.1f} s; prompt mean {plan.prefill.mean():.0f} "
          f"(max {plan.prefill.max()}), output mean {plan.decode.mean():.0f} (max {plan.decode.max()}) tokens")
    telemetry = args.workspace / "telemetry.duckdb"
    with LlamaServers(2, base_port=8801) as servers:
        t0 = time.monotonic()
        runs, agree, setup = asyncio.run(sim_to_real(servers.urls, ["llq", "round_robin", "hra"], plan, telemetry,
                                                     repeats=args.repeats))
        out = write_outputs(args.workspace / "sim-to-real" / time.strftime("%Y%m%d-%H%M%S"), runs, agree, setup)
        print(out.read_text())
        print(f"calibration: {json.dumps(setup['calibration'])}")
        print(f"sim-to-real took {time.monotonic() - t0:.0f} s; written to {out.parent}")
        if not args.skip_kill:
            print("\nkilled-backend run (glia route --policy hra + glia loadgen, server 1 killed mid-run):")
            print(json.dumps(killed_run(servers, args.workspace, args.requests, 15.0, out.parent / "calibration.json"),
                             indent=1))


if __name__ == "__main__":
    main()
