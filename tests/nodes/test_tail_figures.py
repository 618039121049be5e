"""routing-4 request 19 (the player's notes): the diagnostics said "p99 end-to-end 323.2 s" (the requests of all
seeds pooled) while run_simulation said p99_e2e_s 272.643 (the mean of the per-seed p99s), both unlabelled. Each is
now said for what it is, and the diagnostic gives the tool's figure beside its own."""

from __future__ import annotations

import re

from glia.nodes.analyst import diagnose
from glia.simulator import get_preset
from glia.simulator.harness.runner import run_benchmark
from glia.simulator.metrics import OVER_SEEDS
from glia.simulator.workloads import WorkloadSpec
from glia.tools.toolkit import experiment_text

CONFIG = get_preset("paper-routing-short").replace(workload=WorkloadSpec("sharegpt", {"qps": 7.5,
                                                                                      "duration_s": 40.0}))


def test_the_pooled_p99_and_the_mean_of_the_per_seed_p99s_are_labelled_and_both_shown(tmp_path):
    db = tmp_path / "telemetry.duckdb"
    result = run_benchmark("llq", CONFIG, [0, 1], telemetry=db, run_id="r/c1-e001", isolate=False)
    tail = next(f["text"] for f in diagnose(db, "r/c1-e001") if f["topic"] == "tail")
    m = re.match(r"p99 end-to-end over all requests of the 2 seeds pooled ([\d.]+) s \(the mean of the per-seed "
                 r"p99s, p99_e2e_s, is ([\d.]+) s\) against a median of [\d.]+ s", tail)
    assert m, tail
    assert float(m.group(2)) == round(result.metrics["p99_e2e_s"]["mean"], 1)
    per_seed = result.metrics["p99_e2e_s"]["per_seed"]
    assert per_seed[0] != per_seed[1]  # two different seeds: pooling is not averaging
    shown = experiment_text({"id": "c1-e001", "metrics": {k: v["mean"] for k, v in result.metrics.items()},
                             "mean_e2e_ci90": [1.0, 2.0], "seeds": [0, 1]}, 3)
    assert f"({OVER_SEEDS})" in shown and "p99_e2e_s is the mean of the per-seed p99s" in shown
    one_seed = experiment_text({"id": "c1-e001", "metrics": {"p99_e2e_s": 3.0}, "seeds": [0]}, 3)
    assert OVER_SEEDS not in one_seed
