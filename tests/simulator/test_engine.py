"""The event loop: results are pinned bit for bit on a few seeds of each kind of run (open loop, autoscaled, closed
loop), so a refactor of the engine cannot change a figure unnoticed; the random router draws from the run's own
generator, not from the process's."""

from __future__ import annotations

import random

import pytest

from glia.simulator.engine import Simulation
from glia.simulator.harness.sandbox import run_seeds
from glia.simulator.policy.loader import load_policy
from glia.simulator.presets import get_preset

FIELDS = ("num_requests", "mean_e2e_s", "p99_e2e_s", "mean_ttft_s", "restart_fraction", "gpu_hours", "kv_utilisation")

# measured before the engine was restructured (commit 47daaa3)
PINNED = {
    ("paper-routing-short", "llq", 0): (2754.0, 29.75500894220313, 205.70805965667995, 10.95554135500084,
                                        0.12636165577342048, 0.5821434565875342, 0.6470025510204082),
    ("paper-routing-short", "llq", 3): (2139.0, 20.403202296238195, 188.03023883542264, 2.651820368765372,
                                        0.08368396446937822, 0.505967206297459, 0.5585773874648328),
    ("paper-routing-short", "random", 0): (2754.0, 30.84778638987102, 202.87205863590384, 11.95761281857548,
                                           0.14596949891067537, 0.574085170684185, 0.6581473214285715),
    ("paper-routing-short", "random", 3): (2139.0, 26.387845776550623, 194.2208935568577, 8.498794491505002,
                                           0.1168770453482936, 0.5216768958867283, 0.5487488626023658),
    ("paper-routing-short", "hra", 0): (2754.0, 22.48739702725883, 191.77627787599144, 4.260853531654228,
                                        0.01561365286855483, 0.5418505419477657, 0.6718519482179375),
    ("paper-routing-short", "round_robin", 3): (2139.0, 25.28161629401054, 188.93329450428007, 7.645792357428384,
                                                0.08929406264609631, 0.5637909999717619, 0.496914687412293),
    ("paper-routing-short", "lor", 0): (2754.0, 34.1817154427426, 210.73870409798607, 14.26360194206633,
                                        0.1775599128540305, 0.6506597002363925, 0.591026747688002),
    ("diurnal-autoscale", "llq", 1): (21597.0, 5.587048383188292, 55.371179530691954, 0.041099659890879575,
                                      0.0, 2.330115359750186, 0.030106639333123998),
    ("closed-loop", "llq", 1): (1546.0, 14.635483419992486, 149.71557842869782, 0.12747561037741578,
                                0.0, 0.7905198114715312, 0.23148260619114405),
}


@pytest.mark.parametrize("preset,policy,seed", sorted(PINNED))
def test_pinned_seeds_give_identical_figures(preset, policy, seed):
    [outcome] = run_seeds(get_preset(preset), policy, [seed], isolate=False)
    assert outcome.error is None, outcome.error
    assert tuple(outcome.summary[f] for f in FIELDS) == PINNED[preset, policy, seed]


def test_the_random_router_does_not_depend_on_the_process_random_state():
    config = get_preset("paper-routing-short")

    def routes() -> list:
        return [e[3] for e in Simulation(config, load_policy("random"), seed=2).run().events if e[1] == "route"][:200]

    random.seed(1)
    first = routes()
    random.seed(99)
    assert routes() == first


def test_the_constructor_builds_the_run_and_run_only_processes_events():
    sim = Simulation(get_preset("paper-routing-short"), load_policy("llq"), seed=0)
    assert len(sim.serving) == 4 and sim.sched._num_replicas == 4
    assert sim.heap and not sim.requests          # the first sample tick is queued, nothing has arrived yet
    result = sim.run()
    assert len(result.requests["request_id"]) == len(sim.requests) == 2754
