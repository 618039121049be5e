"""``glia stack``: a router, a batch policy and an autoscaler composed, against the standard stack (vLLM's
first-come-first-served admission, least-loaded-queue routing and the benchmark's throughput-threshold autoscaler),
each layer replaced in turn and then all together, over seeds with 90 % CIs: GPU-hours and latency side by side, as a
Markdown table and a plot (the paper's Fig. 4).

Results are kept in ``OUT/stack.json`` as each row finishes, so an interrupted comparison resumes where it stopped;
a row is keyed by what it measures (each layer's policy by content, the benchmark's identity), so an edited policy
file or another simulator is measured again, never read back.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from glia.graph.experiments.plots import bar_panels
from glia.simulator.harness.workspace import DEFAULT_WORKSPACE
from glia.simulator.policy.layers import LAYERS
from glia.simulator.presets import PRESETS, get_preset

if TYPE_CHECKING:  # the command's arguments need none of these: imported where used
    from glia.graph.experiments.designs import Design

LAYER_ORDER = tuple(LAYERS)   # the stack's order
FIGURES = ("gpu_hours", "p95_slowdown", "mean_e2e_s", "p95_e2e_s", "restart_fraction")


@dataclass(frozen=True)
class StackRow:
    """One stack to measure: a label and the policy of each layer."""

    label: str
    layers: dict[str, Design]

    def key(self, workload: str, seeds: list[int]) -> str:
        """What the row measures: each layer's policy by content (an edited file is another design) and the
        benchmark's identity (the resolved workload, the seeds, the simulator's version)."""
        from glia.tools.identity import benchmark_key, policy_identity
        return json.dumps({"benchmark": benchmark_key(workload, seeds, layer=None),
                           **{lay: policy_identity(self.layers[lay].spec, lay) for lay in LAYER_ORDER}},
                          sort_keys=True)


def run_benchmark(*args, **kwargs):
    """The simulator's ``run_benchmark``, imported when a row is measured."""
    from glia.simulator.harness.runner import run_benchmark as run
    return run(*args, **kwargs)


def standard_stack(workload: str) -> dict[str, Design]:
    from glia.graph.experiments.designs import Design
    cfg = get_preset(workload)
    if cfg.autoscaler is None:
        raise ValueError(f"workload {workload!r} has no autoscaling platform; the stack needs one (e.g. "
                         "autoscale-sinusoid)")
    return {"router": Design("llq", "llq", "router"), "batch": Design("fcfs", "fcfs", "batch"),
            "autoscaler": Design(cfg.autoscaler.policy, cfg.autoscaler.policy, "autoscaler")}


def stack_rows(standard: dict[str, Design], replacements: dict[str, Design]) -> list[StackRow]:
    """The standard stack, each given layer replaced in turn, and (with two or more) all of them at once."""
    rows = [StackRow("standard", dict(standard))]
    for lay in LAYER_ORDER:
        if lay in replacements:
            rows.append(StackRow(f"{lay} replaced", {**standard, lay: replacements[lay]}))
    if len(replacements) > 1:
        rows.append(StackRow("all replaced" if len(replacements) == 3 else "given layers replaced",
                             {**standard, **replacements}))
    return rows


def measure(rows: list[StackRow], workload: str, seeds: list[int], cache: Path, jobs: int | None = None,
            timeout_s: float = 600.0, memory_mb: int = 4096, progress=None) -> list[dict]:
    """Each row's figures (mean and CI per metric, or an error), reusing rows already in ``cache``."""
    from glia.simulator.metrics import jsonable
    stored = json.loads(cache.read_text()) if cache.is_file() else {}
    out = []
    for row in rows:
        key = row.key(workload, seeds)  # CACHE: glia stack's rows in OUT/stack.json, by StackRow.key
        if key not in stored:
            res = run_benchmark(row.layers["router"].spec, workload, seeds, jobs=jobs, timeout_s=timeout_s,
                                memory_mb=memory_mb, batch=row.layers["batch"].spec,
                                autoscaler=row.layers["autoscaler"].spec)
            stored[key] = jsonable({"metrics": {m: {"mean": res.metrics[m]["mean"], "ci90": res.metrics[m]["ci90"]}
                                                for m in FIGURES if m in res.metrics},
                                    "error": res.error, "wall_s": res.wall_s})
            cache.parent.mkdir(parents=True, exist_ok=True)
            cache.write_text(json.dumps(stored, indent=1))
        if progress:
            progress(row, stored[key])
        out.append({"label": row.label, **{lay: row.layers[lay].name for lay in LAYER_ORDER}, **stored[key]})
    return out


def _cell(r: dict, m: str, digits: int = 2) -> tuple[str, str]:
    from glia.simulator.metrics import fmt
    f = r["metrics"].get(m)
    if not f:
        return "-", "-"
    lo, hi = f["ci90"]
    return fmt(f["mean"], digits), f"[{fmt(lo, digits)}, {fmt(hi, digits)}]"


def markdown(results: list[dict], workload: str, seeds: list[int], slo: tuple[str, float]) -> str:
    metric, bound = slo
    base = results[0]["metrics"].get("gpu_hours", {}).get("mean")
    lines = [f"Stack comparison on `{workload}`, seeds {seeds}: means over seeds with 90 % bootstrap CIs; "
             f"`{metric} <= {bound:g}` is the latency bound.", "",
             "| stack | router | batch | autoscaler | GPU-hours | 90 % CI | vs standard | p95 slowdown | 90 % CI | "
             "mean e2e (s) | p95 e2e (s) | meets bound |",
             "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for r in results:
        if r.get("error") and not r["metrics"]:
            lines.append(f"| {r['label']} | {r['router']} | {r['batch']} | {r['autoscaler']} | error: "
                         f"{r['error']['kind']}: {r['error']['message'][:100]} |")
            continue
        gh, gh_ci = _cell(r, "gpu_hours")
        sl, sl_ci = _cell(r, "p95_slowdown")
        mean = r["metrics"].get("gpu_hours", {}).get("mean")
        change = f"{100 * (mean / base - 1):+.1f} %" if base and mean is not None else "-"
        value = r["metrics"].get(metric, {}).get("mean")
        meets = "-" if value is None else "yes" if value <= bound else f"no ({value:.2f})"
        lines.append(f"| {r['label']} | {r['router']} | {r['batch']} | {r['autoscaler']} | {gh} | {gh_ci} | {change} | "
                     f"{sl} | {sl_ci} | {_cell(r, 'mean_e2e_s')[0]} | {_cell(r, 'p95_e2e_s')[0]} | {meets} |")
    return "\n".join(lines) + "\n"


def plot(results: list[dict], path: Path, slo: tuple[str, float]) -> None:
    """GPU-hours and p95 slowdown per stack, with their CIs and the latency bound."""
    ok = [r for r in results if r["metrics"]]
    panels = []
    for m, title, line in (("gpu_hours", "GPU-hours", None), ("p95_slowdown", "p95 slowdown", slo[1])):
        panels.append((title, [r["metrics"][m]["mean"] for r in ok], [r["metrics"][m]["ci90"] for r in ok], line))
    bar_panels([r["label"] for r in ok], panels, path, "Serving stack: each layer replaced, then all")


def add_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("stack", help="a router, a batch policy and an autoscaler against the standard stack "
                                     "(GPU-hours and latency, table and plot)")
    for lay, example in (("router", "hra"), ("batch", "spf"), ("autoscaler", "queue")):
        p.add_argument(f"--{lay}", default=None, metavar="NAME|PATH.py|run:THREAD",
                       help=f"the {lay} to put in the stack (e.g. {example}, a file, or an earlier run's best design)")
    p.add_argument("--workload", default="autoscale-sinusoid", choices=sorted(n for n, (_, c) in PRESETS.items()
                                                                            if c.autoscaler is not None))
    p.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 (default 5)")
    p.add_argument("--slo", default="p95_slowdown<=5", help="the latency bound the table checks (METRIC<=X)")
    p.add_argument("--jobs", type=int, default=None, help="parallel processes (default: all cores)")
    p.add_argument("--timeout", type=float, default=600.0, help="wall-clock limit per seed, seconds")
    p.add_argument("--workspace", default=DEFAULT_WORKSPACE, help="where earlier runs are (for run:THREAD)")
    p.add_argument("--out", default=None, help="output directory (default: WORKSPACE/stack)")
    p.add_argument("--no-plot", action="store_true", help="no PNG (the plot needs the 'plots' extra: matplotlib)")
    p.add_argument("--json", action="store_true", help="print the results as one JSON object")
    p.set_defaults(func=cmd_stack)


def parse_slo(text: str) -> tuple[str, float]:
    metric, sep, bound = text.partition("<=")
    if not sep:
        raise ValueError(f"--slo takes METRIC<=X, got {text!r}")
    try:
        return metric.strip(), float(bound)
    except ValueError:
        raise ValueError(f"--slo takes METRIC<=X, got {text!r}") from None


def cmd_stack(args) -> int:
    from glia.graph.experiments.designs import resolve_design
    from glia.simulator.metrics import fmt
    replacements = {lay: resolve_design(getattr(args, lay), lay, args.workspace)
                    for lay in LAYER_ORDER if getattr(args, lay)}
    if not replacements:
        raise ValueError("name at least one layer to replace: --router, --batch and/or --autoscaler")
    if args.seeds < 1:
        raise ValueError(f"--seeds must be >= 1, got {args.seeds}")
    slo = parse_slo(args.slo)
    seeds = list(range(args.seeds))
    out = Path(args.out or Path(args.workspace) / "stack")
    rows = stack_rows(standard_stack(args.workload), replacements)

    def progress(row: StackRow, res: dict) -> None:
        if not args.json:
            g = res["metrics"].get("gpu_hours", {}).get("mean")
            print(f"[stack] {row.label}: GPU-hours {fmt(g)}" + (f", error {res['error']['kind']}"
                                                                 if res.get("error") else ""), file=sys.stderr)

    results = measure(rows, args.workload, seeds, out / "stack.json", jobs=args.jobs, timeout_s=args.timeout,
                      progress=progress)
    table = markdown(results, args.workload, seeds, slo)
    (out / "stack.md").write_text(table)
    png = None
    if not args.no_plot:
        png = out / "stack.png"
        try:
            plot(results, png, slo)
        except ImportError as exc:
            print(f"no plot: {exc}", file=sys.stderr)
            png = None
    if args.json:
        print(json.dumps({"workload": args.workload, "seeds": seeds, "rows": results, "table": str(out / "stack.md"),
                          "plot": str(png) if png else None}))
    else:
        print(table)
        print(f"table: {out / 'stack.md'}" + (f"; plot: {png}" if png else ""))
    return 1 if any(r.get("error") for r in results) else 0
