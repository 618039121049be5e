"""What the LLM researcher is shown every turn (``nodes/prompts.py``)."""

from __future__ import annotations

from glia.nodes import prompts

TASK = {"objective": {"metric": "mean_e2e_s", "goal": "minimize"}, "design": {"file": "policy.py"}}
WORKING, BROKEN = "class Router: ...  # llq", "class Router: ...  # uses request.replica_id"
BEST = {"id": "c1-e001", "label": "starter", "value": 49.1}
OK = {"id": "c1-e001", "seq": 1, "candidate": "policy.py", "label": "starter", "metrics": {"mean_e2e_s": 49.1},
      "verdict": "improved"}
FAILED = {"id": "c1-e002", "seq": 2, "candidate": "policy.py", "label": "hold",
          "error": {"kind": "exception", "message": "policy raised KeyError in schedule(): -1"}}


def test_after_a_failure_the_workbench_offers_the_best_design_to_start_again_from():
    text = prompts.workbench(TASK, BROKEN, [OK, FAILED], [], [], None, 4, BEST, WORKING)
    assert ("That file failed in c1-e002 (exception). Fix it, or start again from the best design so far, c1-e001"
            in text)
    assert text.index(BROKEN) < text.index(WORKING) < text.index("Experiments (minimize mean_e2e_s)")


def test_while_the_file_runs_the_workbench_shows_it_alone():
    assert WORKING not in prompts.workbench(TASK, BROKEN, [FAILED, {**OK, "seq": 3}], [], [], None, 4, BEST, WORKING)
    assert "failed" not in prompts.workbench(TASK, WORKING, [OK, FAILED], [], [], None, 4, BEST, WORKING)
