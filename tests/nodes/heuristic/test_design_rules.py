"""What the design spaces share (``nodes/heuristic/rules.py``): a design is known again by the key in its file."""

from __future__ import annotations

import pytest

from glia.nodes.heuristic.router_designs import RouterDesign
from glia.nodes.heuristic.spaces import SPACES


@pytest.mark.parametrize("space", sorted(SPACES))
def test_every_spaces_design_reads_back_from_its_key_and_a_damaged_key_is_no_design(space):
    baseline = SPACES[space].baseline
    assert SPACES[space].parse(baseline.key()) == baseline
    name, value = baseline.key().split(",")[0].split("=")
    assert SPACES[space].parse(baseline.key().replace(f"{name}={value}", "")) is None  # a field missing
    numeric = next(f for f in baseline.key().split(",") if f.split("=")[1][:1].isdigit())
    assert SPACES[space].parse(baseline.key().replace(numeric, numeric.split("=")[0] + "=lots")) is None


def test_a_key_carries_each_fields_type_and_with_changes_one_field():
    design = RouterDesign(signal="blocks", admission=True, growth=0.8, extra_tokens=32, order="spf")
    assert design.key() == "signal=blocks,admission=True,growth=0.8,extra_tokens=32,headroom=0.03,order=spf"
    assert RouterDesign.from_key(design.key()) == design
    assert RouterDesign.from_key(design.key().replace("admission=True", "admission=yes")) is None
    assert design.with_(growth=0.5) == RouterDesign(signal="blocks", admission=True, growth=0.5, extra_tokens=32,
                                                     order="spf")


def test_a_seed_draws_the_order_of_the_sweeps_after_the_hypotheses_so_repeated_runs_differ():
    from glia.nodes.heuristic.researcher import seeded_order
    plan = [("a", "H-spf", "why"), ("b", "H-headroom/growth", "sweep"), ("c", "compose", "compose"),
            ("d", "H-headroom/local", "local"), ("e", "H-reserve/local", "local"), ("f", "compose", "supervisor: go")]
    assert seeded_order(plan, 0) == plan                       # glia run: the rules' order
    orders = {tuple(seeded_order(plan, s)) for s in range(1, 8)}
    assert len(orders) > 1                                     # glia compare's runs 2, 3, ...: distinct runs
    for order in orders:                                       # the hypotheses and the supervisor's word first
        assert [c[0] for c in order[:2]] == ["a", "f"] and sorted(order) == sorted(plan)
