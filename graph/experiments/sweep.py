"""``glia sweep``: throughput against a latency constraint (the paper's Fig. 6). For a chosen design and the
baselines of its layer, the benchmark is run at increasing load (a workload parameter: users of a closed loop, or
QPS), and each design's highest load that meets the constraint is reported with the throughput it reaches there,
as a Markdown table and a plot of the constrained metric against the load.

Results are kept in ``OUT/sweep.json`` as each point finishes, so an interrupted sweep resumes where it stopped; a
point is keyed by the design by content and the benchmark's identity (the resolved workload at that load, the seeds,
the fixed policies by content, the simulator's version), so an edited file is measured again.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from glia.graph.experiments.plots import line_plot
from glia.simulator.harness.workspace import DEFAULT_WORKSPACE
from glia.simulator.presets import PRESETS, get_preset

if TYPE_CHECKING:  # the command's arguments need none of these: imported where used
    from glia.graph.experiments.designs import Design

DEFAULT_VALUES = {"users": [100, 150, 200, 250, 300, 350, 400], "qps": None}


def load_parameter(workload: str) -> str:
    """The parameter that sets a preset's load: ``users`` for a closed loop, ``qps`` otherwise."""
    params = get_preset(workload).workload.params
    for name in ("users", "qps"):
        if name in params:
            return name
    raise ValueError(f"workload {workload!r} has no load parameter (users or qps) to sweep")


def with_load(workload: str, param: str, value: float):
    cfg = get_preset(workload)
    if param not in cfg.workload.params:
        raise ValueError(f"workload {workload!r} has no parameter {param!r}; it has "
                         f"{', '.join(cfg.workload.params)}")
    value = int(value) if param == "users" else float(value)
    wl = dataclasses.replace(cfg.workload, params={**cfg.workload.params, param: value})
    return cfg.replace(workload=wl)


def sweep(designs: list[Design], workload: str, param: str, values: list[float], seeds: list[int], metric: str,
          bound: float, fixed: dict, cache: Path, jobs: int | None = None, timeout_s: float = 600.0,
          progress=None) -> list[dict]:
    """Each design at each load: the constrained metric (mean and CI) and the throughput."""
    from glia.simulator.harness.runner import run_benchmark
    from glia.simulator.metrics import jsonable
    from glia.tools.identity import benchmark_key, policy_identity
    stored = json.loads(cache.read_text()) if cache.is_file() else {}
    out = []
    for d in designs:
        points = []
        for v in values:
            stack = {"router": None, "batch": None, "autoscaler": None, **fixed, d.layer: d.spec}
            config = with_load(workload, param, v)
            # CACHE: glia sweep's points in OUT/sweep.json, by the design by content and the benchmark's identity
            key = json.dumps({"program": policy_identity(d.spec, d.layer),
                              "benchmark": benchmark_key(config, seeds, fixed, d.layer)}, sort_keys=True)
            if key not in stored:
                res = run_benchmark(stack["router"], config, seeds, jobs=jobs,
                                    timeout_s=timeout_s, batch=stack["batch"], autoscaler=stack["autoscaler"])
                stored[key] = jsonable({m: {"mean": res.metrics[m]["mean"], "ci90": res.metrics[m]["ci90"]}
                                        for m in (metric, "throughput_rps") if m in res.metrics}
                                       | {"error": res.error})
                cache.parent.mkdir(parents=True, exist_ok=True)
                cache.write_text(json.dumps(stored, indent=1))
            point = {"value": v, **stored[key]}
            points.append(point)
            if progress:
                progress(d, point)
        out.append({"design": d.name, "points": points, **capacity(points, metric, bound)})
    return out


def capacity(points: list[dict], metric: str, bound: float) -> dict:
    """The highest load up to which every point meets the bound, and the throughput there (None if even the
    lowest load breaks it)."""
    best = None
    for p in sorted(points, key=lambda p: p["value"]):
        m = p.get(metric)
        if p.get("error") or not m or m["mean"] is None or m["mean"] > bound:
            break
        best = p
    return {"max_load": best["value"] if best else None,
            "throughput_at_max": (best.get("throughput_rps") or {}).get("mean") if best else None}


def markdown(results: list[dict], workload: str, param: str, seeds: list[int], metric: str, bound: float) -> str:
    from glia.simulator.metrics import fmt
    values = [p["value"] for p in results[0]["points"]] if results else []
    lines = [f"Throughput against `{metric} <= {bound:g}` on `{workload}` ({param} swept; seeds {seeds}; means over "
             "seeds).", "",
             f"| design | highest {param} meeting the bound | throughput there (req/s) | "
             + " | ".join(f"{metric} at {v:g}" for v in values) + " |",
             "| --- | ---: | ---: |" + " ---: |" * len(values)]
    for r in results:
        cells = []
        for p in r["points"]:
            m = p.get(metric)
            cells.append("error" if p.get("error") and not m else fmt(m["mean"], 3) if m else "-")
        top = "none" if r["max_load"] is None else f"{r['max_load']:g}"
        lines.append(f"| {r['design']} | {top} | {fmt(r['throughput_at_max'])} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(results: list[dict], path: Path, param: str, metric: str, bound: float, workload: str) -> None:
    series = {}
    for r in results:
        pts = [p for p in r["points"] if p.get(metric)]
        series[r["design"]] = ([p["value"] for p in pts], [p[metric]["mean"] for p in pts],
                               [p[metric]["ci90"] for p in pts])
    line_plot(series, path, param, metric, bound, f"{metric} against load on {workload}")


def add_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sweep", help="throughput against a latency constraint: each design's highest load meeting it")
    p.add_argument("--task", default="slo-routing", help="the task whose workload, constraint, layer and baselines "
                                                         "the sweep uses (default slo-routing)")
    p.add_argument("--design", action="append", default=[], metavar="NAME|PATH.py|run:THREAD",
                   help="a design to sweep beside the task's baselines (repeatable)")
    p.add_argument("--baselines", default=None, help="comma-separated baselines instead of the task's")
    p.add_argument("--workload", default=None, help="preset to load (default: the task's)")
    p.add_argument("--param", default=None, help="the load parameter (default: users for a closed loop, else qps)")
    p.add_argument("--values", default=None, help="comma-separated loads (default for users: 100,150,...,400)")
    p.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 (default 3)")
    p.add_argument("--jobs", type=int, default=None, help="parallel processes (default: all cores)")
    p.add_argument("--timeout", type=float, default=600.0, help="wall-clock limit per seed, seconds")
    p.add_argument("--workspace", default=DEFAULT_WORKSPACE, help="where earlier runs are (for run:THREAD)")
    p.add_argument("--out", default=None, help="output directory (default: WORKSPACE/sweep)")
    p.add_argument("--no-plot", action="store_true", help="no PNG (the plot needs the 'plots' extra: matplotlib)")
    p.add_argument("--json", action="store_true", help="print the results as one JSON object")
    p.set_defaults(func=cmd_sweep)


def cmd_sweep(args) -> int:
    from glia.graph.experiments.designs import resolve_design
    from glia.simulator.metrics import RUN_METRICS, fmt
    from glia.state import load_task
    from glia.state.tasks.task import layer_of
    task = load_task(args.task)
    c = task["objective"].get("constraint")
    if not c or c.get("max") is None:
        raise ValueError(f"task {task['name']} has no upper-bound constraint to sweep against")
    metric, bound = c["metric"], c["max"]
    if metric not in RUN_METRICS:
        raise ValueError(f"unknown metric {metric!r}")
    layer = layer_of(task)
    workload = args.workload or task["benchmark"]["workload"]
    if workload not in PRESETS:
        raise ValueError(f"unknown workload preset {workload!r}; `glia presets` lists them")
    param = args.param or load_parameter(workload)
    values = ([float(v) for v in args.values.split(",")] if args.values else DEFAULT_VALUES.get(param))
    if not values:
        raise ValueError(f"give the loads to sweep with --values (parameter {param})")
    names = args.baselines.split(",") if args.baselines else task["benchmark"]["baselines"]
    designs = [resolve_design(n, layer, args.workspace) for n in names + args.design]
    if args.seeds < 1:
        raise ValueError(f"--seeds must be >= 1, got {args.seeds}")
    seeds = list(range(args.seeds))
    fixed = {k: v for k, v in task.get("stack", {}).items() if v}
    out = Path(args.out or Path(args.workspace) / "sweep")

    def progress(d: Design, point: dict) -> None:
        if not args.json:
            m = point.get(metric) or {}
            print(f"[sweep] {d.name} at {param}={point['value']:g}: {metric} {fmt(m.get('mean'))}", file=sys.stderr)

    results = sweep(designs, workload, param, sorted(values), seeds, metric, bound, fixed, out / "sweep.json",
                    jobs=args.jobs, timeout_s=args.timeout, progress=progress)
    table = markdown(results, workload, param, seeds, metric, bound)
    out.mkdir(parents=True, exist_ok=True)
    (out / "sweep.md").write_text(table)
    png = None
    if not args.no_plot:
        png = out / "sweep.png"
        try:
            plot(results, png, param, metric, bound, workload)
        except ImportError as exc:
            print(f"no plot: {exc}", file=sys.stderr)
            png = None
    if args.json:
        print(json.dumps({"workload": workload, "param": param, "metric": metric, "bound": bound, "seeds": seeds,
                          "designs": results, "table": str(out / "sweep.md"), "plot": str(png) if png else None}))
    else:
        print(table)
        print(f"table: {out / 'sweep.md'}" + (f"; plot: {png}" if png else ""))
    return 0
