"""The Ray executor ships a program task's whole working directory (the object store, then each worker writes it out
again): a directory over the limit (100 MB, ``GLIA_RAY_WORKDIR_MB``) is refused with a clear error before anything is
shipped: when the run or the comparison is made, and again where the executor would ship it. Ray is not needed."""

from __future__ import annotations

import pytest

from glia.graph.config import RunConfig
from glia.graph.experiments.compare.runner import CompareConfig
from glia.state import load_task
from glia.tools import executors
from glia.tools.executors import SHIP_LIMIT_MB, RayExecutor, WorkdirTooLarge, check_shippable, ship_limit_mb
from glia.tools.programs import spec_for_task
from tests.graph.test_program_runs import small_task


def test_a_working_directory_over_the_limit_is_refused_naming_its_largest_files(tmp_path):
    path = small_task(tmp_path)
    (tmp_path / "problem" / "data.bin").write_bytes(b"x" * 300_000)
    spec = spec_for_task(load_task(str(path)))
    assert check_shippable(spec) > 300_000  # under the default 100 MB
    with pytest.raises(WorkdirTooLarge, match=r"holds 0\.3 MB to copy, over the 0\.1 MB the Ray executor ships to its "
                                              r"workers \(largest: data\.bin \(0\.3 MB\), .*GLIA_RAY_WORKDIR_MB=N"):
        check_shippable(spec, 0.1)


def test_the_limit_is_configurable_and_checked(monkeypatch):
    assert ship_limit_mb({}) == SHIP_LIMIT_MB == 100.0
    assert ship_limit_mb({"GLIA_RAY_WORKDIR_MB": "2048"}) == 2048.0
    for bad in ("lots", "0", "-5"):
        with pytest.raises(ValueError, match="GLIA_RAY_WORKDIR_MB"):
            ship_limit_mb({"GLIA_RAY_WORKDIR_MB": bad})


def test_a_run_or_a_comparison_on_ray_is_refused_before_it_starts(tmp_path, monkeypatch):
    path = small_task(tmp_path)
    monkeypatch.setenv("GLIA_RAY_WORKDIR_MB", "0.0001")  # 100 bytes: the small problem's files are more
    with pytest.raises(WorkdirTooLarge, match="over the 0.0001 MB the Ray executor ships"):
        RunConfig.build(str(path), offline=True, workspace=tmp_path / "ws", evaluation={"executor": "ray"})
    with pytest.raises(WorkdirTooLarge):
        CompareConfig.build(str(path), methods_=["offline"], runs=1, budget=1, workspace=tmp_path / "ws",
                            executor="ray")
    RunConfig.build(str(path), offline=True, workspace=tmp_path / "ws")  # the local executor copies in place


def test_the_ray_executor_ships_nothing_over_the_limit(tmp_path, monkeypatch):
    class FakeRay:
        shipped: list = []

        def put(self, value):
            self.shipped.append(value)
            raise AssertionError("shipped")

    ex = object.__new__(RayExecutor)
    ex.ray, ex._workdirs = FakeRay(), {}
    monkeypatch.setattr(executors, "SHIP_LIMIT_MB", 0.0001)
    spec = spec_for_task(load_task(str(small_task(tmp_path))))
    with pytest.raises(WorkdirTooLarge):
        ex.run_program(spec, "def solve(x):\n    return 3 * x\n")
    assert FakeRay.shipped == []
