"""The report's isolation line is what the run recorded (each experiment's ``isolation``, kept by the harness), not
what the machine printing the report offers; its sections are functions joined in order."""

from __future__ import annotations

import pytest

from glia.nodes import report
from glia.nodes.report import run_isolation, write_report
from tests.nodes.test_nodes import CONSTRAINED, measured


def test_the_isolation_the_experiments_ran_under():
    assert run_isolation([]) == ("no experiment ran", True)
    assert run_isolation([{"isolation": "landlock+seccomp"}] * 2) == ("isolation: landlock+seccomp", True)
    assert run_isolation([{"isolation": "landlock+seccomp"}, {}]) == (
        "isolation not recorded; isolation: landlock+seccomp", True)
    warning = "WARNING: ran UNCONFINED (landlock missing; only rlimits), allowed by --allow-unconfined"
    assert run_isolation([{"isolation": warning}]) == (warning, False)


def test_the_report_reads_the_record_not_the_machine(tmp_path, monkeypatch):
    def machine():
        raise AssertionError("the report asked the machine printing it")
    monkeypatch.setattr("glia.simulator.isolation.confine.describe", machine)
    ledger = [{**measured(1, 26.0, 1.0), "isolation": "landlock+userns+seccomp"}, measured(2, 27.0, 1.2)]
    text = write_report({"task": CONSTRAINED, "thread_id": "t1", "ledger": ledger, "baselines": [],
                         "contexts": [], "best": None}, tmp_path / "report.md")
    assert ("Model-written code (candidate policies, shell commands) ran confined; isolation not recorded; "
            "isolation: landlock+userns+seccomp.") in text
    unconfined = [{**measured(1, 26.0, 1.0), "isolation": "WARNING: ran UNCONFINED (no landlock)"}]
    text = write_report({"task": CONSTRAINED, "thread_id": "t1", "ledger": unconfined, "baselines": [],
                         "contexts": [], "best": None}, tmp_path / "report.md")
    assert "> **WARNING: ran UNCONFINED (no landlock)**" in text


@pytest.mark.parametrize("section", ["_header", "_design", "_why", "_experiments", "_baselines", "_cost"])
def test_each_section_is_short(section):
    import inspect
    assert len(inspect.getsource(getattr(report, section)).splitlines()) <= 50


def test_the_report_says_what_a_percentile_over_seeds_is(tmp_path):
    """routing-4 request 19: a pooled p99 (the diagnostics) and the mean of the per-seed p99s (the tool) met
    unlabelled; the report's figures say which they are."""
    ledger = [measured(1, 26.0, 1.0), measured(2, 24.0, 1.2)]
    task = {**CONSTRAINED, "benchmark": {**CONSTRAINED.get("benchmark", {}), "seeds": [0, 1, 2]}}
    text = write_report({"task": task, "thread_id": "t1", "ledger": ledger, "baselines": [], "contexts": [],
                         "best": {**ledger[1], "value": 24.0}}, tmp_path / "report.md")
    assert "Over the 3 seeds, each the mean of the seeds' own figures: p99_e2e_s is the mean of the per-seed p99s" \
        in text
