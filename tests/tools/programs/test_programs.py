"""Program tasks: one evaluation of a candidate program by an OpenEvolve-, ShinkaEvolve- or command-format evaluator,
in a fresh confined copy of its working directory, with the program in a process of its own; every failure is
contained, reported with a clear message, and attributed to the program or to the evaluator."""

from __future__ import annotations

import dataclasses
import json
import textwrap
from pathlib import Path

import pytest

from glia.tools.programs import EvaluatorSpec, Variant, evaluate_program

OE_EVALUATOR = '''
import importlib.util, json, os

def _load(path):
    spec = importlib.util.spec_from_file_location("candidate", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

def evaluate(program_path):
    answers = json.load(open("answers.json"))          # the evaluator's own file: expected answers
    program = _load(program_path)
    got = [program.solve(x) for x in answers["inputs"]]
    right = sum(g == e for g, e in zip(got, answers["expected"]))
    return {"combined_score": right / len(got), "validity": 1.0 if right else 0.0,
            "note": os.environ.get("NOTE", "none")}
'''

STARTER = '''
# EVOLVE-BLOCK-START
def solve(x):
    return x * 2
# EVOLVE-BLOCK-END
'''


def oe_problem(tmp_path: Path, evaluator: str = OE_EVALUATOR, **kw) -> EvaluatorSpec:
    d = tmp_path / "problem"
    d.mkdir(exist_ok=True)
    (d / "evaluator.py").write_text(textwrap.dedent(evaluator))
    (d / "answers.json").write_text(json.dumps({"inputs": [1, 2, 3, 4], "expected": [2, 4, 6, 9]}))
    (d / "initial_program.py").write_text(STARTER)
    return EvaluatorSpec(**{"format": "openevolve", "workdir": d, "program_file": "initial_program.py",
                            "entry": "evaluator.py", "timeout_s": 20, "validity": ("validity", 1.0), **kw})


def test_an_openevolve_evaluator_measures_a_program_in_its_own_confined_process(tmp_path):
    spec = oe_problem(tmp_path, variants={"heldout": Variant(env={"NOTE": "held-out"})})
    res = evaluate_program(spec, STARTER)
    assert res.status == "ok" and res.failure is None and res.valid is True
    assert res.metrics == {"combined_score": 0.75, "validity": 1.0}
    assert res.artifacts.scalars == {"note": "none"}
    assert "landlock" in res.isolation and "in a process of its own" in res.isolation
    assert res.program_calls == 4 and res.program_s > 0 and res.evaluator_s > 0
    assert res.program_sha256 == __import__("hashlib").sha256(STARTER.encode()).hexdigest()
    held = evaluate_program(spec, STARTER, variant="heldout")
    assert held.variant == "heldout" and held.artifacts.scalars == {"note": "held-out"}
    with pytest.raises(ValueError, match="no 'shifted' variant"):
        evaluate_program(spec, STARTER, variant="shifted")
    # the working directory is copied, never written: the evaluation left nothing behind
    assert sorted(p.name for p in spec.workdir.iterdir()) == ["answers.json", "evaluator.py", "initial_program.py"]


def test_a_program_cannot_read_the_evaluators_expected_answers(tmp_path):
    spec = oe_problem(tmp_path)
    cheat = STARTER.replace("return x * 2", textwrap.dedent('''\
        import json, pathlib
        try:  # the evaluator's copy sits beside the program's directory
            root = pathlib.Path(__file__).resolve().parent.parent
            answers = json.load(open(root / "work" / "answers.json"))
            return dict(zip(answers["inputs"], answers["expected"]))[x]
        except OSError as exc:
            global DENIED
            DENIED = str(exc)
            return x * 2''').replace("\n", "\n    "))
    res = evaluate_program(spec, cheat)
    assert res.status == "ok" and res.metrics["combined_score"] == 0.75  # no better than honest work
    # the same program, loaded into the evaluator's process (shared isolation), does read them: what split prevents
    shared = evaluate_program(dataclasses.replace(spec, isolation="shared"), cheat)
    assert shared.metrics["combined_score"] == 1.0
    # uncaught, the refusal is the program's error, with its traceback
    blunt = "import pathlib\nANSWERS = (pathlib.Path(__file__).resolve().parent.parent / 'work' / 'answers.json')" \
            ".read_text()\n" + STARTER
    res = evaluate_program(spec, blunt)
    assert res.status == "program_load_error" and res.failure.who == "program"
    assert "PermissionError" in res.failure.message and "answers.json" in res.failure.detail


def test_a_program_cannot_write_into_the_evaluators_files_or_its_results(tmp_path):
    spec = oe_problem(tmp_path)
    vandal = textwrap.dedent('''
        import json, pathlib
        root = pathlib.Path(__file__).resolve().parent.parent
        BLOCKED = []
        for target, text in ((root / "work" / "answers.json", '{"inputs": [1], "expected": [2]}'),
                             (root / "work" / "evaluator.py", "def evaluate(p): return {'combined_score': 99}"),
                             (root / "glia" / "result.json", '{"ok": true, "metrics": {"combined_score": 99}}'),
                             (root / "results" / "metrics.json", '{"combined_score": 99}')):
            try:
                target.write_text(text)
            except OSError:
                BLOCKED.append(target.name)

        def solve(x):
            return x * 2
    ''')
    res = evaluate_program(spec, vandal)
    assert res.status == "ok" and res.metrics["combined_score"] == 0.75
    # the program could not write there (and said so through a value the evaluator can read)
    probe = evaluate_program(dataclasses.replace(spec, workdir=_with_evaluator(tmp_path, '''
        import importlib.util
        def evaluate(path):
            spec = importlib.util.spec_from_file_location("c", path)
            m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
            return {"combined_score": float(len(m.BLOCKED)), "validity": 1.0}
    ''')), vandal)
    assert probe.metrics["combined_score"] == 4.0


def _with_evaluator(tmp_path: Path, text: str) -> Path:
    d = tmp_path / "other"
    d.mkdir(exist_ok=True)
    (d / "evaluator.py").write_text(textwrap.dedent(text))
    return d


def test_a_looping_program_is_killed_and_reported_as_the_programs_timeout(tmp_path):
    spec = oe_problem(tmp_path, timeout_s=4)
    res = evaluate_program(spec, "def solve(x):\n    while True:\n        pass\n")
    assert res.status == "program_timeout" and res.failure.who == "program"
    assert "did not answer within its time" in res.failure.message and "killed" in res.failure.message
    # an evaluator that catches the timeout and reports a score still gets the program marked as looping
    for fallback in ("[None] * 4", "[]"):  # the evaluator carries on, or then breaks (dividing by len(got))
        catching = oe_problem(tmp_path, timeout_s=4, evaluator=OE_EVALUATOR.replace(
            "got = [program.solve(x) for x in answers[\"inputs\"]]",
            "try:\n        got = [program.solve(x) for x in answers['inputs']]\n    except TimeoutError:\n"
            f"        got = {fallback}"))
        res = evaluate_program(catching, "def solve(x):\n    while True:\n        pass\n")
        assert res.status == "program_timeout" and res.failure.who == "program"
    assert "then the evaluator raised ZeroDivisionError" in res.failure.message


def test_an_evaluator_that_crashes_or_loops_is_the_evaluators_failure(tmp_path):
    res = evaluate_program(oe_problem(tmp_path, evaluator="def evaluate(path):\n    return 1 / 0\n"), STARTER)
    assert res.status == "evaluator_error" and res.failure.who == "evaluator"
    assert "ZeroDivisionError" in res.failure.message and "1 / 0" in res.failure.detail
    res = evaluate_program(oe_problem(tmp_path, evaluator="import nonexistent_helper\ndef evaluate(p): pass\n"),
                           STARTER)
    assert res.status == "evaluator_error" and "No module named 'nonexistent_helper'" in res.failure.message
    res = evaluate_program(oe_problem(tmp_path, evaluator="def evaluate(path):\n    return [1, 2]\n"), STARTER)
    assert res.status == "bad_metrics" and "returned a list" in res.failure.message
    res = evaluate_program(oe_problem(tmp_path, evaluator="def evaluate(path):\n    return {'score': 1.0}\n",
                                      validity=None), STARTER)
    assert res.status == "bad_metrics" and "no 'combined_score' among the metrics (score)" in res.failure.message
    res = evaluate_program(oe_problem(tmp_path, timeout_s=3,
                                      evaluator="import time\ndef evaluate(path):\n    time.sleep(60)\n"), STARTER)
    assert res.status == "evaluator_timeout" and res.failure.who == "evaluator"


def test_a_program_that_raises_fails_to_load_or_dies_is_the_programs_failure(tmp_path):
    spec = oe_problem(tmp_path)
    res = evaluate_program(spec, "def solve(x):\n    raise ValueError(f'cannot solve {x}')\n")
    assert res.status == "program_error" and res.failure.who == "program"
    assert "cannot solve 1" in res.failure.message and "raise ValueError" in res.failure.detail
    assert "ValueError: cannot solve 1" in res.artifacts.texts["program_exceptions"]
    res = evaluate_program(spec, "def solve(x) return x\n")
    assert res.status == "program_load_error" and "SyntaxError" in res.failure.message
    res = evaluate_program(spec, "import os\ndef solve(x):\n    os._exit(3)\n")
    assert res.status == "program_crashed" and "exit status 3" in res.failure.message


def test_a_program_has_no_network_no_processes_and_no_secrets(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-of-the-user")
    spec = dataclasses.replace(oe_problem(tmp_path, evaluator='''
        import importlib.util
        def evaluate(path):
            spec = importlib.util.spec_from_file_location("c", path)
            m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
            return {"combined_score": 1.0, "validity": 1.0, "report": m.report()}
    '''))
    program = textwrap.dedent('''
        import os, socket, subprocess
        def report():
            out = {"key": os.environ.get("OPENAI_API_KEY", "absent")}
            try:
                socket.create_connection(("127.0.0.1", 9), timeout=1)
                out["net"] = "connected"
            except OSError as exc:
                out["net"] = type(exc).__name__
            try:
                subprocess.run(["true"])
                out["proc"] = "ran"
            except OSError as exc:
                out["proc"] = type(exc).__name__
            return out
    ''')
    res = evaluate_program(spec, program)
    assert res.status == "ok", res.failure
    assert res.artifacts.scalars == {"report.key": "absent", "report.net": "PermissionError",
                                     "report.proc": "PermissionError"}


SHINKA_EVALUATOR = '''
import argparse, importlib.util, json, os

def main(program_path, results_dir):
    spec = importlib.util.spec_from_file_location("candidate", program_path)
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    out = m.run([3, 1, 2])
    correct = sorted(out) == [1, 2, 3] and len(out) == 3
    with open(os.path.join(results_dir, "metrics.json"), "w") as f:
        json.dump({"combined_score": float(out == [1, 2, 3]), "public": {"length": len(out)},
                   "private": {"secret_margin": 0.5}, "text_feedback": "sorted" if correct else "not sorted"}, f)
    with open(os.path.join(results_dir, "correct.json"), "w") as f:
        json.dump({"correct": correct, "error": None if correct else f"not a permutation: {out}"}, f)
    with open(os.path.join(results_dir, "cases.csv"), "w") as f:
        f.write("case,ok\\n1,%d\\n" % correct)

if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--program_path")
    p.add_argument("--results_dir")
    a = p.parse_args()
    main(a.program_path, a.results_dir)
'''


def shinka_problem(tmp_path: Path, evaluator: str = SHINKA_EVALUATOR) -> EvaluatorSpec:
    d = tmp_path / "shinka"
    d.mkdir(exist_ok=True)
    (d / "evaluate.py").write_text(evaluator)
    return EvaluatorSpec(format="shinka", workdir=d, program_file="initial.py", entry="evaluate.py", timeout_s=20)


def test_a_shinka_evaluator_gives_metrics_correctness_and_tables_and_keeps_private_apart(tmp_path):
    spec = shinka_problem(tmp_path)
    res = evaluate_program(spec, "def run(xs):\n    return sorted(xs)\n")
    assert res.status == "ok" and res.valid is True
    assert res.metrics == {"combined_score": 1.0, "length": 3.0, "correct": 1.0}
    assert res.private == {"secret_margin": 0.5} and "secret_margin" not in json.dumps(res.artifacts.to_dict())
    assert res.artifacts.texts["text_feedback"] == "sorted"
    assert res.artifacts.tables["cases.csv"] == [{"case": "1", "ok": "1"}]
    bad = evaluate_program(spec, "def run(xs):\n    return [0, 0, 0]\n")
    assert bad.status == "invalid" and bad.valid is False and bad.failure.who == "program"
    assert bad.failure.message == "correct.json: not a permutation: [0, 0, 0]"
    # a program that writes its own metrics.json writes nowhere: the results directory is out of its reach
    forger = textwrap.dedent('''
        import pathlib
        try:
            (pathlib.Path(__file__).resolve().parent.parent / "results" / "metrics.json").write_text(
                '{"combined_score": 1000}')
        except OSError:
            pass
        def run(xs):
            return [0, 0, 0]
    ''')
    res = evaluate_program(spec, forger)
    assert res.status == "invalid" and res.metrics["combined_score"] == 0.0


def test_a_shinka_evaluator_killed_by_the_programs_exception_blames_the_program(tmp_path):
    spec = shinka_problem(tmp_path)
    res = evaluate_program(spec, "def run(xs):\n    raise KeyError('missing')\n")
    assert res.status == "program_error" and res.failure.who == "program"
    assert "KeyError" in res.failure.message
    crashing = SHINKA_EVALUATOR.replace("out = m.run([3, 1, 2])", "out = m.run([3, 1, 2]); {}['oops']")
    res = evaluate_program(shinka_problem(tmp_path, crashing), "def run(xs):\n    return sorted(xs)\n")
    assert res.status == "evaluator_error" and res.failure.who == "evaluator" and "KeyError" in res.failure.detail
    assert res.failure.message == "the evaluator wrote no metrics.json; it exited with status 1 (KeyError: 'oops')"


def command_problem(tmp_path: Path, script: str, command=("python", "score.py", "{program}")) -> EvaluatorSpec:
    d = tmp_path / "cmd"
    d.mkdir(exist_ok=True)
    (d / "score.py").write_text(textwrap.dedent(script))
    return EvaluatorSpec(format="command", workdir=d, program_file="prog.py", command=tuple(command), timeout_s=20)


def test_a_command_evaluator_that_prints_no_json_is_the_evaluators_failure(tmp_path):
    spec = command_problem(tmp_path, '''
        import json, subprocess, sys
        out = subprocess.run([sys.executable, sys.argv[1]], capture_output=True, text=True)
        print("the program said", out.stdout.strip())
        print(json.dumps({"combined_score": float(out.stdout.strip() == "42"), "artifacts": None}))
    ''')
    res = evaluate_program(spec, "print(6 * 7)\n")  # run as a script: __main__ in its own confined process
    assert res.status == "ok" and res.metrics["combined_score"] == 1.0
    silent = command_problem(tmp_path, 'print("all good, no numbers")\n')
    res = evaluate_program(silent, "print(1)\n")
    assert res.status == "no_metrics" and res.failure.who == "evaluator"
    assert res.failure.message == "the evaluator printed no JSON object on its stdout"
    assert "all good" in res.failure.detail


def test_a_cascade_stops_after_a_stage_below_its_threshold(tmp_path):
    evaluator = '''
        def evaluate_stage1(path):
            return {"combined_score": 0.2, "stage": 1.0}
        def evaluate_stage2(path):
            return {"combined_score": 0.9, "stage": 2.0}
        def evaluate(path):
            return {"combined_score": 0.5}
    '''
    spec = oe_problem(tmp_path, evaluator=evaluator, validity=None, cascade=(0.5,))
    res = evaluate_program(spec, STARTER)
    assert res.metrics == {"combined_score": 0.2, "stage": 1.0}
    assert res.artifacts.scalars["cascade_stopped_after"] == "evaluate_stage1"
    res = evaluate_program(dataclasses.replace(spec, cascade=(0.1,)), STARTER)
    assert res.metrics == {"combined_score": 0.9, "stage": 2.0}
    res = evaluate_program(dataclasses.replace(spec, cascade=None), STARTER)
    assert res.metrics == {"combined_score": 0.5}


def test_objects_cross_the_bridge_by_value_or_by_reference(tmp_path):
    evaluator = '''
        import importlib.util, collections
        Point = collections.namedtuple("Point", "x y")
        class Board:
            def __init__(self):
                self.cells = {(0, 0): "a"}
                self._secret = "hidden"
            def size(self):
                return 3
        def evaluate(path):
            spec = importlib.util.spec_from_file_location("c", path)
            m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
            acc = m.Accumulator(10)
            for i in range(5):
                acc.add(i)
            got = m.echo({"t": (1, 2), "s": {3}, "b": b"xy", 4: [Point(1, 2)]})
            ok = got == {"t": (1, 2), "s": {3}, "b": b"xy", 4: [(1, 2)]} and got[4][0].y == 2
            board = m.look(Board())
            try:
                m.peek(Board())
                peek = "read"
            except AttributeError as exc:
                peek = "refused" if "underscore" in str(exc) else str(exc)
            return {"combined_score": acc.total, "roundtrip": float(ok), "board": board, "peek": peek,
                    "constant": m.LIMIT, "items": list(acc), "probe": float(hasattr(m, "nothing_here"))}
    '''
    program = textwrap.dedent('''
        LIMIT = 7
        class Accumulator:
            def __init__(self, start):
                self.total = start
                self.seen = []
            def add(self, x):
                self.total += x
                self.seen.append(x)
            def __iter__(self):
                return iter(self.seen)
        def echo(value):
            return value
        def look(board):
            return board.size() * 10 + len(board.cells)
        def peek(board):
            return board._secret
    ''')
    res = evaluate_program(oe_problem(tmp_path, evaluator=evaluator, validity=None), program)
    assert res.status == "ok", res.failure
    assert res.metrics == {"combined_score": 20.0, "roundtrip": 1.0, "board": 31.0, "constant": 7.0, "probe": 0.0}
    assert res.artifacts.scalars["peek"] == "refused"
    assert "nothing_here" not in res.artifacts.texts.get("program_exceptions", "")  # hasattr() is not a failure
    assert res.artifacts.texts["items"] == "[\n 0,\n 1,\n 2,\n 3,\n 4\n]"


def test_the_wire_carries_data_by_value_and_never_unpickles():
    import collections
    import os

    import numpy as np

    from glia.tools.programs import bridge

    codec = bridge.Codec(peer=None, guarded=True)
    Pair = collections.namedtuple("Pair", "a b")
    value = {"t": (1, 2.5, None), 3: {b"\x00", frozenset({1})}, "n": np.arange(6, dtype=np.int32).reshape(2, 3),
             "p": Pair(1, "x"), "c": 1 + 2j, "f": np.float64(0.5), "nested": [[{"~t": "not a tag"}]]}
    wire = json.loads(json.dumps(codec.encode(value)))
    back = codec.decode(wire)
    assert back["t"] == (1, 2.5, None) and back[3] == {b"\x00", frozenset({1})} and back["c"] == 1 + 2j
    assert back["n"].tolist() == [[0, 1, 2], [3, 4, 5]] and back["n"].dtype == np.int32
    assert back["p"].b == "x" and back["f"] == 0.5 and type(back["f"]) is float
    assert back["nested"] == [[{"~t": "not a tag"}]]
    for refused in (os, int, print):  # the evaluator's modules, classes and built-ins never cross
        with pytest.raises(bridge.Refused):
            codec.encode(refused)
    with pytest.raises(ValueError, match="refused array dtype"):
        codec.decode({"~n": ["|O", [1], "AA=="]})
    with pytest.raises(ValueError, match="unknown tag"):
        codec.decode({"~x": 1})


def test_an_evaluators_identity_changes_with_its_files_and_how_it_runs(tmp_path):
    spec = oe_problem(tmp_path, variants={"heldout": Variant(env={"NOTE": "x"})})
    first = spec.identity()
    assert spec.identity() == first and spec.identity("heldout") != first
    (spec.workdir / "initial_program.py").write_text("# the candidate's file: not part of the benchmark\n")
    (spec.workdir / "__pycache__").mkdir()
    (spec.workdir / "__pycache__" / "x.pyc").write_bytes(b"junk")
    assert spec.identity() == first
    assert dataclasses.replace(spec, timeout_s=99).identity() == first
    (spec.workdir / "answers.json").write_text('{"inputs": [1], "expected": [3]}')
    assert spec.identity() != first


def test_a_program_that_tampers_with_the_bridge_is_stopped_and_blamed(tmp_path):
    spec = oe_problem(tmp_path, timeout_s=8)
    fds = "import json, os, sys\nFDS = json.loads(sys.argv[1])\n"
    garbage = fds + "def solve(x):\n    os.write(FDS['wfd'], b'\\x05\\x00\\x00\\x00junk!')\n    return x * 2\n"
    res = evaluate_program(spec, garbage)
    assert res.status == "program_crashed" and res.failure.who == "program"
    assert "protocol" in res.failure.detail
    hangup = fds + "def solve(x):\n    os.close(FDS['wfd'])\n    while True:\n        pass\n"
    res = evaluate_program(spec, hangup)
    assert res.status == "program_crashed" and res.failure.who == "program"


def test_an_evaluator_that_reads_the_programs_text_still_reads_it(tmp_path):
    spec = oe_problem(tmp_path, validity=None, evaluator='''
        import importlib.util, pathlib
        def evaluate(path):
            if "math.sin" in pathlib.Path(path).read_text():
                return {"combined_score": 0.0, "error": "blocked: math.sin"}
            spec = importlib.util.spec_from_file_location("c", path)
            m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
            return {"combined_score": 1.0 - abs(m.approx(0.5) - 0.479425538604203)}
    ''')
    res = evaluate_program(spec, "import math\ndef approx(x):\n    return math.sin(x)\n")
    assert res.metrics["combined_score"] == 0.0 and res.artifacts.scalars["error"] == "blocked: math.sin"
    res = evaluate_program(spec, "def approx(x):\n    return x - x ** 3 / 6\n")
    assert 0.99 < res.metrics["combined_score"] < 1.0


def test_nothing_is_left_behind_and_memory_is_capped(tmp_path):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    spec = oe_problem(tmp_path, timeout_s=4, memory_mb=1024)
    res = evaluate_program(spec, "def solve(x):\n    return len(bytearray(8 * 1024 ** 3))\n", scratch=str(scratch))
    assert res.status == "program_error" and "MemoryError" in res.failure.message
    res = evaluate_program(spec, "def solve(x):\n    while True:\n        pass\n", scratch=str(scratch))
    assert res.status == "program_timeout"
    assert list(scratch.iterdir()) == []  # each evaluation's directory removed
    import os
    left = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = open(f"/proc/{pid}/cmdline", "rb").read()
        except OSError:
            continue
        if str(scratch).encode() in cmd:
            left.append(pid)
    assert left == []  # and every process of the evaluations ended with them
