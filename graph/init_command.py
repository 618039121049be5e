"""``glia init``: a task file from a problem directory in OpenEvolve's or ShinkaEvolve's format.

Only ``argparse`` at the top: the importers (``state/tasks/program_import.py``) and the runner that measures the starter
(``tools/programs``) are imported when the command runs.
"""

from __future__ import annotations

import argparse


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("init", help="write a task file for a problem directory in OpenEvolve's or ShinkaEvolve's "
                                    "format (a starting program and its evaluator)",
                       description="Turn a problem directory into a Glia program task: the starting program, the "
                                   "evaluator, the system message as background, the cascade thresholds and the "
                                   "timeout. Nothing in the directory is run unless --measure is given (then the "
                                   "starter is evaluated once, confined).")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--from-openevolve", metavar="DIR",
                     help="a directory with initial_program.<ext>, evaluator.py (evaluate(path)) and config.yaml")
    src.add_argument("--from-shinka", metavar="DIR",
                     help="a directory with initial.<ext> and evaluate.py (--program_path, --results_dir), and "
                          "run_evo.py or a YAML configuration")
    p.add_argument("--out", default=None, help="the task file to write (default: ./<directory name>.toml)")
    p.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    p.add_argument("--name", default=None, help="the task's name (default: the directory's)")
    p.add_argument("--program", default=None, metavar="FILE", help="the starter, when there are several")
    p.add_argument("--evaluator", default=None, metavar="FILE", help="OpenEvolve: the evaluator file "
                                                                     "(default evaluator.py)")
    p.add_argument("--config", default=None, metavar="FILE", help="OpenEvolve: the configuration (default "
                                                                  "config.yaml)")
    p.add_argument("--objective", default=None, metavar="METRIC",
                   help="OpenEvolve: the metric to maximise when the evaluator reports no combined_score")
    p.add_argument("--validity", default=None, metavar="METRIC[:MIN]",
                   help="OpenEvolve: a metric a valid program reaches (default: validity >= 1 when reported)")
    p.add_argument("--timeout", type=float, default=None, metavar="S", help="seconds for a whole evaluation")
    p.add_argument("--heldout-env", action="append", default=[], metavar="NAME=VALUE",
                   help="an environment variable that makes the evaluator run held-out cases (repeatable)")
    p.add_argument("--shifted-env", action="append", default=[], metavar="NAME=VALUE",
                   help="one that makes it run shifted cases (repeatable)")
    p.add_argument("--heldout-arg", action="append", default=[], metavar="ARGS",
                   help="ShinkaEvolve: arguments appended for held-out cases, e.g. '--split heldout'")
    p.add_argument("--shifted-arg", action="append", default=[], metavar="ARGS",
                   help="ShinkaEvolve: arguments appended for shifted cases")
    p.add_argument("--measure", action="store_true",
                   help="evaluate the starter once (confined) and print what came back")
    p.add_argument("--allow-unconfined", action="store_true",
                   help="with --measure: run even where the filesystem or the network cannot be confined")
    p.set_defaults(func=cmd_init)


def cmd_init(args: argparse.Namespace) -> int:
    from pathlib import Path

    from glia.state.tasks.program_import import ImportProblem, from_openevolve, from_shinka

    directory = Path(args.from_openevolve or args.from_shinka)
    out = Path(args.out) if args.out else Path.cwd() / f"{directory.resolve().name}.toml"
    if out.exists() and not args.force:
        raise ValueError(f"{out} exists; choose another --out or pass --force")
    try:
        if args.from_openevolve:
            if args.heldout_arg or args.shifted_arg:
                raise ImportProblem("an OpenEvolve evaluator takes no command-line arguments: use --heldout-env")
            draft = from_openevolve(directory, out, program=args.program, evaluator=args.evaluator,
                                    config=args.config, name=args.name, objective=args.objective,
                                    validity=args.validity, timeout_s=args.timeout, heldout_env=args.heldout_env,
                                    shifted_env=args.shifted_env)
        else:
            if args.objective or args.validity or args.config or args.evaluator:
                raise ImportProblem("--objective, --validity, --config and --evaluator are for OpenEvolve "
                                    "directories; a ShinkaEvolve evaluator maximises combined_score, with "
                                    "correct.json as its validity")
            draft = from_shinka(directory, out, program=args.program, name=args.name, timeout_s=args.timeout,
                                heldout_env=args.heldout_env, heldout_args=args.heldout_arg,
                                shifted_env=args.shifted_env, shifted_args=args.shifted_arg)
    except ImportProblem as exc:
        raise ValueError(f"cannot import {directory}: {exc}") from None
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(draft.toml)
    task = draft.task
    ev = task["evaluator"]
    c = task["objective"]["constraint"]
    print(f"wrote {out}: program task {task['name']!r}, {ev['format']} evaluator {ev['entry'] or ev['command']}, "
          f"maximise {task['objective']['metric']}" + (f" with {c['metric']} >= {c['min']:g}" if c else "")
          + f", timeout {ev['timeout_s']:g} s, held-out: "
          + (", ".join(ev["variants"]) if ev["variants"] else "none"))
    for note in draft.notes:
        print(f"  - {note}")
    if args.measure:
        return _measure(task, args.allow_unconfined)
    return 0


def _measure(task: dict, allow_unconfined: bool) -> int:
    from glia.tools.programs import derive_timeout, evaluate_program, spec_for_task

    spec = spec_for_task(task)
    res = evaluate_program(spec, task["design"]["starter_source"], allow_unconfined=allow_unconfined)
    print(f"starter: {res.summary()}")
    inside = ""
    if res.evaluator_s is not None:
        inside = f" (in the evaluator's process {res.evaluator_s:.2f} s" + (
            f", of which the program's {res.program_calls} calls and start-up {res.program_s:.2f} s)"
            if res.program_s is not None else ")")
    print(f"  {res.isolation}; {res.wall_s:.2f} s in all{inside}")
    if res.artifacts.tables:
        print("  tables: " + ", ".join(f"{k} ({len(v)} rows)" for k, v in res.artifacts.tables.items()))
    if res.failure and res.failure.detail:
        print("  " + res.failure.detail.strip().splitlines()[-1])
    if res.ok:
        print(f"  a timeout derived from this run would be {derive_timeout(res.wall_s):g} s")
    return 0 if res.ok else 1
