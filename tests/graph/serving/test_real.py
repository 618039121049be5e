"""With real llama-cpp-python servers on loopback (opt-in: GLIA_REAL_SERVERS=1; minutes, not seconds): the router's
policies over two of them, a server killed mid-run, and output lengths forced by the logit bias."""

from __future__ import annotations

import asyncio
import os
import time

import aiohttp
import duckdb
import numpy as np
import pytest

from glia.graph.serving.backends import discover
from glia.graph.serving.loadgen import Outcome, PromptMaker, lengths_held, plan_workload, run_load, send
from glia.graph.serving.records import Recorder
from glia.graph.serving.router import Router
from tests.support.llama_servers import LlamaServers, llama_python

pytestmark = [
    pytest.mark.loopback, pytest.mark.real_servers,
    pytest.mark.skipif(os.environ.get("GLIA_REAL_SERVERS") != "1", reason="real servers: set GLIA_REAL_SERVERS=1"),
]


@pytest.fixture(scope="module")
def servers():
    if llama_python() is None:
        pytest.skip("no Python with llama_cpp.server (set GLIA_LLAMA_PYTHON)")
    with LlamaServers(2, base_port=8811) as s:
        yield s


def plan(n=10):
    return plan_workload("paper-routing", max_requests=n, time_scale=0.3, length_scale=0.1, max_prompt=200,
                         max_output=24)


async def route(servers, policy, tmp_path, load):
    async with aiohttp.ClientSession() as s:
        backends = [await discover(s, i, u) for i, u in enumerate(servers.urls)]
        maker = await PromptMaker.for_target(s, servers.urls[0])
    recorder = Recorder(tmp_path / "t.duckdb", f"real-{policy}", policy, "paper-routing", {}, "serving",
                        replicas=len(backends))
    router = Router(policy, backends, recorder)
    await router.start("127.0.0.1", 0)
    try:
        return await load(router, maker), router.status(), backends
    finally:
        await router.stop()


@pytest.mark.parametrize("policy", ["llq", "round_robin", "hra"])
async def test_each_policy_serves_a_replayed_load_on_two_real_servers(servers, policy, tmp_path):
    p = plan()
    outcomes, status, backends = await route(servers, policy, tmp_path,
                                             lambda router, maker: run_load(router.url, p, maker, progress=False))
    assert all(b.kind == "llama-cpp-python" and b.config.batch_size_cap == 1 for b in backends)
    assert [o.status for o in outcomes] == ["ok"] * len(p)
    assert lengths_held(outcomes) == (len(p), len(p))
    assert {o.replica for o in outcomes} == {0, 1} and status["policy_errors"] == 0
    con = duckdb.connect(str(tmp_path / "t.duckdb"), read_only=True)
    got = con.execute("SELECT count(*), sum(num_decode_tokens), min(ttft_s) > 0, max(num_restarts) FROM "
                      "requests").fetchone()
    con.close()
    assert got == (len(p), int(p.decode.sum()), True, 0)


async def test_the_logit_bias_alone_makes_a_real_server_write_past_its_end_of_sequence(servers):
    url = servers.urls[0]
    async with aiohttp.ClientSession() as s:
        maker = await PromptMaker.for_target(s, url)
        t0 = time.monotonic()
        chat = {"messages": [{"role": "user", "content": "Say hi."}], "max_tokens": 120}
        async with s.post(url + "/v1/chat/completions", json=chat) as r:
            natural = (await r.json())["usage"]["completion_tokens"]
        forced = Outcome(0, 5, 120)
        await send(s, url, "chat", "Say hi.", forced, maker.forcing(120), t0)
    assert maker.eos_ids and natural < 120
    assert forced.output_tokens == 120 and np.isfinite(forced.first_token_at)


async def test_a_server_killed_mid_run_loses_no_request(servers, tmp_path):
    p = plan(14)

    async def load(router, maker):
        task = asyncio.create_task(run_load(router.url, p, maker, progress=False))
        while not router.views[1].active:  # wait until server 1 is streaming, then kill it
            await asyncio.sleep(0.05)
        servers.kill(1)
        return await task
    outcomes, status, _ = await route(servers, "llq", tmp_path, load)
    assert [o.status for o in outcomes] == ["ok"] * len(p)
    assert lengths_held(outcomes) == (len(p), len(p))
    assert not status["backends"][1]["healthy"]
    con = duckdb.connect(str(tmp_path / "t.duckdb"), read_only=True)
    assert con.execute("SELECT count(*) FROM requests WHERE num_restarts > 0").fetchone()[0] >= 1
    con.close()
