"""Scores the candidate cannot touch: the harness computes the figures from raw records it checks against the
workload it regenerates and the physics of the execution model, and it reads those records from bytes that are
never unpickled. Records a tampering process could send are refused with what failed."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

from glia.simulator import Simulation, get_preset
from glia.simulator.harness.sandbox import run_seeds, simulate_seed
from glia.simulator.harness.verify import TamperedRecords, measure
from glia.simulator.harness.wire import WireError, decode, encode
from glia.simulator.policy.builtin import POLICIES
from glia.simulator.workloads import WorkloadSpec
from tests.support.helpers import seed_isolation

CONFIG = get_preset("paper-routing-short").replace(
    workload=WorkloadSpec("sharegpt", {"qps": 7.5, "duration_s": 60.0}))


@pytest.fixture(scope="module")
def run():
    return Simulation(CONFIG, POLICIES["llq"], seed=0).run()


def tampered(run, **changes):
    t = copy.deepcopy(run)
    for col, fn in changes.items():
        if col in t.requests:
            t.requests[col] = fn(t.requests[col].copy())
        else:
            setattr(t, col, fn(getattr(t, col)))
    return t


def test_honest_records_pass_and_give_the_in_process_figures(run):
    summary, _ = measure(CONFIG, 0, run)
    np.testing.assert_equal(summary, simulate_seed(CONFIG, "llq", 0).summary)  # NaN equal to NaN
    [child] = run_seeds(CONFIG, "llq", [0])
    np.testing.assert_equal(child.summary, summary)
    assert child.isolation == seed_isolation()


def shift(i, by):
    def fn(col):
        col[i] += by
        return col
    return fn


def test_records_that_contradict_the_workload_or_the_physics_are_refused(run):
    n = len(run.requests["request_id"])
    fast = run.requests["arrived_at"] + 0.5 * (run.requests["completed_at"] - run.requests["arrived_at"])
    cases = {
        "arrived_at": (dict(arrived_at=shift(3, 1.0)), f"request 3 arrived at {run.requests['arrived_at'][3] + 1.0} "
                       f"in the records but {run.requests['arrived_at'][3]} in the workload"),
        "decode": (dict(num_decode_tokens=shift(5, -10)), f"request 5 has a decode length of "
                   f"{run.requests['num_decode_tokens'][5] - 10} in the records but "
                   f"{run.requests['num_decode_tokens'][5]} in the workload"),
        "dropped": (dict(requests=lambda r: {k: v[:-1] for k, v in r.items()}),
                    f"{n - 1} requests recorded, but the workload has {n}"),
        "order": (dict(first_token_at=lambda c: c + 1e6), None),
        "unfinished": (dict(completed_at=shift(7, np.nan)), "request 7 has no completed at time"),
        "ghost replica": (dict(replica_id=shift(2, 10)), None),
        "kv over capacity": (dict(samples=lambda s: [(t, r, p, a, 2300, 2240, q) for t, r, p, a, _, _b, q in s]),
                             None),
        "batch over cap": (dict(samples=lambda s: [(t, r, p, 500, al, b, q) for t, r, p, a, al, b, q in s]), None),
        "double route": (dict(events=lambda e: e + [e[0]]), f"{n + 1} routing and {n} completion events for "
                         f"{n} requests"),
    }
    for name, (change, message) in cases.items():
        if name == "dropped":
            t = copy.deepcopy(run)
            t.requests = change["requests"](t.requests)
        else:
            t = tampered(run, **change)
        with pytest.raises(TamperedRecords) as err:
            measure(CONFIG, 0, t)
        if message:
            assert str(err.value) == message, name
    # the wrapped run_summary, as records: everything done twice as fast as it ran
    t = tampered(run, completed_at=lambda c: fast, first_token_at=lambda c: np.minimum(c, fast),
                 scheduled_at=lambda c: np.minimum(c, fast), routed_at=lambda c: np.minimum(c, fast))
    t.makespan_s = float(fast.max())
    with pytest.raises(TamperedRecords, match="faster than it could alone on an idle replica"):
        measure(CONFIG, 0, t)


def test_the_wire_format_round_trips_and_refuses_anything_else(run):
    data = encode(0, run, None, 1.5)
    back, err, wall = decode(data, 0)
    assert err is None and wall == 1.5 and back.events == run.events and back.samples == run.samples
    assert all(np.array_equal(back.requests[k], run.requests[k], equal_nan=True) for k in run.requests)
    assert decode(encode(3, None, {"kind": "exception", "message": "boom\x1b[2J"}, 0.1), 3)[1] == {
        "kind": "exception", "message": "boom?[2J"}  # control characters from a child never reach a terminal

    class Evil:
        def __reduce__(self):
            return (print, ("pickle ran in the harness",))
    for bad, why in ((pickle.dumps(Evil()), "sent something other than records"),
                     (data[:-8], "trailing bytes|truncated"), (data + b"x", "trailing bytes"),
                     (encode(1, run, None, 0), "not those of seed 0")):
        with pytest.raises(WireError, match=why):
            decode(bad, 0)


@pytest.mark.parametrize("policy", sorted(POLICIES))
def test_every_replica_of_an_honest_run_is_reproduced_by_the_replay(policy):
    """No false alarm: a replica's work depends only on what is routed to it and when, whatever the router read."""
    from glia.simulator.harness.verify import replay_replica

    run = Simulation(CONFIG, POLICIES[policy], seed=1).run()
    measure(CONFIG, 1, run)
    assert [replay_replica(CONFIG, run, k) for k in range(CONFIG.cluster.num_replicas)] == [None] * 4


def test_an_autoscaled_and_a_closed_loop_run_are_reproduced_too():
    from glia.simulator import AutoscalingConfig
    from glia.simulator.harness.verify import replay_replica

    scaled = CONFIG.replace(autoscaler=AutoscalingConfig(interval_s=5.0, cold_start_s=3.0, min_replicas=1,
                                                         max_replicas=6))
    closed = CONFIG.replace(workload=WorkloadSpec("closed_loop", {"users": 24, "think_time_s": 1.0,
                                                                  "duration_s": 40.0}))
    for config in (scaled, closed):
        run = Simulation(config, POLICIES["hra"], seed=0).run()
        measure(config, 0, run)
        used = sorted(set(run.requests["replica_id"].tolist()))
        assert [replay_replica(config, run, k) for k in used] == [None] * len(used)


def test_records_forged_faster_but_plausible_fail_the_replay(run):
    """The issue's case: every request made to finish between its honest time and the fastest it could alone, with
    its events, the makespan and the samples made to agree: the lower bounds pass, the replay does not."""
    from glia.simulator.harness.verify import replay_replica
    from glia.simulator.metrics import request_metrics

    req = run.requests
    iso = request_metrics(run, CONFIG.cluster.execution_model(), CONFIG.cluster.chunk_size)["isolated_s"]
    done = req["arrived_at"] + np.maximum(iso, 0.5 * (iso + req["completed_at"] - req["arrived_at"]))
    first = np.minimum(req["first_token_at"], done)
    sched = np.minimum(req["scheduled_at"], first)
    shift = req["completed_at"] - done
    events = sorted(((float(done[r]) if k == "complete" else float(sched[r]) if k == "admit" and
                      t == req["scheduled_at"][r] else t if k == "route" else max(t - float(shift[r]), float(sched[r])),
                      k, r, rep, v) for t, k, r, rep, v in run.events), key=lambda e: e[0])
    t = tampered(run, completed_at=lambda c: done, first_token_at=lambda c: first, scheduled_at=lambda c: sched,
                 events=lambda e: events, makespan_s=lambda m: float(done.max()),
                 samples=lambda s: [x for x in s if x[0] <= float(done.max())])
    summary, _ = measure(CONFIG, 0, t)  # every other check passes
    assert summary["mean_e2e_s"] < measure(CONFIG, 0, run)[0]["mean_e2e_s"]
    assert all(replay_replica(CONFIG, t, k) for k in range(CONFIG.cluster.num_replicas))
    assert replay_replica(CONFIG, t, 0).startswith("replica 0 replayed from the records gives request ")
