"""The ``glia`` command line."""

from __future__ import annotations

import argparse
import sys

from glia.simulator import cli as simulator_cli
from glia.tools.serving import cli as serving_cli

from . import commands, init_command, stack, sweep
from .compare import commands as compare_commands


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="glia", description="Glia: AI for automated systems design")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("tui", help="the terminal UI: watch, step, resume and fork runs (glia tui --help)")
    commands.add_commands(sub)
    init_command.add_commands(sub)
    stack.add_command(sub)
    sweep.add_command(sub)
    compare_commands.add_commands(sub)
    simulator_cli.add_commands(sub)
    serving_cli.add_commands(sub)
    return parser


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


if __name__ == "__main__":
    sys.exit(main())
