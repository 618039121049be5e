"""The comparison's statistics: best-so-far curves against simulations, their mean and 90 % CI over repeated runs,
and the multi-context figures of the Glia paper computed from single-context runs.

A run is the list of its evaluations' scores in the order they were charged (the objective as a number to minimise;
``inf`` for a failed or infeasible candidate, which is never "best"). ``best_so_far(scores, budget)[k-1]`` is the
best score among the first k simulations, carried flat past the run's last simulation (a run that stopped early
keeps its best).

- **MCG-Par4** (four contexts in parallel): for every 4-subset of the single-context runs, the best of the subset;
  the mean over subsets. As a curve, the point at ``4k`` total simulations is the mean over subsets of the best of
  the four runs' first ``k`` simulations each, so it is plotted against the simulations the four contexts used in all.
- **MCG-Seq** (contexts one after another): for an ordering of the runs, the runs' evaluations concatenated in that
  order, each run taking as many simulations (and as much wall-clock time) as it used, and the running best of the
  concatenation; the mean over all orderings (sampled when there are too many). A long run weighs in proportion to
  the simulations it used.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np

from glia.simulator.metrics import bootstrap_ci

MAX_ORDERINGS = 5040  # every ordering up to 7 runs; a fixed sample beyond


def best_so_far(scores: Sequence[float], budget: int | None = None) -> list[float]:
    """Running minimum of ``scores`` over ``budget`` simulations (default: as many as the run used)."""
    n = len(scores) if budget is None else budget
    out, best = [], math.inf
    for k in range(n):
        if k < len(scores) and scores[k] < best:
            best = scores[k]
        out.append(best)
    return out


def mean_ci(values: Sequence[float], seed: int = 0) -> tuple[float, float, float, int]:
    """(mean, 90 % CI low, high, n) over the finite values (runs with a valid design); nan when there is none."""
    vals = np.asarray([v for v in values if math.isfinite(v)], dtype=float)
    if len(vals) == 0:
        return (math.nan, math.nan, math.nan, 0)
    lo, hi = bootstrap_ci(vals, np.random.default_rng(seed))
    return (float(vals.mean()), lo, hi, len(vals))


def curve(runs: Sequence[Sequence[float]], budget: int) -> list[dict]:
    """Per simulation count k = 1..budget: the mean and 90 % CI over runs of the best so far, and how many runs have
    a valid design by then."""
    curves = [best_so_far(r, budget) for r in runs]
    out = []
    for k in range(budget):
        mean, lo, hi, n = mean_ci([c[k] for c in curves])
        out.append({"sims": k + 1, "mean": mean, "low": lo, "high": hi, "valid_runs": n, "runs": len(runs)})
    return out


def mcg_par(runs: Sequence[Sequence[float]], budget: int, contexts: int = 4) -> list[dict] | None:
    """MCG-Par<contexts> as a curve over total simulations ``contexts * k`` (k = 1..budget); None with fewer runs
    than contexts. The last point is the mean over subsets of the subsets' best final designs."""
    if len(runs) < contexts:
        return None
    curves = [best_so_far(r, budget) for r in runs]
    subsets = list(itertools.combinations(range(len(runs)), contexts))
    out = []
    for k in range(budget):
        bests = [min(curves[i][k] for i in s) for s in subsets]
        mean, lo, hi, n = mean_ci(bests)
        out.append({"sims": contexts * (k + 1), "mean": mean, "low": lo, "high": hi, "valid_runs": n,
                    "runs": len(subsets)})
    return out


def orderings(n: int, seed: int = 0) -> list[tuple[int, ...]]:
    """Every ordering of n runs, or ``MAX_ORDERINGS`` of them drawn with a fixed seed."""
    if math.factorial(n) <= MAX_ORDERINGS:
        return list(itertools.permutations(range(n)))
    rng = np.random.default_rng(seed)
    return [tuple(int(i) for i in rng.permutation(n)) for _ in range(MAX_ORDERINGS)]


def mcg_seq(runs: Sequence[Sequence[float]]) -> list[dict] | None:
    """MCG-Seq as a curve over total simulations 1..(all runs' simulations): the mean over orderings of the running
    best of the runs concatenated in that order. None with fewer than two runs."""
    if len(runs) < 2:
        return None
    total = sum(len(r) for r in runs)
    paths = [best_so_far([s for i in order for s in runs[i]]) for order in orderings(len(runs))]
    out = []
    for k in range(total):
        mean, lo, hi, n = mean_ci([p[k] for p in paths])
        out.append({"sims": k + 1, "mean": mean, "low": lo, "high": hi, "valid_runs": n, "runs": len(paths)})
    return out


def mcg_seq_time(runs: Sequence[Sequence[tuple[float, float]]], points: int = 200) -> list[dict] | None:
    """MCG-Seq against wall-clock time: each run a list of (seconds since its start, score); runs concatenated in
    every ordering, each lasting as long as it ran; the mean running best at ``points`` instants."""
    if len(runs) < 2:
        return None
    spans = [max((t for t, _ in r), default=0.0) for r in runs]
    total = sum(spans)
    if total <= 0:
        return None
    grid = np.linspace(total / points, total, points)
    paths = []
    for order in orderings(len(runs)):
        events, offset = [], 0.0
        for i in order:
            events += [(offset + t, s) for t, s in runs[i]]
            offset += spans[i]
        times = np.array([t for t, _ in events])
        best = np.minimum.accumulate(np.array([s for _, s in events], dtype=float))
        idx = np.searchsorted(times, grid, side="right") - 1
        paths.append(np.where(idx >= 0, best[np.maximum(idx, 0)], math.inf))
    out = []
    for j, t in enumerate(grid):
        mean, lo, hi, n = mean_ci([p[j] for p in paths])
        out.append({"seconds": float(t), "mean": mean, "low": lo, "high": hi, "valid_runs": n, "runs": len(paths)})
    return out
