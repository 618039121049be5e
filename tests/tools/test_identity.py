"""A result is keyed by what was measured: the program by content and the benchmark by identity (the resolved
workload, the seeds, the fixed policies of the other layers by content, the simulator's version). A lookup that
finds the program under another benchmark runs it. The two reproductions of issue 16 are here: best shot's llq in
two comparisons (seeds 0, then 3) in one workspace, and ``glia stack`` / ``glia sweep`` with an edited policy file."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

from glia.graph.cli import main
from glia.graph.experiments.compare import CompareConfig, start_compare
from glia.simulator.presets import PRESETS, get_preset
from glia.simulator.workloads import WorkloadSpec
from glia.tools.evaluator import Evaluator
from glia.tools.identity import benchmark_key, policy_identity, simulator_version
from glia.tools.ledger import BudgetLedger
from tests.support.servers import Model, OpenAIServer, Say, typical_model

ROOT = Path(__file__).parents[2]
# least-loaded queue, as a policy file: llq's figures
STARTER = ROOT / "state" / "tasks" / "builtin" / "routing_starter.py"
QUICK = (Path(__file__).parents[1] / "tasks" / "quick.toml").read_text()


def _task(tmp_path: Path, seeds: list[int]) -> str:
    text = QUICK.replace("seeds = [0]", f"seeds = {seeds}").replace("../../state/tasks/builtin/",
                                                                    f"{ROOT}/state/tasks/builtin/")
    path = tmp_path / f"quick-{'-'.join(map(str, seeds))}.toml"
    path.write_text(text)
    return str(path)


def test_the_benchmark_s_identity_is_its_resolved_configuration_seeds_fixed_policies_and_simulator(tmp_path):
    base = benchmark_key("paper-routing-short", [0])
    assert base == benchmark_key("paper-routing-short", [0])
    assert base != benchmark_key("paper-routing-short", [3])
    # the workload by its resolved configuration, not its name: a renamed preset is the same benchmark, a changed
    # parameter another
    config = get_preset("paper-routing-short")
    assert benchmark_key(config, [0]) == base
    faster = config.replace(workload=dataclasses.replace(config.workload, params={**config.workload.params,
                                                                                   "qps": 9.0}))
    assert benchmark_key(faster, [0]) != base
    # the fixed policies of the other layers by content: an edited batch policy file is another benchmark
    batch = tmp_path / "batch.py"
    batch.write_text("from glia.simulator import BaseBatchPolicy\n\n\nclass B(BaseBatchPolicy):\n"
                     "    def next_index(self, pending, replica):\n        return 0\n")
    fixed = benchmark_key("paper-routing-short", [0], {"batch": str(batch)})
    batch.write_text(batch.read_text().replace("return 0", "return len(pending) - 1"))
    assert benchmark_key("paper-routing-short", [0], {"batch": str(batch)}) != fixed
    # ... but only the layers the program does not design
    assert benchmark_key("paper-routing-short", [0], {"batch": str(batch)}, layer="batch") == \
        benchmark_key("paper-routing-short", [0], {"batch": "spf"}, layer="batch")
    assert re.fullmatch(r"[0-9a-f]{16}", simulator_version())
    # a program by what it does: comments and layout do not count, code does
    a, b = tmp_path / "a.py", tmp_path / "b.py"
    a.write_text(STARTER.read_text())
    b.write_text("# re-worded\n" + STARTER.read_text().replace("\n\n\n", "\n\n"))
    assert policy_identity(str(a)) == policy_identity(str(b)) != policy_identity("llq") == "builtin:llq"


def test_a_recorded_evaluation_is_read_back_only_for_the_same_program_on_the_same_benchmark(tmp_path):
    db = tmp_path / "telemetry.duckdb"
    policy = tmp_path / "policy.py"
    policy.write_text(STARTER.read_text())
    on_0 = Evaluator("paper-routing-short", [0], lambda m: m["mean_e2e_s"], db=db)
    first = on_0.measure(str(policy), "exp")
    assert not first["reused"] and first["id"] == "exp"
    assert on_0.measure(str(policy), "exp")["reused"]
    # the same id asked for on other seeds: measured, under an id of its own, never the seed-0 figure
    on_3 = dataclasses.replace(on_0, seeds=[3])
    other = on_3.measure(str(policy), "exp")
    assert not other["reused"] and other["id"].startswith("exp~") and other["value"] != first["value"]
    assert on_3.measure(str(policy), "exp")["id"] == other["id"]          # and that one is read back
    # an edited program under the same id is measured too
    policy.write_text(STARTER.read_text().replace("min(load", "max(load"))
    edited = on_0.measure(str(policy), "exp")
    assert not edited["reused"] and edited["value"] != first["value"]


def test_best_shot_s_llq_in_two_comparisons_is_measured_on_each_one_s_seeds(tmp_path):
    """Issue 16's reproduction: the same llq code given to best shot in two comparisons in one workspace, seed 0
    then seed 3; the second used to report the first's figure, ledger status ``reused``."""
    asked: list[str] = []
    probe = typical_model()

    def turn(view):
        system = view.messages[0]["content"] if view.messages[0]["role"] == "system" else ""
        if "Design the best policy you can" in system:
            asked.append("best_shot")
            return Say(f"```python\n{STARTER.read_text()}```")
        return probe.turns[0](view)

    server = OpenAIServer(Model(turn))
    out = {}
    for seeds in ([0], [3]):
        config = CompareConfig.build(_task(tmp_path, seeds), methods_=["best_shot"], runs=1, budget=1,
                                     model="emulated", base_url="http://openai.emulated/v1", workspace=tmp_path,
                                     heldout=False, compare_id=f"cmp-seed{seeds[0]}")
        out[seeds[0]] = start_compare(config, factory=server.factory)
        assert out[seeds[0]].status == "finished", out[seeds[0]].message
    assert asked
    for seed, o in out.items():
        llq = o.summary["baselines"]["llq"]["value"]
        best = o.summary["methods"]["best_shot"]["search"]["mean"]
        assert best == pytest.approx(llq, rel=1e-9), (seed, best, llq)
        rows = BudgetLedger(o.dir / "ledger.sqlite").rows("best_shot-r1")
        assert [r["status"] for r in rows] == ["ok"], rows
    assert out[0].summary["baselines"]["llq"]["value"] != out[3].summary["baselines"]["llq"]["value"]


@pytest.fixture
def tiny(monkeypatch):
    auto = get_preset("diurnal-autoscale")
    monkeypatch.setitem(PRESETS, "tiny-autoscale", ("test", auto.replace(
        workload=WorkloadSpec("sinusoidal", {**auto.workload.params, "duration_s": 600.0}))))


def test_glia_stack_measures_an_edited_policy_file_again(tiny, tmp_path, capsys):
    """Issue 16's reproduction: ``glia stack`` cached rows by file path, so an edited file gave the old figures."""
    router = tmp_path / "router.py"
    router.write_text(STARTER.read_text())
    args = ["stack", "--router", str(router), "--workload", "tiny-autoscale", "--seeds", "1",
            "--out", str(tmp_path / "stack"), "--no-plot", "--json"]
    assert main(args) == 0
    before = {r["label"]: r for r in json.loads(capsys.readouterr().out)["rows"]}
    # least-loaded routing as a file is llq: the same figures as the standard stack's
    assert before["router replaced"]["metrics"] == before["standard"]["metrics"]
    router.write_text(STARTER.read_text().replace("min(load", "max(load"))   # the most loaded replica: worse
    assert main(args) == 0
    after = {r["label"]: r for r in json.loads(capsys.readouterr().out)["rows"]}
    assert after["standard"] == before["standard"]                             # read back: nothing changed there
    assert after["router replaced"]["metrics"] != before["router replaced"]["metrics"]
    assert after["router replaced"]["metrics"]["p95_slowdown"]["mean"] > \
        before["router replaced"]["metrics"]["p95_slowdown"]["mean"]


def test_glia_sweep_measures_an_edited_policy_file_again(monkeypatch, tmp_path, capsys):
    slo = get_preset("slo-prefill")
    monkeypatch.setitem(PRESETS, "tiny-slo", ("test", slo.replace(
        workload=WorkloadSpec("closed_loop", {**slo.workload.params, "duration_s": 60.0}))))
    design = tmp_path / "router.py"
    design.write_text(STARTER.read_text())
    args = ["sweep", "--design", str(design), "--baselines", "llq", "--workload", "tiny-slo", "--values", "100",
            "--seeds", "1", "--out", str(tmp_path / "sweep"), "--no-plot", "--json"]
    assert main(args) == 0
    before = {d["design"]: d for d in json.loads(capsys.readouterr().out)["designs"]}
    design.write_text(STARTER.read_text().replace("min(load", "max(load"))
    assert main(args) == 0
    after = {d["design"]: d for d in json.loads(capsys.readouterr().out)["designs"]}
    assert after["llq"] == before["llq"]
    assert after["router"]["points"] != before["router"]["points"]


def test_a_ray_task_carries_the_source_of_every_layer_s_policy_file(tmp_path):
    """A worker on another node has none of the driver's paths: the batch policy and autoscaler files travel with
    the router's (``ray_seed`` is what each Ray task runs; here without Ray, the driver's files deleted first)."""
    from glia.tools.executors import policy_sources, ray_seed
    batch = tmp_path / "driver" / "batch.py"
    batch.parent.mkdir()
    batch.write_text((ROOT / "state" / "tasks" / "builtin" / "batch_headroom.py").read_text())
    router = tmp_path / "driver" / "router.py"
    router.write_text(STARTER.read_text())
    config = get_preset("paper-routing-short").with_stack(batch=str(batch))
    sources = policy_sources(config, str(router))
    assert set(sources) == {"router", "batch"} and sources["batch"][0] == str(batch)
    here = ray_seed(config, str(router), sources, 0, 120.0, 4096)
    for f in (batch, router):
        f.unlink()   # the worker's machine
    there = ray_seed(config, str(router), sources, 0, 120.0, 4096)
    assert here.error is None and there.error is None, (here.error, there.error)
    assert there.summary == here.summary
