"""``glia init --from-openevolve / --from-shinka``: a problem directory becomes a task file a user can read; a bad or
partial directory, and a bad program task table, get an error that names what is wrong. The EVOLVE-BLOCK check."""

from __future__ import annotations

import shutil
import textwrap
import tomllib
from pathlib import Path

import pytest

from glia.graph.cli import main
from glia.state.tasks.program_import import ImportProblem, from_openevolve, from_shinka
from glia.state.tasks.program_task import is_program_task, validate_program_task
from glia.state.tasks.task import TaskError
from glia.tools.programs import blocks

EXAMPLES = Path(__file__).resolve().parents[2] / "state" / "tasks" / "builtin" / "programs"


@pytest.fixture
def oe_dir(tmp_path):
    d = tmp_path / "cache"
    shutil.copytree(EXAMPLES / "cache-eviction", d)
    return d


@pytest.fixture
def sk_dir(tmp_path):
    d = tmp_path / "placement"
    shutil.copytree(EXAMPLES / "job-placement", d)
    return d


def test_init_from_openevolve_writes_a_task_the_user_can_read(oe_dir, tmp_path, capsys):
    out = tmp_path / "cache.toml"
    assert main(["init", "--from-openevolve", str(oe_dir), "--out", str(out), "--heldout-env",
                 "CACHE_SPLIT=heldout"]) == 0
    said = capsys.readouterr().out
    assert said.splitlines()[0] == (f"wrote {out}: program task 'cache', openevolve evaluator evaluator.py, maximise "
                                    "combined_score with validity >= 1, timeout 120 s, held-out: heldout")
    assert "timeout: 60 s per stage in OpenEvolve, so 120 s for the 2 stages" in said
    raw = tomllib.loads(out.read_text())
    assert is_program_task(raw)
    assert raw["design"] == {"layer": "program", "file": "initial_program.py", "starter": "cache/initial_program.py",
                             "editable": ["initial_program.py"], "blocks": True}   # a class: no function form
    assert "the starter has no top-level function inside its EVOLVE-BLOCK for them" in said
    assert '# function = "NAME"' in out.read_text()
    assert raw["evaluator"] == {"format": "openevolve", "workdir": "cache", "entry": "evaluator.py",
                                "timeout_s": 120.0, "memory_mb": 4096, "cascade": [0.05], "isolation": "split",
                                "heldout": {"env": {"CACHE_SPLIT": "heldout"}}}
    assert raw["objective"] == {"metric": "combined_score", "goal": "maximize",
                                "constraint": {"metric": "validity", "min": 1.0}}
    assert raw["background"].startswith("You are designing the eviction policy of a cache")
    assert raw["budget"] == {"evaluations": 40}
    task = validate_program_task(raw, out.parent)
    assert task["evaluator"]["workdir"] == str(oe_dir.resolve()) and task["design"]["blocks"] is True
    assert main(["init", "--from-openevolve", str(oe_dir), "--out", str(out)]) == 2
    assert "exists; choose another --out or pass --force" in capsys.readouterr().err


def test_init_from_openevolve_without_a_held_out_variant_names_what_the_evaluator_reads(oe_dir, tmp_path):
    draft = from_openevolve(oe_dir, tmp_path / "t.toml")
    assert any("reads the environment variable(s) CACHE_SPLIT: --heldout-env NAME=VALUE makes one" in n
               for n in draft.notes)
    assert "# env = { CACHE_SPLIT = \"...\" }  # evaluator.py reads CACHE_SPLIT" in draft.toml
    assert draft.task["evaluator"]["variants"] == {}


def test_init_from_shinka_reads_run_evo_without_running_it(sk_dir, tmp_path, capsys):
    out = tmp_path / "placement.toml"
    assert main(["init", "--from-shinka", str(sk_dir), "--out", str(out), "--heldout-arg", "--split heldout"]) == 0
    said = capsys.readouterr().out
    assert "shinka evaluator evaluate.py, maximise combined_score with correct >= 1, timeout 60 s" in said
    raw = tomllib.loads(out.read_text())
    assert raw["background"].startswith("You are placing batch jobs on a heterogeneous cluster")
    assert raw["evaluator"]["heldout"] == {"args": ["--split", "heldout"]}
    assert raw["budget"] == {"evaluations": 30}
    draft = from_shinka(sk_dir, tmp_path / "t.toml")
    assert any("evaluate.py takes --split" in n for n in draft.notes)
    assert '# args = ["--split", "heldout"]  # evaluate.py takes --split' in draft.toml
    # the starter's one function inside its EVOLVE-BLOCK is what EoH and FunSearch evolve
    assert raw["design"]["function"] == "place" and any("evolve place()" in n for n in draft.notes)


def test_init_measures_the_starter_when_asked(sk_dir, tmp_path, capsys):
    assert main(["init", "--from-shinka", str(sk_dir), "--out", str(tmp_path / "t.toml"), "--measure"]) == 0
    said = capsys.readouterr().out
    assert "starter: ok [search] combined_score=" in said
    assert "tables: instances.csv (5 rows), worst_jobs.csv (25 rows)" in said
    assert "program: landlock" in said


@pytest.mark.parametrize("break_it, message", [
    (lambda d: (d / "evaluator.py").unlink(),
     "is not an OpenEvolve problem directory: it has no evaluator.py (the evaluator, with evaluate(program_path)); "
     "it holds: README.md, config.yaml, initial_program.py, traces.py"),
    (lambda d: (d / "initial_program.py").unlink(), "has no initial_program.<ext> (the starting program)"),
    (lambda d: (d / "initial_program.rs").write_text("fn main() {}"),
     "has several starters (initial_program.py, initial_program.rs); choose one with --program FILE"),
    (lambda d: (d / "evaluator.py").write_text("def score(path):\n    return {}\n"),
     "evaluator.py defines no evaluate(program_path) function"),
    (lambda d: (d / "evaluator.py").write_text("def evaluate(path)\n    return {}\n"),
     "evaluator.py does not parse (line 1: expected ':')"),
    (lambda d: (d / "evaluator.py").write_text("def evaluate(path):\n    return {'score': 1}\n"),
     "evaluator.py never mentions 'combined_score'"),
    (lambda d: (d / "config.yaml").write_text("evaluator: [unclosed\n"), "config.yaml is not valid YAML"),
    (lambda d: (d / "config.yaml").write_text("evaluator:\n  timeout: soon\n"),
     "evaluator.timeout in config.yaml should be a positive number of seconds, got 'soon'"),
])
def test_a_bad_openevolve_directory_gets_a_specific_error(oe_dir, tmp_path, break_it, message):
    break_it(oe_dir)
    with pytest.raises(ImportProblem, match=None) as err:
        from_openevolve(oe_dir, tmp_path / "t.toml")
    assert message in str(err.value)


def test_the_cli_says_what_is_wrong_with_a_directory(tmp_path, capsys):
    assert main(["init", "--from-openevolve", str(tmp_path / "nowhere")]) == 2
    assert capsys.readouterr().err.strip() == f"error: cannot import {tmp_path / 'nowhere'}: " \
                                              f"{tmp_path / 'nowhere'}: no such directory"


def test_an_evaluator_without_combined_score_can_be_given_its_objective(oe_dir, tmp_path):
    (oe_dir / "evaluator.py").write_text("def evaluate(path):\n    return {'hit_ratio': 0.5, 'ok': 1.0}\n")
    draft = from_openevolve(oe_dir, tmp_path / "t.toml", objective="hit_ratio", validity="ok:1")
    assert draft.task["objective"]["metric"] == "hit_ratio"
    assert draft.task["objective"]["constraint"]["metric"] == "ok"


@pytest.mark.parametrize("break_it, message", [
    (lambda d: (d / "evaluate.py").unlink(), "is not a ShinkaEvolve problem directory: it has no evaluate.py"),
    (lambda d: (d / "initial.py").unlink(), "has no initial.<ext> (the starting program)"),
    (lambda d: (d / "evaluate.py").write_text("def score(p):\n    pass\n"),
     "evaluate.py does not look like a ShinkaEvolve evaluator: it defines no main(program_path, results_dir)"),
    (lambda d: (d / "evaluate.py").write_text("def main(program_path, results_dir):\n    pass\n"),
     "evaluate.py does not take --program_path and --results_dir on its command line"),
])
def test_a_bad_shinka_directory_gets_a_specific_error(sk_dir, tmp_path, break_it, message):
    break_it(sk_dir)
    with pytest.raises(ImportProblem) as err:
        from_shinka(sk_dir, tmp_path / "t.toml")
    assert message in str(err.value)


def test_a_shinka_evaluator_that_needs_shinka_says_so(sk_dir, tmp_path):
    text = (sk_dir / "evaluate.py").read_text()
    (sk_dir / "evaluate.py").write_text("from shinka.core import run_shinka_eval\n" + text)
    (sk_dir / "requirements.txt").write_text("numpy>=1.0\nsurely-not-installed-pkg==1.0\n")
    notes = from_shinka(sk_dir, tmp_path / "t.toml").notes
    assert any("imports shinka (run_shinka_eval), which is not installed here" in n for n in notes)
    assert any("requirements.txt lists surely-not-installed-pkg, not installed here" in n for n in notes)


def _task(tmp_path: Path, **over) -> dict:
    d = tmp_path / "p"
    d.mkdir(exist_ok=True)
    (d / "evaluator.py").write_text("def evaluate(path):\n    return {'combined_score': 1.0}\n")
    (d / "prog.py").write_text("# EVOLVE-BLOCK-START\nX = 1\n# EVOLVE-BLOCK-END\n")
    raw = {"name": "t", "design": {"layer": "program", "file": "prog.py", "starter": "p/prog.py"},
           "evaluator": {"format": "openevolve", "workdir": "p"}}
    for key, value in over.items():
        section, _, field = key.partition("__")
        if value is None:
            raw[section].pop(field, None)
        else:
            raw.setdefault(section, {})[field] = value
    return raw


def test_a_program_task_table_is_validated_with_defaults(tmp_path):
    task = validate_program_task(_task(tmp_path), tmp_path)
    assert task["objective"] == {"metric": "combined_score", "goal": "maximize", "constraint": None}
    assert task["design"]["blocks"] is True and task["design"]["editable"] == ["prog.py"]
    ev = task["evaluator"]
    assert (ev["entry"], ev["timeout_s"], ev["isolation"], ev["variants"]) == ("evaluator.py", 60.0, "split", {})
    assert validate_program_task(_task(tmp_path, evaluator__timeout_s="auto"), tmp_path)["evaluator"][
        "timeout_s"] is None


@pytest.mark.parametrize("over, message", [
    ({"evaluator__format": "funsearch"}, "evaluator.format must be one of openevolve, shinka, command"),
    ({"evaluator__workdir": "missing"}, "evaluator.workdir 'missing': no such directory"),
    ({"evaluator__entry": "nope.py"}, "evaluator.entry 'nope.py': no such file in the working directory"),
    ({"evaluator__entry": "../evaluator.py"}, "must be a path inside the working directory"),
    ({"evaluator__cascade": [0.5, 0.6, 0.7, 0.8]}, "evaluator.cascade should be a list of 1 to 3 thresholds"),
    ({"evaluator__heldout": {"args": ["--split", "heldout"]}},
     "an OpenEvolve evaluator takes no command-line arguments; use env"),
    ({"evaluator__heldout": {}}, "[evaluator.heldout] says nothing: give env, args or kwargs"),
    ({"evaluator__timeout_s": 0}, "evaluator.timeout_s (or \"auto\") should be a positive number, got 0"),
    ({"evaluator__isolation": "none"}, "evaluator.isolation must be 'split' or 'shared'"),
    ({"evaluator__program_reads": ["helpers.py"]}, "evaluator.program_reads 'helpers.py': no such file"),
    ({"evaluator__seeds": 3}, "[evaluator] has unknown key(s) seeds"),
    ({"design__layer": "router"}, "a program task has [design] layer = \"program\", got 'router'"),
    ({"design__starter": "p/other.py"}, "design.starter 'p/other.py' not found beside the task file"),
    ({"design__file": "prog.rs"}, "isolation = \"split\" runs Python programs in a process of their own"),
    ({"budget__evaluations": 0}, "budget.evaluations must be a positive integer, got 0"),
    ({"objective__goal": "best"}, "objective.goal must be 'minimize' or 'maximize'"),
])
def test_a_bad_program_task_table_gets_a_specific_error(tmp_path, over, message):
    with pytest.raises(TaskError) as err:
        validate_program_task(_task(tmp_path, **over), tmp_path)
    assert message in str(err.value)


def test_a_command_evaluator_table(tmp_path):
    raw = _task(tmp_path, evaluator__format="command", evaluator__command="python score.py {program} --fast")
    assert validate_program_task(raw, tmp_path)["evaluator"]["command"] == ["python", "score.py", "{program}",
                                                                              "--fast"]
    raw = _task(tmp_path, evaluator__format="command", evaluator__command=["python", "score.py"])
    with pytest.raises(TaskError, match=r"put \{program\} \(its path\) in it"):
        validate_program_task(raw, tmp_path)


STARTER = textwrap.dedent('''\
    import math
    # EVOLVE-BLOCK-START
    def f(x):
        return x
    # EVOLVE-BLOCK-END
    def harness(x):
        return f(x)
''')


def test_only_the_evolve_blocks_may_change():
    blocks.check(STARTER, STARTER.replace("return x\n", "return 2 * x  # better\n"))
    with pytest.raises(blocks.BlockError, match=r"outside the EVOLVE-BLOCK regions \(after the last block\)"):
        blocks.check(STARTER, STARTER.replace("return f(x)", "return 0"))
    with pytest.raises(blocks.BlockError, match="markers are broken: EVOLVE-BLOCK-START without EVOLVE-BLOCK-END"):
        blocks.check(STARTER, STARTER.replace("# EVOLVE-BLOCK-END\n", ""))
    _, inside = blocks.regions(STARTER)
    assert blocks.splice(STARTER, inside) == STARTER
    blocks.check("no markers", "anything at all")
