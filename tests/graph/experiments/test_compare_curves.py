"""The comparison's statistics: best so far, mean and CI over runs, MCG-Par4 and MCG-Seq, on runs small enough to
work out by hand."""

from __future__ import annotations

import itertools
import math

import pytest

from glia.graph.experiments.compare import curves

INF = math.inf


def test_best_so_far_never_counts_a_failure_and_keeps_its_best_past_the_run_s_end():
    assert curves.best_so_far([INF, 5.0, 7.0, 3.0], 6) == [INF, 5.0, 5.0, 3.0, 3.0, 3.0]
    assert curves.best_so_far([]) == []


def test_the_curve_averages_only_runs_with_a_valid_design_and_says_how_many():
    points = curves.curve([[INF, 4.0], [2.0, 2.0], [INF, INF]], 2)
    assert points[0]["mean"] == 2.0 and points[0]["valid_runs"] == 1 and points[0]["runs"] == 3
    assert points[1]["mean"] == 3.0 and points[1]["valid_runs"] == 2
    assert points[1]["low"] <= 3.0 <= points[1]["high"]


def test_mcg_par4_is_the_mean_over_4_subsets_of_the_subset_s_best():
    runs = [[5.0, 4.0], [3.0, 3.0], [6.0, 1.0], [7.0, 7.0], [2.0, 8.0]]
    par = curves.mcg_par(runs, 2)
    finals = [min(r) for r in runs]
    expected = sum(min(finals[i] for i in s) for s in itertools.combinations(range(5), 4)) / 5
    assert [p["sims"] for p in par] == [4, 8]
    assert par[-1]["mean"] == pytest.approx(expected)
    first = [r[0] for r in runs]
    assert par[0]["mean"] == pytest.approx(sum(min(first[i] for i in s)
                                               for s in itertools.combinations(range(5), 4)) / 5)
    assert curves.mcg_par(runs[:3], 2) is None


def test_mcg_seq_concatenates_runs_in_every_order_each_as_long_as_it_ran():
    seq = curves.mcg_seq([[5.0, 4.0, 4.0], [3.0]])
    # orders: (a, b) -> 5, 4, 4, 3 ; (b, a) -> 3, 3, 3, 3
    assert [p["mean"] for p in seq] == [4.0, 3.5, 3.5, 3.0]
    assert seq[0]["runs"] == 2
    assert curves.mcg_seq([[1.0]]) is None


def test_mcg_seq_in_time_weighs_each_run_by_how_long_it_ran():
    timed = curves.mcg_seq_time([[(10.0, 5.0)], [(1.0, 3.0), (30.0, 2.0)]], points=4)
    assert timed[-1]["seconds"] == 40.0 and timed[-1]["mean"] == 2.0
    # at 10 s: order (a, b) has seen 5; order (b, a) has seen 3 (b's second result arrives at 30 s)
    assert timed[0]["mean"] == 4.0


def test_many_runs_are_ordered_by_a_fixed_sample():
    assert len(curves.orderings(8)) == curves.MAX_ORDERINGS
    assert curves.orderings(8) == curves.orderings(8)
