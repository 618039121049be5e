"""The load generator: plans from presets and traces, exact prompt lengths, forced output lengths, records."""

from __future__ import annotations

import aiohttp
import duckdb
import numpy as np
import pytest

from glia.graph.serving.loadgen import (
    Outcome,
    PromptMaker,
    lengths_held,
    measure_service,
    plan_workload,
    record,
    run_load,
)
from glia.simulator.measured import ServiceModel
from tests.support.emulated_backend import EOS_ID, EmulatedBackend


def test_a_preset_plan_is_bounded_scaled_capped_and_in_the_simulators_order():
    plan = plan_workload("paper-routing", seed=1, max_requests=50, time_scale=0.5, length_scale=0.1,
                         max_prompt=200, max_output=30)
    full = plan_workload("paper-routing", seed=1, max_requests=50)
    assert len(plan) == 50 and plan.prefill.max() <= 200 and plan.decode.max() <= 30 and plan.prefill.min() >= 1
    assert np.allclose(plan.arrivals, full.arrivals * 0.5)
    assert plan.as_requests() == sorted(plan.as_requests())


def test_a_trace_is_cut_at_the_duration_and_a_closed_loop_keeps_its_users(tmp_path):
    trace = tmp_path / "t.csv"
    trace.write_text("arrived_at,num_prefill_tokens,num_decode_tokens\n0,10,5\n1,20,6\n2.5,30,7\n")
    plan = plan_workload(str(trace), duration_s=2.0)
    assert plan.as_requests() == [[0.0, 10, 5], [1.0, 20, 6]]
    closed = plan_workload("closed-loop", max_requests=20)
    assert closed.arrivals is None and closed.users == 48 and len(closed.think) == 20
    with pytest.raises(ValueError, match="unknown workload"):
        plan_workload("nope")


@pytest.mark.loopback
async def test_prompts_have_the_asked_token_count_by_the_targets_tokenizer_and_eos_is_found():
    be = EmulatedBackend(flavour="llama-cpp-python")
    url = await be.start()
    try:
        async with aiohttp.ClientSession() as s:
            maker = await PromptMaker.for_target(s, url)
    finally:
        await be.stop()
    assert maker.exact and EOS_ID in maker.eos_ids
    rng = np.random.default_rng(0)
    prompts = [maker.prompt(n, rng) for n in (1, 17, 300)]
    assert [len(p.split()) for p in prompts] == [1, 17, 300] and prompts[1] != maker.prompt(17, rng)
    assert maker.forcing(9) == {"max_tokens": 9, "ignore_eos": True,
                                "logit_bias": {str(i): -100 for i in maker.eos_ids}}


@pytest.mark.loopback
async def test_an_open_loop_replay_forces_output_lengths_with_the_logit_bias_alone(tmp_path):
    be = EmulatedBackend(flavour="llama-cpp-python", batch_cap=4, per_token_s=1e-4)  # ignores ignore_eos
    url = await be.start()
    plan = plan_workload("paper-routing", max_requests=12, time_scale=0.01, length_scale=0.05, max_output=20)
    try:
        async with aiohttp.ClientSession() as s:
            maker = await PromptMaker.for_target(s, url)
            outcomes = await run_load(url, plan, maker, progress=False, session=s)
            service, details = await measure_service(s, url, maker, max_context=1024)
    finally:
        await be.stop()
    assert lengths_held(outcomes) == (12, 12)
    assert [o.generated for o in outcomes] == plan.decode.tolist()
    assert all(b["logit_bias"][str(EOS_ID)] == -100 for b in be.requests_seen)
    assert all(o.first_token_at <= o.completed_at for o in outcomes)
    assert service.per_token_s > 0 and len(details["prefill"]) == 4
    rec = record(tmp_path / "t.duckdb", "lg1", "llq", plan, outcomes, {}, ServiceModel(0.002, 1e-4))
    _, summary = rec.metrics()
    assert summary["num_requests"] == 12 and summary["mean_slowdown"] >= 1.0
    con = duckdb.connect(str(tmp_path / "t.duckdb"), read_only=True)
    assert con.execute("SELECT context, policy FROM runs").fetchall() == [("loadgen", "llq")]
    assert con.execute("SELECT count(*), min(slowdown) > 0 FROM requests").fetchone() == (12, True)
    con.close()


@pytest.mark.loopback
async def test_a_closed_loop_never_has_more_requests_in_flight_than_users():
    be = EmulatedBackend(per_token_s=1e-4)
    url = await be.start()
    plan = plan_workload("closed-loop", max_requests=9, length_scale=0.02, users=3, think_s=0.0)
    plan.think[:] = 0.0
    try:
        async with aiohttp.ClientSession() as s:
            outcomes = await run_load(url, plan, PromptMaker(), progress=False, session=s)
    finally:
        await be.stop()
    assert len(outcomes) == 9 and all(o.status == "ok" for o in outcomes)
    events = sorted([(o.arrived_at, 1) for o in outcomes] + [(o.completed_at, -1) for o in outcomes],
                    key=lambda e: (e[0], e[1]))
    assert max(np.cumsum([d for _, d in events])) <= 3


def test_an_output_that_ended_for_length_counts_max_tokens_even_when_chunks_were_merged():
    merged = Outcome(0, 10, 64, generated=62, finish_reason="length", status="ok")
    stopped = Outcome(1, 10, 64, generated=20, finish_reason="stop", status="ok")
    assert (merged.output_tokens, stopped.output_tokens) == (64, 20)
    assert lengths_held([merged, stopped]) == (1, 2)
