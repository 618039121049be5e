"""Tasks: the built-in ones load with their layer, fixed stack, baselines and offline rules; malformed ones get an
error naming the field; constraints give a feasibility, a violation and a penalised score the search can compare."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from glia.state import TaskError, feasible, improves, load_task, score, violation, worse
from glia.state.tasks.task import TASKS_DIR, builtin_tasks, constraint_text, objective_ci, validate_task


def test_every_built_in_task_loads_with_its_layer_stack_baselines_and_offline_rules():
    assert builtin_tasks() == ["adapt", "autoscaling", "batch-scheduling", "cache-eviction", "job-placement",
                               "routing", "slo-routing"]
    layers = {name: load_task(name)["design"]["layer"] for name in builtin_tasks()}
    assert layers == {"adapt": "router", "autoscaling": "autoscaler", "batch-scheduling": "batch",
                      "cache-eviction": "program", "job-placement": "program", "routing": "router",
                      "slo-routing": "router"}
    batch = load_task("batch-scheduling")
    assert batch["stack"] == {"router": "llq", "batch": None, "autoscaler": None}
    assert batch["benchmark"]["baselines"] == ["fcfs", "spf", str(TASKS_DIR / "batch_headroom.py")]
    assert batch["offline"]["space"] == "batch"
    adapt = load_task("adapt")
    assert adapt["benchmark"]["baselines"][0] == str(TASKS_DIR / "adapt_routing_best.py")
    assert adapt["design"]["starter_source"] == (TASKS_DIR / "adapt_routing_best.py").read_text()
    slo = load_task("slo-routing")
    assert slo["objective"]["constraint"] == {"metric": "p90_ttft_s", "max": 1.5, "min": None, "penalty": 50.0}
    assert constraint_text(slo) == "p90_ttft_s <= 1.5" and constraint_text(load_task("routing")) == ""
    assert load_task("routing")["offline"] == {"space": "router", "diagnostics": []}


def test_every_task_lists_the_known_designs_its_offline_space_was_seeded_with_among_its_baselines():
    """The heuristic researcher reaches the designs its space was written with by rule; so every report shows the
    search against them (routing: hra beside llq and round_robin), and a seed's file is the space's own design."""
    from glia.nodes.heuristic.spaces import SEEDS
    from glia.state.tasks.task import policy_name
    for name in builtin_tasks():
        task = load_task(name)
        space = (task.get("offline") or {}).get("space", "router")
        listed = {policy_name(b) for b in task["benchmark"]["baselines"]}
        for seed in SEEDS.get(space, ()):
            assert policy_name(seed.baseline) in listed, (name, seed.baseline)
            if seed.baseline.endswith(".py"):
                assert (TASKS_DIR / seed.baseline).read_text() == seed.design.code(), seed.baseline
    assert {policy_name(b) for b in load_task("routing")["benchmark"]["baselines"]} == {"llq", "round_robin", "hra"}


def _raw(**changes) -> dict:
    raw = {"name": "t", "objective": {"metric": "mean_e2e_s"}, "benchmark": {"workload": "paper-routing-short"},
           "design": {"file": "policy.py"}}
    for key, value in changes.items():
        raw[key] = value
    return raw


@pytest.mark.parametrize("changes,message", [
    ({"design": {"file": "b.py", "layer": "batch"}}, "must fix the router"),
    ({"design": {"file": "b.py", "layer": "scheduler"}}, "design.layer must be one of"),
    ({"design": {"file": "p.py"}, "stack": {"router": "llq"}}, "fixes the router layer, which is the one"),
    ({"stack": {"batch": "magic"}}, "stack.batch 'magic' is not a built-in batch policy"),
    ({"stack": {"batch": "missing.py"}}, "no such file beside the task"),
    ({"stack": {"gpu": "x"}}, "may only name the layers"),
    ({"design": {"file": "a.py", "layer": "autoscaler"}, "stack": {"router": "llq"}}, "needs a workload preset with "
                                                                                      "autoscaling"),
    ({"objective": {"metric": "gpu_hours", "constraint": {"metric": "p95_slowdown", "max": 5, "penalty": -1}}},
     "penalty should be a number >= 0"),
    ({"objective": {"metric": "gpu_hours", "constraint": {"metric": "p95_slowdown"}}}, "needs a run metric and max"),
    ({"benchmark": {"workload": "paper-routing-short", "baselines": ["fcfs"]}}, "not a built-in router policy"),
    ({"offline": {"space": "quantum"}}, "offline.space must be one of"),
    ({"offline": {"diagnostics": ["vibes"]}}, "offline.diagnostics ['vibes'] unknown"),
])
def test_a_malformed_task_names_what_is_wrong(changes, message, tmp_path):
    with pytest.raises(TaskError, match=message.replace("[", r"\[").replace("]", r"\]")):
        validate_task(_raw(**changes), tmp_path)


def test_a_file_baseline_or_fixed_policy_resolves_beside_the_task(tmp_path):
    (tmp_path / "mine.py").write_text("x = 1\n")
    task = validate_task(_raw(design={"file": "b.py", "layer": "batch"}, stack={"router": "mine.py:Router"},
                              benchmark={"workload": "paper-routing-short", "baselines": ["spf", "mine.py"]}),
                         tmp_path)
    assert task["stack"]["router"] == f"{tmp_path / 'mine.py'}:Router"
    assert task["benchmark"]["baselines"] == ["spf", str(tmp_path / "mine.py")]


MAXIMISE = {"objective": {"metric": "throughput_rps", "goal": "maximize",
                          "constraint": {"metric": "p90_ttft_s", "max": 1.5, "min": None, "penalty": 50.0}}}


def test_a_constraint_makes_a_design_feasible_or_not_and_penalises_its_score_by_the_violation():
    ok = {"throughput_rps": 20.0, "p90_ttft_s": 1.4}
    over = {"throughput_rps": 27.0, "p90_ttft_s": 1.65}
    assert feasible(MAXIMISE, ok) and violation(MAXIMISE, ok) == 0.0 and score(MAXIMISE, ok) == -20.0
    assert not feasible(MAXIMISE, over) and violation(MAXIMISE, over) == pytest.approx(0.1)
    assert score(MAXIMISE, over) == pytest.approx(-27.0 + 5.0)          # comparable: worse than the feasible one
    assert violation(MAXIMISE, {"throughput_rps": 5.0}) == math.inf     # the constrained metric is missing
    floor = {"objective": {"metric": "mean_e2e_s", "goal": "minimize",
                           "constraint": {"metric": "throughput_rps", "max": None, "min": 10.0, "penalty": 100.0}}}
    assert violation(floor, {"mean_e2e_s": 3.0, "throughput_rps": 8.0}) == pytest.approx(0.2)
    assert score(floor, {"mean_e2e_s": 3.0, "throughput_rps": 8.0}) == pytest.approx(23.0)


def test_improvement_and_worsening_are_relative_for_scores_of_either_sign():
    assert improves(40.0, 50.0, 0.9) and not improves(46.0, 50.0, 0.9)
    assert improves(-27.0, -24.0, 0.9) and not improves(-25.0, -24.0, 0.9)   # maximised: more negative is better
    assert improves(5.0, math.inf, 0.99) and not worse(5.0, math.inf, 1.05)
    assert worse(-20.0, -24.0, 1.05) and not worse(-23.5, -24.0, 1.05)


def test_the_objective_s_ci_is_the_one_of_its_own_metric():
    entry = {"mean_e2e_ci90": [1.0, 2.0], "ci90": {"gpu_hours": [10.0, 11.0], "mean_e2e_s": [1.0, 2.0]}}
    assert objective_ci(load_task("autoscaling"), entry) == [10.0, 11.0]
    assert objective_ci(load_task("routing"), entry) == [1.0, 2.0]


def test_the_shipped_starters_are_the_designs_their_keys_name():
    from glia.nodes.heuristic.spaces import SPACES
    for name in ("batch-scheduling", "autoscaling", "slo-routing"):
        task = load_task(name)
        space = SPACES[task["offline"]["space"]]
        design = space.starting_design(task["design"]["starter_source"])
        assert design.code() == task["design"]["starter_source"], name
    assert Path(TASKS_DIR / "adapt_routing_best.py").read_text().startswith('"""Router: least in-flight requests')


ROUTING = (TASKS_DIR / "routing.toml").read_text()


@pytest.mark.parametrize("change,message", [
    (("simulations = 20", "simulatons = 2"), "{path}:32: budget.simulatons: unknown; did you mean simulations?"),
    (("[budget]", "[budgett]"), "{path}:31: [budgett]: unknown table; did you mean [budget]?"),
    (("seeds = [0, 1, 2, 3, 4]", "seed = [0, 1]"), "{path}:18: benchmark.seed: unknown; did you mean seeds?"),
    (("[heldout]", "[held_out]"), "{path}:27: [held_out]: unknown table; did you mean [heldout]?"),
    (('goal = "minimize"', 'gaol = "minimize"'), "{path}:14: objective.gaol: unknown; did you mean goal?"),
    (("[design]", "[design]\nlayr = \"router\""), "{path}:22: design.layr: unknown; did you mean layer?"),
    (("[budget]", "[budget]\nwall_clock = 60"), "{path}:32: budget.wall_clock: unknown; did you mean wall_clock_s?"),
    (("name = \"routing\"", "name = \"routing\"\nbackgound = \"x\""), "{path}:3: backgound: unknown; did you mean "
                                                                       "background?"),
    (("[budget]", "[stack]\ngpu = \"a10\"\n[budget]"), "{path}:32: stack.gpu: unknown; known: router, batch, "
                                                       "autoscaler ([stack] may only name the layers router, batch, "
                                                       "autoscaler)"),
    (("simulations = 20", "simulations = \"20\""), "{path}:32: budget.simulations must be a positive integer, got "
                                                   "'20'"),
])
def test_a_typo_in_a_task_file_is_an_error_naming_the_file_the_line_and_the_closest_key(change, message, tmp_path):
    for name in ("routing_starter.py", "routing_function.py"):
        (tmp_path / name).write_text((TASKS_DIR / name).read_text())
    path = tmp_path / "mine.toml"
    assert change[0] in ROUTING
    path.write_text(ROUTING.replace(change[0], change[1], 1))
    with pytest.raises(TaskError) as caught:
        load_task(str(path))
    assert str(caught.value) == message.format(path=path)


def test_the_lines_of_a_toml_file_are_found_past_comments_and_multi_line_strings():
    from glia.state.tasks.task import key_lines

    lines = key_lines('name = "x"\nbackground = """\n[not] = a table\nkey = 1\n"""\n# [c] = 2\n[a.b]\n"q.r" = 3\n')
    assert lines == {("name",): 1, ("background",): 2, ("a", "b"): 7, ("a", "b", "q.r"): 8}
