"""Built-in routing policies, the policy loader, and vidur compatibility."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from glia.simulator import Simulation
from glia.simulator.policy.builtin import POLICIES
from glia.simulator.policy.loader import PolicyLoadError, load_policy
from glia.simulator.presets import get_preset
from tests.support.helpers import small_config

HERE = Path(__file__).parents[2]


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_every_builtin_routes_every_request(name):
    run = Simulation(get_preset("paper-routing-short"), POLICIES[name], seed=0).run()
    req = run.requests
    assert len(req["request_id"]) > 1500
    assert np.all(~np.isnan(req["completed_at"])) and np.all(req["replica_id"] >= 0)


def test_round_robin_cycles_through_replicas():
    cfg = small_config([(i * 0.01, 10, 5) for i in range(8)], num_replicas=3)
    run = Simulation(cfg, POLICIES["round_robin"]).run()
    assert run.requests["replica_id"].tolist() == [0, 1, 2, 0, 1, 2, 0, 1]


def test_llq_sends_work_to_the_least_loaded_replica():
    # a long request occupies replica 0; the next requests go elsewhere until the loads even out
    cfg = small_config([(0.0, 100, 500), (0.01, 10, 5), (0.02, 10, 5), (0.03, 10, 5)], num_replicas=2,
                       num_blocks=200)
    run = Simulation(cfg, POLICIES["llq"]).run()
    assert run.requests["replica_id"].tolist()[:2] == [0, 1]


def test_hra_holds_requests_when_head_room_is_short_and_serves_the_shortest_first():
    # one replica of 100 blocks (97 usable): the first request reserves 1.6 x 800 tokens = 80 blocks, so of the
    # next three only the 40-token prompt (4 blocks) fits; the 600- and 300-token ones wait in the global queue
    reqs = [(0.0, 800, 50), (0.01, 600, 5), (0.02, 40, 5), (0.03, 300, 5)]
    run = Simulation(small_config(reqs, num_blocks=100), POLICIES["hra"]).run()
    routed = run.requests["routed_at"]
    assert routed[0] == 0.0 and routed[2] == 0.02
    assert routed[1] > 0.03 and routed[3] > 0.03
    order = [rid for _, kind, rid, *_ in run.events if kind == "route"]
    assert order == [0, 2, 3, 1]  # released shortest prompt first
    assert run.num_preemptions == 0


def test_a_vidur_style_policy_file_loads_unchanged_and_runs():
    cls = load_policy(str(HERE / "policies" / "vidur_style_hra.py"))
    assert cls.__name__ == "HeadRoomScheduler"
    run = Simulation(get_preset("paper-routing-short"), cls, seed=0).run()
    assert np.all(~np.isnan(run.requests["completed_at"]))


def test_loader_picks_a_named_class_and_explains_what_is_wrong(tmp_path):
    two = tmp_path / "two.py"
    two.write_text("from glia.simulator import BaseGlobalScheduler\n"
                   "class A(BaseGlobalScheduler):\n    def schedule(self): return []\n"
                   "class B(BaseGlobalScheduler):\n    def schedule(self): return []\n")
    with pytest.raises(PolicyLoadError, match="several scheduler classes"):
        load_policy(str(two))
    assert load_policy(f"{two}:B").__name__ == "B"
    with pytest.raises(PolicyLoadError, match="no scheduler class 'C'"):
        load_policy(f"{two}:C")
    none = tmp_path / "none.py"
    none.write_text("x = 1\n")
    with pytest.raises(PolicyLoadError, match="no subclass of BaseGlobalScheduler"):
        load_policy(str(none))
    bad = tmp_path / "bad.py"
    bad.write_text("def schedule(:\n")
    with pytest.raises(PolicyLoadError, match="bad.py:1: syntax error"):
        load_policy(str(bad))
    with pytest.raises(PolicyLoadError, match="not found"):
        load_policy(str(tmp_path / "missing.py"))
    with pytest.raises(PolicyLoadError, match="unknown policy 'fastest'"):
        load_policy("fastest")
