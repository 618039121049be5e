"""The command line answers at once: importing it loads nothing of Glia, building its parser (``glia --help``,
``glia runs``, ``glia presets``, an argument error) loads only names, never LangChain, LangGraph, DuckDB, Textual,
numpy or the engine; ``glia --help`` lists every command under the group it is for. Checked in fresh interpreters
(``sys.modules`` of this one holds whatever other tests imported)."""

from __future__ import annotations

import json
import subprocess
import sys

from glia.graph.cli import GROUPS, build_parser, main

HEAVY = ("langchain", "langchain_core", "langchain_openai", "langchain_community", "langgraph", "langsmith", "duckdb",
         "textual")


def _modules(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", f"import json, sys\n{code}\nprint(json.dumps(sorted(sys.modules)))"],
                         capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout.splitlines()[-1]))


def _roots(modules: set[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


def test_importing_the_cli_pulls_in_no_framework_and_nothing_of_the_simulator():
    modules = _modules("import glia.graph.cli")
    assert not _roots(modules) & {*HEAVY, "numpy"}
    assert not [m for m in modules if m.startswith(("glia.simulator", "glia.tools", "glia.nodes", "glia.state"))]


def test_building_the_parser_loads_names_only():
    modules = _modules("from glia.graph.cli import build_parser\nbuild_parser()")
    assert not _roots(modules) & {*HEAVY, "numpy", "aiohttp", "asyncio"}
    # the commands' modules and the plain ones they read names from, none of what the commands run
    for heavy in ("glia.simulator.engine", "glia.simulator.harness.sandbox", "glia.simulator.harness.runner",
                  "glia.simulator.metrics",
                  "glia.simulator.workloads", "glia.graph.config", "glia.graph.runs", "glia.graph.builder",
                  "glia.graph.experiments.compare.runner", "glia.nodes.registry", "glia.state", "glia.tools.toolkit"):
        assert heavy not in modules, heavy


def test_glia_runs_and_glia_presets_run_without_the_workflow_or_the_engine(tmp_path):
    code = ("from glia.graph.cli import main\n"
            f"assert main(['runs', '--workspace', {str(tmp_path)!r}]) == 0\n"
            "assert main(['presets']) == 0")
    modules = _modules(code)
    assert not _roots(modules) & {*HEAVY, "numpy"}
    assert "glia.graph.runs" not in modules and "glia.simulator.engine" not in modules


def test_help_lists_every_command_once_under_its_group(capsys):
    grouped = [n for _, names in GROUPS for n in names]
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert sorted(grouped) == sorted(sub.choices)  # each command in exactly one group
    try:
        main(["--help"])
    except SystemExit as exc:
        assert exc.code == 0
    text = capsys.readouterr().out
    headings = [text.index(f"\n{title}:\n") for title, _ in GROUPS]
    assert headings == sorted(headings)  # the groups in their order
    for (title, names), start, end in zip(GROUPS, headings, [*headings[1:], len(text)], strict=True):
        block = text[start:end]
        assert [line.split()[0] for line in block.splitlines()[2:] if line.startswith("  ") and
                not line.startswith("   ")] == list(names), title


def test_an_argument_error_names_the_argument():
    out = subprocess.run([sys.executable, "-c", "import sys; from glia.graph.cli import main; sys.exit(main())",
                          "simulate", "--workload", "nope", "--policy", "llq"], capture_output=True, text=True)
    assert out.returncode == 2 and "argument --workload: invalid choice: 'nope'" in out.stderr
