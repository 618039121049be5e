"""The Ray executor against the local pool: the same figures seed for seed, a stuck candidate cancelled at its
deadline and charged once, fail-fast across tasks. Skipped when Ray is not installed (``pip install 'glia[ray]'``);
Ray runs on 2 local CPUs with its token authentication off and a temporary HOME."""

from __future__ import annotations

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
