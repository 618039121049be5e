"""The workflow's commands: ``glia run``, ``glia resume``, ``glia runs``, ``glia report``, ``glia doctor``. Their
arguments need only names (roles, executors, the default workspace); each command imports the workflow when it runs."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from glia.graph.progress import Progress, duration, objective_text, say
from glia.graph.stopping import EXIT_CODE, drive
from glia.graph.workspace import list_runs
from glia.nodes.roles import ROLES
from glia.simulator.harness.workspace import DEFAULT_WORKSPACE
from glia.tools.executors import EXECUTORS


def add_commands(sub: argparse._SubParsersAction) -> None:
    r = sub.add_parser("run", help="design a policy for a task with the agent workflow")
    r.add_argument("--task", default="routing", help="built-in task name or a task .toml file")
    r.add_argument("--contexts", type=int, default=1, help="independent design contexts (best-of-N)")
    r.add_argument("--mode", choices=("parallel", "sequential"), default="parallel")
    r.add_argument("--budget-sims", type=int, default=None, help="simulations the researchers may run in all")
    r.add_argument("--model", default=None, help="chat model name (default: $GLIA_MODEL; none means offline)")
    r.add_argument("--base-url", default=None, help="OpenAI-compatible endpoint (default: $OPENAI_BASE_URL)")
    r.add_argument("--offline", action="store_true", help="use every node's offline implementation")
    r.add_argument("--impl", action="append", default=[], metavar="ROLE=NAME",
                   help=f"choose one role's implementation ({', '.join(ROLES)}), e.g. analyst=offline")
    r.add_argument("--endpoint", action="append", default=[], metavar="ROLE.KEY=VALUE",
                   help="override how a role talks to its model, e.g. researcher.tools=named_router or "
                        "researcher.max_tokens=6000 (see glia doctor); repeatable")
    r.add_argument("--design-form", choices=("class", "functions"), default=None,
                   help="what the LLM researcher writes: the whole policy class, or small functions called by a fixed "
                        "driver (default: functions where the endpoint takes no native tool calls, else class)")
    r.add_argument("--thread", default=None, help="thread id for the run (default: generated)")
    add_executor_options(r)
    _shared(r)
    r.set_defaults(func=cmd_run)
    s = sub.add_parser("resume", help="continue a checkpointed run")
    s.add_argument("thread")
    s.add_argument("--impl", action="append", default=[], metavar="ROLE=NAME")
    _shared(s)
    s.set_defaults(func=cmd_resume)
    ls = sub.add_parser("runs", help="list the runs in a workspace")
    ls.add_argument("--workspace", default=DEFAULT_WORKSPACE)
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=cmd_runs)
    rp = sub.add_parser("report", help="show a run's report")
    rp.add_argument("thread")
    rp.add_argument("--workspace", default=DEFAULT_WORKSPACE)
    rp.add_argument("--json", action="store_true")
    rp.set_defaults(func=cmd_report)
    d = sub.add_parser("doctor", help="what this machine offers to confine model-written code, and (with a model) "
                                      "what the endpoint's tool calls and structured output support, and the mode "
                                      "each role will use")
    d.add_argument("--model", default=None, help="chat model name (default: $GLIA_MODEL)")
    d.add_argument("--base-url", default=None, help="OpenAI-compatible endpoint (default: $OPENAI_BASE_URL)")
    d.add_argument("--workspace", default=DEFAULT_WORKSPACE, help="where the profile is cached (endpoints.json)")
    d.add_argument("--refresh", action="store_true", help="probe again even if a cached profile exists")
    d.add_argument("--endpoint", action="append", default=[], metavar="ROLE.KEY=VALUE",
                   help="override a mode, e.g. researcher.tools=named_router or all.structured=json_mode")
    d.add_argument("--json", action="store_true", help="print the profile and the modes as one JSON object")
    d.set_defaults(func=cmd_doctor)


def add_executor_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--executor", choices=EXECUTORS, default="local",
                   help="where simulations run: local processes (default) or a Ray cluster (pip install 'glia[ray]')")
    p.add_argument("--ray-address", default=None, metavar="ADDR",
                   help="the Ray cluster to use (default: $RAY_ADDRESS, else a local one)")


def _shared(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workspace", default=DEFAULT_WORKSPACE)
    p.add_argument("--json", action="store_true", help="print one JSON object at the end")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.add_argument("--allow-unconfined", action="store_true",
                   help="run model-written code even where the filesystem or the network cannot be confined "
                        "(also GLIA_ALLOW_UNCONFINED=1); outputs and the report then say so")


def _require_confinement(args) -> None:
    """Refuse before anything runs when model-written code could not be confined (unless allowed)."""
    from glia.simulator.isolation import confine
    if args.allow_unconfined:
        os.environ[confine.ALLOW_ENV] = "1"  # the tools in this process read it
    for kind in ("policy", "shell"):
        confine.require(kind)
    if not args.json and not args.quiet:
        print(confine.describe(), file=sys.stderr)


def _impls(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        role, sep, name = pair.partition("=")
        if not sep:
            raise ValueError(f"--impl takes ROLE=NAME, got {pair!r}")
        out[role.strip()] = name.strip()
    return out


def _finish(outcome, as_json: bool) -> int:
    from glia.nodes.report import seeded_line
    from glia.tools.simulation import describe_check
    data = outcome.to_json()
    if as_json:
        print(json.dumps(data, default=str))
    elif not outcome.state:  # stopped before its first step: the one line says it all
        print(f"run {data['thread_id']}: {'not started' if data['status'] == 'new' else data['status']}: "
              f"{data['message']}")
    else:
        print(f"run {data['thread_id']}: {data['status']}" + (f": {data['message']}" if data["message"] else ""))
        print(f"implementations: {', '.join(f'{k}={v}' for k, v in data['implementations'].items())}")
        program = outcome.state.get("task", {}).get("design", {}).get("layer") == "program"
        print(f"{'evaluations' if program else 'simulations'} used: {data['simulations_used']} of "
              f"{data['simulations_budget']}")
        metric = data.get("objective", "mean_e2e_s")
        for name, b in data["baselines"].items():
            print(f"baseline {name}: {objective_text(metric, b.get(metric))}" + ("" if b.get("feasible", True) else
                  f" (infeasible: +{100 * b['violation']:.1f} %)"))
        if data["best"]:
            print(f"best: {data['best']['label']} -> {objective_text(metric, data['best'].get(metric))} "
                  f"({data['best']['path']})")
            if data["best"].get("hardened"):
                check = data["best"]["hardened"]
                if check.get("fresh_copy"):  # a program task's new best, re-measured in a fresh copy
                    from glia.tools.programs.experiment import describe_confirm
                    print(f"best: {describe_confirm(check)}")
                else:
                    print(f"best: {describe_check(check)}")
        elif data["status"] == "finished":
            print("best: none (no design succeeded or met the task's constraint)")
        line = seeded_line(outcome.state)
        if line and data["status"] == "finished":
            print(line)
        for name, h in data["heldout"].items():
            print("held-out " + name + ": " + "; ".join(
                f"{part} {_value(h[part])}" for part in ("heldout", "shifted") if part in h))
        print(data["isolation"])
        if data["report"]:
            print(f"report: {data['report']}")
    return 0 if outcome.status in ("finished", "paused") else 1


def _value(m: dict) -> str:
    if m.get("error"):
        return f"error {m['error']['kind']}"
    value = next((v for k, v in m.items() if k not in ("seeds", "ci90", "error", "workload")), None)
    where = m.get("workload") or f"{len(m.get('seeds') or [])} seeds"
    return f"{value:.2f} ({where})" if isinstance(value, (int, float)) else f"- ({where})"


def cmd_run(args) -> int:
    from glia.graph.config import RunConfig
    from glia.graph.runs import start_run
    from glia.state import EvaluationSettings, load_task
    _require_confinement(args)
    config = RunConfig.build(args.task, contexts=args.contexts, mode=args.mode, budget_sims=args.budget_sims,
                             implementations=_impls(args.impl), model=args.model, base_url=args.base_url,
                             offline=args.offline, workspace=args.workspace, thread_id=args.thread,
                             endpoint=[*args.endpoint, *([f"researcher.design_form={args.design_form}"]
                                                         if args.design_form else [])],
                             evaluation=EvaluationSettings(args.executor, args.ray_address))
    quiet = args.quiet or args.json
    task = load_task(config.task)
    if not quiet:
        if not config.models:
            print("no model configured (--model or GLIA_MODEL): running every node's offline implementation",
                  file=sys.stderr)
        contexts = f"{config.contexts} contexts ({config.mode})" if config.contexts > 1 else "1 context"
        noun = "evaluations" if task["design"].get("layer") == "program" else "simulations"
        say(f"[run] run {config.thread_id}: task {task['name']}, {config.budget_sims} {noun}, {contexts}, in "
            f"{config.run_dir}; if it stops, `glia resume {config.thread_id}` continues it")
    return _carry(lambda progress: start_run(config, on_event=progress), config.thread_id, args,
                  task["objective"]["metric"])


def cmd_resume(args) -> int:
    from glia.graph.config import RunConfig
    from glia.graph.runs import resume_run
    from glia.state import load_task
    _require_confinement(args)
    config = RunConfig.load(args.thread, args.workspace)
    quiet = args.quiet or args.json
    if not quiet:
        say(f"[run] resuming run {config.thread_id} from its last finished step ({config.run_dir})")
    return _carry(lambda progress: resume_run(args.thread, args.workspace, _impls(args.impl) or None,
                                              on_event=progress),
                  config.thread_id, args, load_task(config.task)["objective"]["metric"])


def _carry(go, thread: str, args, metric: str) -> int:
    """Run ``go(progress)`` (a start or a resume) under Ctrl-C's rules (``stopping.drive``), then say how it ended
    and where its report is; 130 when the user stopped it, 3 when its model endpoint could not serve."""
    started = time.monotonic()
    quiet = args.quiet or args.json

    def abandoned() -> None:
        print(f"run {thread}: paused: interrupted; `glia resume {thread}` continues from its last finished step")

    try:
        outcome = drive(lambda: go(Progress(quiet, metric)), f"glia resume {thread}", abandoned)
    except KeyboardInterrupt:  # before the run's first step (while its endpoint was probed)
        print(f"run {thread}: interrupted before its first step; nothing was recorded; `glia resume {thread}` "
              "starts it")
        return EXIT_CODE
    code = _finish(outcome, args.json)
    if not quiet:
        say(f"[run] {outcome.status} after {duration(time.monotonic() - started)}")
    return EXIT_CODE if outcome.interrupted else 3 if outcome.endpoint_failed else code


def cmd_runs(args) -> int:
    runs = list_runs(args.workspace)
    if args.json:
        print(json.dumps(runs))
        return 0
    for r in runs:
        impl = ",".join(f"{k}={v}" for k, v in r["implementations"].items())
        print(f"{r['thread_id']}  {r['task']}  {r['created_at']}  contexts={r['contexts']} ({r['mode']})  "
              f"budget={r['budget_sims']}  {'finished' if r['finished'] else 'unfinished'}  {impl}")
    if not runs:
        print(f"no runs in {args.workspace}")
    return 0


def cmd_report(args) -> int:
    from glia.graph.runs import run_state
    outcome = run_state(args.thread, args.workspace)
    if args.json:
        print(json.dumps(outcome.to_json(), default=str))
        return 0
    report = outcome.to_json()["report"]
    if report:
        print(open(report).read())
    else:
        print(f"run {args.thread} has no report yet ({outcome.status}); `glia resume {args.thread}` continues it")
    return 0


def cmd_doctor(args) -> int:
    """The isolation this machine offers, then the model endpoint's profile when a model is configured."""
    from glia.nodes.llm.endpoint import EndpointUnreachable, profile_for
    from glia.nodes.llm.modes import NEEDS, choose_modes, endpoint_lines, parse_overrides
    from glia.simulator.isolation import confine
    iso = confine.available()
    confined = iso.confined("policy") and iso.confined("shell")
    isolation = {"level": iso.level, "confined": confined, "lines": confine.doctor_lines()}
    model = args.model or os.environ.get("GLIA_MODEL")
    if not model:
        if args.json:
            print(json.dumps({"isolation": isolation}))
        else:
            print("\n".join(isolation["lines"]))
            print("model endpoint: none configured (pass --model or set GLIA_MODEL to probe one)")
        return 0 if confined else 1
    if not args.json:
        print("\n".join(isolation["lines"]))
    overrides = parse_overrides(args.endpoint)
    try:
        profile, source = profile_for(args.workspace, args.base_url or os.environ.get("OPENAI_BASE_URL"), model,
                                      refresh=args.refresh)
    except EndpointUnreachable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    cached = source != "probed"
    if args.json:
        modes = {role: choose_modes(profile, role, overrides).model_dump() for role in NEEDS}
        print(json.dumps({"profile": profile.model_dump(), "cached": cached, "source": source, "modes": modes,
                          "isolation": isolation}))
    else:
        print("\n".join(endpoint_lines(profile, overrides, cached)))
    return 0 if confined else 1
