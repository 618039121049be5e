"""The ``glia`` command line.

Importing this module imports nothing of Glia. ``build_parser`` reads the modules that define the commands, each
of which needs only names at that point (roles, presets, policies, methods: plain modules), and a command's handler
imports what it runs (the workflow, the engine, LangChain, DuckDB) when it is called; so ``glia --help``, ``glia
runs``, ``glia presets`` and argument errors answer at once. The TUI parses its own options.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# the modules that define the commands, and the function of each that adds them to the parser
DEFINITIONS = (("glia.graph.commands", "add_commands"), ("glia.graph.init_command", "add_commands"),
               ("glia.graph.experiments.stack", "add_command"), ("glia.graph.experiments.sweep", "add_command"),
               ("glia.graph.experiments.compare.commands", "add_commands"), ("glia.graph.gc", "add_command"),
               ("glia.simulator.harness.cli", "add_commands"), ("glia.graph.serving.cli", "add_commands"))
# what each command is for, as ``glia --help`` lists them: every command is in exactly one group
GROUPS = (
    ("design runs", ("init", "run", "resume", "runs", "report", "gc", "doctor", "tui")),
    ("the paper's evaluation", ("compare", "stack", "sweep")),
    ("simulator", ("simulate", "baselines", "presets")),
    ("serving", ("route", "loadgen", "sim-to-real")),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="glia", description="Glia: AI for automated systems design")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                help="one of the commands below (glia COMMAND --help: its options)")
    sub.add_parser("tui", help="the terminal UI: watch, step, resume and fork runs (glia tui --help)")
    for module, function in DEFINITIONS:
        getattr(importlib.import_module(module), function)(sub)
    _group_commands(parser, sub)
    return parser


def _group_commands(parser: argparse.ArgumentParser, sub: argparse._SubParsersAction) -> None:
    """List the commands under their groups' headings instead of in one flat list. argparse has no grouping of
    subcommands: each command's help line (a pseudo-action) moves from the subcommands' list to its group's."""
    lines = {a.dest: a for a in sub._choices_actions}
    missing = set(sub.choices) - set(lines) or set(sub.choices) - {n for _, names in GROUPS for n in names}
    if missing:
        raise RuntimeError(f"command(s) without a help line or a group in glia --help: {', '.join(sorted(missing))}")
    sub._choices_actions.clear()
    for title, names in GROUPS:
        parser.add_argument_group(title)._group_actions.extend(lines[n] for n in names if n in lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["tui"]:  # the TUI parses its own options; Textual is imported only here
        from glia.tui.app import main as tui_main
        return tui_main(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except RuntimeError as exc:
        if not _endpoint_failure(exc):
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 3


def _endpoint_failure(exc: BaseException) -> bool:
    """A model endpoint that cannot serve (its message is one line that says what to check): never a traceback."""
    from glia.nodes.llm.client import EndpointDown
    from glia.nodes.llm.endpoint import EndpointUnreachable
    return isinstance(exc, (EndpointDown, EndpointUnreachable))


if __name__ == "__main__":
    sys.exit(main())
