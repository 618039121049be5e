"""The Ray executor against the local pool: the same figures seed for seed, a stuck candidate cancelled at its
deadline and charged once, fail-fast across tasks. Skipped when Ray is not installed (``pip install 'glia[ray]'``);
Ray runs on 2 local CPUs with its token authentication off and a temporary HOME."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from glia.simulator import get_preset  # noqa: E402
from glia.simulator.harness.runner import run_benchmark  # noqa: E402
from glia.tools import executors  # noqa: E402
from glia.tools.executors import LocalExecutor, RayExecutor  # noqa: E402

POLICIES = Path(__file__).parents[1] / "policies"
STARTER = Path(__file__).parents[2] / "state" / "tasks" / "builtin" / "routing_starter.py"


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RAY_AUTH_MODE", "disabled")
        mp.setenv("HOME", str(home))
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False,
                 _temp_dir=str(home / "ray"))
        try:
            yield RayExecutor()
        finally:
            ray.shutdown()


def test_ray_and_local_give_the_same_figures_seed_for_seed(ray_cluster):
    seeds = list(range(10))
    for policy in ("llq", str(STARTER)):
        local = run_benchmark(policy, "paper-routing-short", seeds, executor=LocalExecutor())
        remote = run_benchmark(policy, "paper-routing-short", seeds, executor=ray_cluster)
        assert local.error is None and remote.error is None
        for metric, m in local.metrics.items():
            assert remote.metrics[metric]["per_seed"] == m["per_seed"], (policy, metric)


def test_a_stuck_candidate_is_cancelled_at_its_deadline_and_the_others_are_skipped(ray_cluster, monkeypatch):
    monkeypatch.setattr(executors, "RAY_GRACE_S", 1.0)
    out = ray_cluster.run(get_preset("paper-routing-short"),
                          str(POLICIES / "loops_forever.py"), [0, 1, 2, 3], timeout_s=2.0, memory_mb=4096)
    kinds = [o.error["kind"] for o in out]
    assert kinds.count("timeout") >= 1 and set(kinds) <= {"timeout", "skipped"}
    assert "skipped" in kinds  # four seeds on two CPUs: the last ones never started
    assert all("within 2 s" in o.error["message"] for o in out if o.error["kind"] == "timeout")


def test_a_failure_on_one_seed_stops_the_candidate_s_other_tasks(ray_cluster):
    res = run_benchmark(str(POLICIES / "raises_on_seed_0.py"), "paper-routing-short", [0, 1, 2, 3],
                        executor=ray_cluster)
    assert res.error["kind"] == "exception" and res.error["seed"] == 0
    assert "raises_on_seed_0.py" in res.error["message"]  # the user's file, not the worker's copy
    assert [o.error["kind"] for o in res.outcomes][2:] == ["skipped", "skipped"]


# -- program tasks: the same runner inside the Ray worker --------------------------------------------------------------
PROGRAM_EVALUATOR = '''
import importlib.util, json

def evaluate(program_path):
    answers = json.load(open("answers.json"))
    spec = importlib.util.spec_from_file_location("candidate", program_path)
    program = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(program)
    got = [program.solve(x) for x in answers["inputs"]]
    right = sum(abs(g - e) < 1e-9 for g, e in zip(got, answers["expected"]))
    return {"combined_score": right / len(got), "cases": [{"x": x, "got": g} for x, g in zip(answers["inputs"], got)]}
'''


@pytest.fixture
def program_spec(tmp_path):
    import json

    from glia.tools.programs import EvaluatorSpec
    (tmp_path / "evaluator.py").write_text(PROGRAM_EVALUATOR)
    (tmp_path / "answers.json").write_text(json.dumps({"inputs": [1, 2, 3], "expected": [3, 6, 9]}))
    return EvaluatorSpec(format="openevolve", workdir=tmp_path, program_file="prog.py", entry="evaluator.py",
                         timeout_s=10)


def test_a_program_evaluates_the_same_in_a_ray_worker_as_here(ray_cluster, program_spec):
    for source in ("def solve(x):\n    return 3 * x\n", "def solve(x):\n    return x + 2\n"):
        local = LocalExecutor().run_program(program_spec, source)
        remote = ray_cluster.run_program(program_spec, source)
        assert local.status == remote.status == "ok", (local.summary(), remote.summary())
        assert remote.metrics == local.metrics and remote.artifacts.tables == local.artifacts.tables
        assert remote.isolation == local.isolation and remote.program_sha256 == local.program_sha256


def test_a_program_is_confined_inside_the_ray_worker_as_here(ray_cluster, program_spec):
    reads = "import json\nA = json.load(open('answers.json'))\n\n\ndef solve(x):\n    return A['expected'][x - 1]\n"
    loops = "def solve(x):\n    while True:\n        pass\n"
    spec = dataclasses.replace(program_spec, timeout_s=3.0)
    for source in (reads, loops):
        local = LocalExecutor().run_program(spec, source)
        remote = ray_cluster.run_program(spec, source)
        assert remote.failure.who == local.failure.who == "program", (remote.summary(), local.summary())
        assert remote.status == local.status, (remote.summary(), local.summary())
    assert {local.status, remote.status} == {"program_timeout"}                    # the loop, killed in the worker
    assert (Path(program_spec.workdir) / "answers.json").read_text().startswith('{"inputs"')


def test_a_ray_evaluation_past_its_deadline_is_cancelled_and_is_the_sandboxs_timeout(ray_cluster, program_spec,
                                                                                     monkeypatch):
    monkeypatch.setattr(executors, "RUNNER_GRACE_S", 0.0)
    monkeypatch.setattr(executors, "RAY_GRACE_S", 0.0)
    (Path(program_spec.workdir) / "evaluator.py").write_text("import time\n\ndef evaluate(path):\n"
                                                             "    time.sleep(60)\n")
    out = ray_cluster.run_program(dataclasses.replace(program_spec, timeout_s=1.0), "def solve(x):\n    return x\n")
    assert out.status == "timeout" and out.failure.who == "sandbox" and "Ray task cancelled" in out.failure.message


def test_a_program_task_s_evaluator_runs_on_the_executor_it_is_given(ray_cluster):
    from glia.nodes.common import evaluator_for
    from glia.state import load_task
    from glia.tools.programs.evaluator import ProgramEvaluator
    task = load_task("job-placement")
    ev = evaluator_for(task, None, ray_cluster)
    assert isinstance(ev, ProgramEvaluator) and ev.executor is ray_cluster
    out = ev.measure(task["design"]["starter_source"], "m")
    local = evaluator_for(task, None, LocalExecutor()).measure(task["design"]["starter_source"], "m")
    assert out["value"] == local["value"] > 0 and out["private"] == local["private"]


def test_the_users_stop_cancels_a_ray_evaluation_in_flight_and_records_nothing(ray_cluster, program_spec):
    import threading

    from glia.simulator.harness import interrupt
    (Path(program_spec.workdir) / "evaluator.py").write_text("import time\n\ndef evaluate(path):\n"
                                                             "    time.sleep(60)\n")
    timer = threading.Timer(1.0, interrupt.request)
    timer.start()
    try:
        with pytest.raises(interrupt.Interrupted):
            ray_cluster.run_program(program_spec, "def solve(x):\n    return x\n")
    finally:
        timer.cancel()
        interrupt.reset()
