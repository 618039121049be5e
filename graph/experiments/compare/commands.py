"""``glia compare``: methods x repeated runs x a budget on one task, with progress as it goes. The arguments need
only the methods' names; the comparison is imported when it runs."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from glia.graph.commands import _impls, add_executor_options
from glia.graph.experiments.compare.names import METHODS
from glia.graph.stopping import EXIT_CODE, drive
from glia.simulator.harness.workspace import DEFAULT_WORKSPACE


def add_commands(sub: argparse._SubParsersAction) -> None:
    c = sub.add_parser("compare", help="Glia against baseline methods on one evaluator and budget: curves, "
                                       "MCG-Par4/Seq, held-out seeds, a report")
    c.add_argument("--task", default="routing", help="built-in task name or a task .toml file")
    c.add_argument("--methods", default=None,
                   help=f"comma-separated, from {', '.join(METHODS)} (default with a model: glia,best_shot,"
                        "openevolve,offline; without: offline)")
    c.add_argument("--runs", type=int, default=3, help="repeated runs per method")
    c.add_argument("--budget-sims", type=int, default=10, help="simulations per run")
    c.add_argument("--model", default=None, help="chat model name (default: $GLIA_MODEL)")
    c.add_argument("--base-url", default=None, help="OpenAI-compatible endpoint (default: $OPENAI_BASE_URL)")
    c.add_argument("--impl", action="append", default=[], metavar="ROLE=NAME",
                   help="Glia's runs: one role's implementation (e.g. analyst=offline; default: every role on the "
                        "model); the report lists what ran")
    c.add_argument("--endpoint", action="append", default=[], metavar="ROLE.KEY=VALUE",
                   help="Glia's runs: how a role talks to the endpoint (as in glia run, e.g. researcher.tools=text)")
    c.add_argument("--no-heldout", action="store_true", help="skip the re-measurement on held-out seeds")
    c.add_argument("--wall-clock-s", type=float, default=None,
                   help="wall-clock budget of each run, every method alike (default: the task's)")
    c.add_argument("--id", default=None, help="the comparison's id (default: generated)")
    c.add_argument("--resume", default=None, metavar="ID", help="continue an interrupted comparison")
    c.add_argument("--report", default=None, metavar="ID",
                   help="write the report of a comparison from the runs that finished, running no more")
    c.add_argument("--workspace", default=DEFAULT_WORKSPACE)
    c.add_argument("--json", action="store_true", help="print one JSON object at the end")
    c.add_argument("--quiet", action="store_true", help="no progress lines")
    add_executor_options(c)
    c.set_defaults(func=cmd_compare)


def progress(quiet: bool):
    started = time.monotonic()
    noun = ["simulation"]  # "evaluation" once the comparison says it is on a program task

    def say(text: str) -> None:
        if not quiet:
            print(f"[{time.monotonic() - started:7.0f} s] {text}", file=sys.stderr, flush=True)

    def on_event(e: dict) -> None:
        kind = e.get("event")
        if kind == "baseline":
            say(f"baseline {e['policy']}: " + (f"error {e['error']['kind']}" if e.get("error") else
                                               f"{e['value']:.3f}"))
        elif kind == "timeout":
            if e.get("program"):
                noun[0] = "evaluation"
                say(f"timeout per evaluation of a program: {e['seconds']:g} s of wall time (the evaluator and the "
                    "program together)")
            elif e.get("cpu_s") is None:
                say(f"timeout per seed of a candidate: {e['seconds']:g} s of wall time (no CPU budget)")
            else:
                say(f"CPU budget per seed of a candidate: {e['cpu_s']:g} s ({e['basis']}), enforced by the kernel; "
                    f"wall-clock cap {e['seconds']:g} s")
        elif kind == "unit_start":
            say(f"{e['unit']}: starting ({e['used']} of {e['budget']} {noun[0]}s used)")
        elif kind == "evaluation":
            res = (f"error {e['error']['kind']}" if e.get("error") else
                   f"{e['value']:.3f}" if e.get("value") is not None else e.get("status"))
            say(f"{e['unit']}: {noun[0]} {e['used']}/{e['budget']} {str(e.get('label') or '')[:60]} -> {res}")
        elif kind == "no_program":
            say(f"{e['unit']}: the reply held no program (no {noun[0]} charged)")
        elif kind == "unit_end":
            best = f"{e['value']:.3f}" if e.get("value") is not None else "no valid design"
            say(f"{e['unit']}: done, {e['sims_used']} {noun[0]}s, best {best}")
        elif kind == "heldout":
            say(f"re-measuring the {e['what']} " + ("with the evaluator's held-out and shifted variants"
                                                    if noun[0] == "evaluation" else
                                                    "on held-out seeds and the shifted workload"))
        elif kind == "paused":
            say(f"{e['unit']}: paused: {e['message']}")
    return on_event


def cmd_compare(args) -> int:
    from glia.graph.experiments.compare.runner import CompareConfig, resume_compare, start_compare
    on_event = progress(args.quiet or args.json)
    if args.resume or args.report:
        compare_id = args.resume or args.report
        outcome = _stoppable(compare_id, lambda: resume_compare(compare_id, args.workspace, on_event=on_event,
                                                                report_only=bool(args.report)))
    else:
        methods = [m.strip() for m in args.methods.split(",") if m.strip()] if args.methods else None
        model = args.model or os.environ.get("GLIA_MODEL")
        config = CompareConfig.build(args.task, methods_=methods, runs=args.runs, budget=args.budget_sims,
                                     model=model, base_url=args.base_url or os.environ.get("OPENAI_BASE_URL"),
                                     workspace=args.workspace, compare_id=args.id, executor=args.executor,
                                     ray_address=args.ray_address, heldout=not args.no_heldout,
                                     wall_clock_s=args.wall_clock_s, glia_impl=_impls(args.impl),
                                     endpoint=args.endpoint)
        outcome = _stoppable(config.compare_id, lambda: start_compare(config, on_event=on_event))
    if outcome is None:
        return EXIT_CODE
    data = outcome.to_json()
    if args.json:
        print(json.dumps(data, default=str))
    else:
        print("\n".join(summary_lines(data)))
    from glia.simulator.harness import interrupt
    if interrupt.requested():
        return EXIT_CODE
    return 0 if outcome.status in ("finished", "partial") else 1


def summary_lines(data: dict) -> list[str]:
    """What a comparison prints on stdout at its end: its status, a line per method, the report's path."""
    noun = "evaluations" if data.get("program") else "sims"
    lines = [f"comparison {data['compare_id']}: {data['status']} {data['message']}".rstrip()]
    for m in data["methods"].values():
        s, h = m["search"], m["heldout"]
        lines.append(f"{m['name']:<40} search {s['mean'] if s['n'] else float('nan'):8.3f}  held-out "
                     f"{h['mean'] if h['n'] else float('nan'):8.3f}  ({m['runs']} runs, {m['sims_used']:.1f} {noun}, "
                     f"{m['wall_s']:.0f} s, {m['tokens']:.0f} tokens per run)")
    if data.get("report"):
        lines.append(f"report: {data['report']}")
    return lines


def _stoppable(compare_id: str, go):
    """A comparison under Ctrl-C's rules (``stopping.drive``): the unit in flight stops, its evaluation in flight is
    discarded (not charged), and ``glia compare --resume`` continues it; None when it stopped before it could say
    so itself."""
    resume = f"glia compare --resume {compare_id}"

    def abandoned() -> None:
        print(f"comparison {compare_id}: paused: interrupted; `{resume}` continues")

    try:
        return drive(go, resume, abandoned)
    except KeyboardInterrupt:
        abandoned()
        return None
