"""The progress lines' estimate of the time left in a search: made from the time between experiments (a whole step:
the model's turn, the evaluation, the analyst's), never from the first experiment alone. With a model it once said
"about 3 s left in the search" after the starter, the first of 6 evaluations, while each model turn took minutes.
The clock is a fake one: no timed assertions."""

from __future__ import annotations

import types

from glia.graph import progress
from glia.graph.progress import Eta, describe


def experiment(n: int, left: int) -> dict:
    return {"event": "experiment", "context": "c1", "id": f"c1-e{n:03d}", "label": "starter" if n == 1 else "idea",
            "metrics": {"combined_score": 1.36}, "verdict": "improved", "left": left, "budget": 6,
            "unit": "evaluations"}


def test_no_estimate_after_the_first_experiment_then_one_from_the_time_between_experiments(monkeypatch):
    now = [0.0]
    monkeypatch.setattr(progress, "time", types.SimpleNamespace(monotonic=lambda: now[0]))
    eta = Eta()
    assert describe({"event": "context_start", "context": "c1"}, "combined_score", eta) is None
    now[0] = 2.0  # the starter, measured by the harness at once
    first = describe(experiment(1, 5), "combined_score", eta)
    assert first == "[c1] experiment c1-e001: starter -> combined_score 1.36 (improved) · 1 of 6 evaluations used"
    now[0] = 302.0  # the model took five minutes to write the next design
    second = describe(experiment(2, 4), "combined_score", eta)
    assert second.endswith("· 2 of 6 evaluations used, about 20 min 00 s left in the search")
    now[0] = 402.0
    assert describe(experiment(3, 3), "combined_score", eta).endswith(", about 10 min 00 s left in the search")
    assert describe(experiment(6, 0), "combined_score", eta).endswith("· 6 of 6 evaluations used")
