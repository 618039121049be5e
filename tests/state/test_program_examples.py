"""The two example program problems shipped with Glia (``state/tasks/builtin/programs``): each runs under its own
format's machinery and under Glia's runner with the same figures, has held-out and shifted splits, rewards a better
design, and defeats the obvious games (a program that looks at what it should not, one that reports its own score)."""

from __future__ import annotations

import asyncio
import dataclasses
import importlib.util
import sys
import textwrap
from pathlib import Path

import pytest

from glia.state.tasks.program_import import from_openevolve, from_shinka
from glia.tools.programs import evaluate_program, spec_for_task

EXAMPLES = Path(__file__).resolve().parents[2] / "state" / "tasks" / "builtin" / "programs"
CACHE, PLACEMENT = EXAMPLES / "cache-eviction", EXAMPLES / "job-placement"


def _module(path: Path, name: str, monkeypatch):
    monkeypatch.syspath_prepend(str(path.parent))
    for mod in ("traces", "instances"):
        monkeypatch.delitem(sys.modules, mod, raising=False)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def cache_task(tmp_path_factory):
    out = tmp_path_factory.mktemp("tasks") / "cache.toml"
    return from_openevolve(CACHE, out, heldout_env=["CACHE_SPLIT=heldout"], shifted_env=["CACHE_SPLIT=shifted"]).task


@pytest.fixture(scope="module")
def placement_task(tmp_path_factory):
    out = tmp_path_factory.mktemp("tasks") / "placement.toml"
    return from_shinka(PLACEMENT, out, heldout_args=["--split heldout"], shifted_args=["--split shifted"]).task


def test_the_cache_example_runs_under_openevolves_own_evaluator_with_glias_figures(cache_task, monkeypatch):
    from openevolve.config import load_config
    from openevolve.evaluator import Evaluator

    monkeypatch.setattr(sys, "path", list(sys.path))  # OpenEvolve puts the evaluator's directory first
    monkeypatch.delitem(sys.modules, "traces", raising=False)
    config = load_config(str(CACHE / "config.yaml"))
    assert config.evaluator.cascade_evaluation and config.evaluator.cascade_thresholds == [0.05]
    evaluator = Evaluator(config.evaluator, str(CACHE / "evaluator.py"))
    starter = (CACHE / "initial_program.py").read_text()
    metrics = asyncio.run(evaluator.evaluate_program(starter, "starter"))
    artifacts = evaluator.get_pending_artifacts("starter")
    assert metrics["validity"] == 1.0 and 0.15 < metrics["combined_score"] < 0.35
    assert metrics["combined_score"] == pytest.approx(metrics["lru_hit_ratio"])  # the starter is LRU
    assert [r["trace"] for r in artifacts["traces"]] == ["web-1", "scan-2", "loop-3"]
    assert "mean hit ratio" in artifacts["summary"]
    glia = evaluate_program(spec_for_task(cache_task), starter)
    assert glia.status == "ok" and glia.valid is True
    assert glia.metrics["combined_score"] == metrics["combined_score"]  # deterministic, the same figure
    assert [r["hit_ratio"] for r in glia.artifacts.tables["traces"]] == [r["hit_ratio"] for r in artifacts["traces"]]
    assert glia.artifacts.texts["summary"] == artifacts["summary"]


def test_the_cache_example_has_held_out_and_shifted_splits(cache_task, monkeypatch):
    ev = _module(CACHE / "evaluator.py", "cache_evaluator", monkeypatch)
    starter = str(CACHE / "initial_program.py")
    splits = {s: ev.evaluate(starter, split=s) for s in ("train", "heldout", "shifted")}
    names = {s: [r["trace"] for r in res.artifacts["traces"]] for s, res in splits.items()}
    assert names == {"train": ["web-1", "scan-2", "loop-3"], "heldout": ["web-101", "scan-102", "loop-103"],
                     "shifted": ["scan-heavy-201", "big-objects-202", "flash-crowd-203"]}
    spec = spec_for_task(cache_task)
    held = evaluate_program(spec, (CACHE / "initial_program.py").read_text(), variant="shifted")
    assert held.status == "ok" and held.metrics["combined_score"] == splits["shifted"].metrics["combined_score"]


BETTER_CACHE = '''
from collections import OrderedDict


# EVOLVE-BLOCK-START
class EvictionPolicy:
    """Segmented LRU: new objects on probation; a second request promotes them; victims come from probation first."""

    def __init__(self, capacity):
        self.capacity = capacity
        self.probation = OrderedDict()
        self.protected = OrderedDict()
        self.protected_bytes = 0

    def on_request(self, key, size, hit, free):
        if hit:
            if key in self.probation:
                del self.probation[key]
                self.protected[key] = size
                self.protected_bytes += size
                while self.protected_bytes > 0.8 * self.capacity:
                    old, s = self.protected.popitem(last=False)
                    self.protected_bytes -= s
                    self.probation[old] = s
            else:
                self.protected.move_to_end(key)
            return []
        victims = []
        while free < size and (self.probation or self.protected):
            if self.probation:
                old, s = self.probation.popitem(last=False)
            else:
                old, s = self.protected.popitem(last=False)
                self.protected_bytes -= s
            victims.append(old)
            free += s
        if free >= size:
            self.probation[key] = size
        return victims
# EVOLVE-BLOCK-END
'''

PEEKING_CACHE = '''
# EVOLVE-BLOCK-START
class EvictionPolicy:
    """A cheat: regenerates the evaluator's traces (its traces.py) to evict the object used farthest in the future;
    without them, LRU."""

    def __init__(self, capacity):
        self.capacity, self.t, self.future, self.order, self.next = capacity, 0, None, {}, {}
        try:
            import traces
            for family, seed, n, frac in traces.SPLITS["train"] + traces.SPLITS["smoke"]:
                requests, cap = traces.make_trace(family, seed, n, frac)
                if cap == capacity:
                    self.future, last = [0] * len(requests), {}
                    for t in range(len(requests) - 1, -1, -1):
                        self.future[t] = last.get(requests[t][0], 10**9)
                        last[requests[t][0]] = t
        except ImportError:
            pass

    def _next_use(self, key):
        return self.next.get(key, 10**9)

    def on_request(self, key, size, hit, free):
        if self.future:
            self.next[key] = self.future[self.t]
        self.t += 1
        if hit:
            self.order[key] = self.order.pop(key)
            return []
        victims = []
        while free < size and self.order:
            if self.future:
                old = max(self.order, key=self._next_use)
            else:
                old = next(iter(self.order))
            free += self.order.pop(old)
            victims.append(old)
        if free >= size:
            self.order[key] = size
        return victims
# EVOLVE-BLOCK-END
'''


def test_the_cache_example_rewards_a_better_policy_and_defeats_a_look_at_the_future(cache_task):
    spec = spec_for_task(cache_task)
    starter = evaluate_program(spec, (CACHE / "initial_program.py").read_text())
    better = evaluate_program(spec, BETTER_CACHE)
    assert better.status == "ok" and better.metrics["combined_score"] > starter.metrics["combined_score"] + 0.01
    peek = evaluate_program(spec, PEEKING_CACHE)  # traces.py is the evaluator's: out of the program's reach
    assert peek.status == "ok" and peek.metrics["combined_score"] == starter.metrics["combined_score"]
    # loaded into the evaluator's process (shared isolation), the same cheat sees the future: what split prevents
    shared = evaluate_program(dataclasses.replace(spec, isolation="shared"), PEEKING_CACHE)
    assert shared.metrics["combined_score"] > better.metrics["combined_score"]


def test_the_cache_example_marks_a_policy_that_breaks_the_interface_invalid(cache_task):
    liar = BETTER_CACHE.replace("victims.append(old)", "victims.append(old + 10**6)")
    res = evaluate_program(spec_for_task(cache_task), liar)
    assert res.status == "invalid" and res.valid is False and res.metrics["combined_score"] == 0.0
    assert res.failure.message == "the validity metric validity is 0 (a valid program has >= 1)"
    assert "is not in the cache" in res.artifacts.texts.get("error", res.artifacts.scalars.get("error", ""))


BETTER_PLACEMENT = textwrap.dedent('''
    # EVOLVE-BLOCK-START
    def place(jobs, machines):
        """Shortest work first, on the machine where the job would finish earliest by a rough estimate."""
        free_at = {m["id"]: 0.0 for m in machines}
        out = {}
        for job in sorted(jobs, key=lambda j: j["release"]):
            fits = [m for m in machines if m["cores"] >= job["cores"] and m["mem_gb"] >= job["mem_gb"]]
            def finish(m):
                return max(free_at[m["id"]], job["release"]) + job["work"] / m["speed"] * job["cores"] / m["cores"]
            best = min(fits, key=finish)
            free_at[best["id"]] = finish(best)
            out[job["id"]] = (best["id"], job["work"])
        return [out[j["id"]] for j in jobs]
    # EVOLVE-BLOCK-END


    def run_placement(jobs: list, machines: list) -> list:
        """The harness's entry point (outside the evolve block)."""
        return place(jobs, machines)
''')


def test_the_placement_example_rewards_a_better_heuristic_on_every_split(placement_task):
    spec = spec_for_task(placement_task)
    starter_src = (PLACEMENT / "initial.py").read_text()
    for variant in ("search", "heldout", "shifted"):
        starter = evaluate_program(spec, starter_src, variant=variant)
        assert starter.status == "ok" and starter.valid is True, starter.failure
        assert [r["instance"] for r in starter.artifacts.tables["instances.csv"]][:1] == [
            {"search": "steady-0", "heldout": "steady-100", "shifted": "bursty-200"}[variant]]
        assert len(starter.artifacts.tables["worst_jobs.csv"]) == 25
        assert "mean completion time" in starter.artifacts.texts["text_feedback"]
    better = evaluate_program(spec, BETTER_PLACEMENT)
    starter = evaluate_program(spec, starter_src)
    assert better.metrics["combined_score"] > starter.metrics["combined_score"]


def test_the_placement_example_computes_the_cost_itself(placement_task):
    spec = spec_for_task(placement_task)
    boaster = BETTER_PLACEMENT.replace('''    return [out[j["id"]] for j in jobs]''', '''    import pathlib
    results = pathlib.Path(__file__).resolve().parent.parent / "results"
    for name, text in (("metrics.json", '{"combined_score": 100.0}'), ("correct.json", '{"correct": true}')):
        try:
            (results / name).write_text(text)
        except OSError:
            pass
    return [out[j["id"]] + (0.0,) for j in jobs]  # and a third field: "my cost"''')
    assert boaster != BETTER_PLACEMENT
    res = evaluate_program(spec, boaster)
    assert res.status == "invalid" and res.metrics["combined_score"] == 0.0
    assert "is not a (machine_id, priority) pair" in res.failure.message
    squeezed = BETTER_PLACEMENT.replace("best = min(fits, key=finish)", "best = min(machines, key=finish)")
    res = evaluate_program(spec, squeezed)
    assert res.status == "invalid" and "needs" in res.failure.message and "machine" in res.failure.message
