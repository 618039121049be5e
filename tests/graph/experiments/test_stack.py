"""``glia stack`` and ``glia sweep``: the standard stack against each layer replaced and all together, with CIs;
the highest load each design sustains under a latency bound; earlier runs' designs by thread; results kept and
reused; figures drawn when matplotlib is there and skipped with a message when it is not."""

from __future__ import annotations

import json

import pytest

from glia.graph.cli import main
from glia.graph.experiments import plots, stack
from glia.graph.experiments.designs import resolve_design
from glia.graph.experiments.sweep import capacity
from glia.simulator.presets import PRESETS, get_preset
from glia.simulator.workloads import WorkloadSpec


@pytest.fixture
def tiny(monkeypatch):
    """Short versions of the autoscaling and SLO benchmarks."""
    auto = get_preset("diurnal-autoscale")
    monkeypatch.setitem(PRESETS, "tiny-autoscale", ("test", auto.replace(
        workload=WorkloadSpec("sinusoidal", {**auto.workload.params, "duration_s": 600.0}))))
    slo = get_preset("slo-prefill")
    monkeypatch.setitem(PRESETS, "tiny-slo", ("test", slo.replace(
        workload=WorkloadSpec("closed_loop", {**slo.workload.params, "duration_s": 60.0}))))


def test_the_stack_table_has_the_standard_each_layer_replaced_and_all_with_cis(tiny, tmp_path, capsys):
    args = ["stack", "--router", "hra", "--batch", "spf", "--autoscaler", "queue", "--workload", "tiny-autoscale",
            "--seeds", "2", "--out", str(tmp_path), "--no-plot", "--json"]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    rows = {r["label"]: r for r in out["rows"]}
    assert list(rows) == ["standard", "router replaced", "batch replaced", "autoscaler replaced", "all replaced"]
    assert (rows["standard"]["router"], rows["standard"]["batch"], rows["standard"]["autoscaler"]) == \
        ("llq", "fcfs", "threshold")
    assert (rows["all replaced"]["router"], rows["all replaced"]["batch"], rows["all replaced"]["autoscaler"]) == \
        ("hra", "spf", "queue")
    for r in rows.values():
        g = r["metrics"]["gpu_hours"]
        assert g["ci90"][0] <= g["mean"] <= g["ci90"][1] and "p95_slowdown" in r["metrics"]
    table = (tmp_path / "stack.md").read_text()
    assert "| standard | llq | fcfs | threshold |" in table and "vs standard" in table and "+0.0 %" in table

    # a second comparison reuses every row measured already
    def refuse(*a, **k):
        raise AssertionError("measured again")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(stack, "run_benchmark", refuse)
        assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["rows"] == out["rows"]


def _no_matplotlib():
    raise ImportError("matplotlib is not installed; pip install 'glia[plots]' for the figures")


def test_the_stack_plot_is_drawn_or_skipped_with_a_message(tiny, tmp_path, capsys):
    args = ["stack", "--batch", "spf", "--workload", "tiny-autoscale", "--seeds", "1", "--out", str(tmp_path)]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(plots, "_pyplot", _no_matplotlib)
        assert main(args) == 0
    captured = capsys.readouterr()
    assert "no plot: matplotlib is not installed" in captured.err and (tmp_path / "stack.md").is_file()
    pytest.importorskip("matplotlib")
    assert main(args) == 0
    assert (tmp_path / "stack.png").stat().st_size > 1000


def test_designs_are_built_ins_files_or_an_earlier_run_s_best_of_the_right_layer(tmp_path):
    run = tmp_path / "runs" / "t1"
    run.mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({"task": "autoscaling"}))
    with pytest.raises(ValueError, match="has no best design yet"):
        resolve_design("run:t1", "autoscaler", tmp_path)
    (run / "best_autoscaler.py").write_text("x = 1\n")
    d = resolve_design("run:t1", "autoscaler", tmp_path)
    assert d.spec == str(run / "best_autoscaler.py") and d.name == "autoscaling run t1"
    with pytest.raises(ValueError, match="designed a autoscaler policy .* not a router"):
        resolve_design("run:t1", "router", tmp_path)
    with pytest.raises(ValueError, match="no run t2"):
        resolve_design("run:t2", "router", tmp_path)
    with pytest.raises(ValueError, match="unknown batch policy 'llq'"):
        resolve_design("llq", "batch", tmp_path)
    assert resolve_design("spf", "batch", tmp_path).spec == "spf"


def test_the_sweep_reports_each_design_s_highest_load_under_the_bound(tiny, tmp_path, capsys):
    args = ["sweep", "--task", "slo-routing", "--baselines", "llq,round_robin", "--workload", "tiny-slo",
            "--values", "20,400", "--seeds", "1", "--out", str(tmp_path), "--no-plot", "--json"]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["param"] == "users" and out["metric"] == "p90_ttft_s" and out["bound"] == 1.5
    by = {d["design"]: d for d in out["designs"]}
    assert set(by) == {"llq", "round_robin"}
    for d in by.values():
        light, heavy = d["points"]
        assert light["p90_ttft_s"]["mean"] < heavy["p90_ttft_s"]["mean"]
        assert d["max_load"] in (None, 20.0, 400.0)
    assert "highest users meeting the bound" in (tmp_path / "sweep.md").read_text()


def test_capacity_is_the_highest_load_up_to_which_every_point_meets_the_bound():
    pts = [{"value": v, "m": {"mean": m}, "throughput_rps": {"mean": v / 10}} for v, m in
           ((100, 0.5), (200, 1.4), (300, 1.6), (400, 1.2))]
    assert capacity(pts, "m", 1.5) == {"max_load": 200, "throughput_at_max": 20.0}
    assert capacity(pts, "m", 0.1) == {"max_load": None, "throughput_at_max": None}
