"""The router over emulated vLLM-like backends (a test fake: see emulated_backend.py): proxying, holding,
failures, policy errors and the records."""

from __future__ import annotations

import asyncio
import contextlib
import json

import aiohttp
import duckdb
import pytest

from glia.graph.serving.backends import discover
from glia.graph.serving.records import Recorder
from glia.graph.serving.router import Router
from tests.support.emulated_backend import EmulatedBackend

pytestmark = pytest.mark.loopback


@contextlib.asynccontextmanager
async def serving(tmp_path, policy="llq", n=2, router_kw=None, **backend_kw):
    backends = [EmulatedBackend(**backend_kw) for _ in range(n)]
    urls = [await b.start() for b in backends]
    async with aiohttp.ClientSession() as s:
        found = [await discover(s, i, u) for i, u in enumerate(urls)]
    recorder = Recorder(tmp_path / "telemetry.duckdb", "run1", policy, "test", {}, "serving", replicas=n)
    router = Router(policy, found, recorder, probe_interval_s=0.05, **(router_kw or {}))
    await router.start("127.0.0.1", 0)
    try:
        async with aiohttp.ClientSession() as client:
            yield router, backends, client
    finally:
        await router.stop()
        for b in backends:
            await b.stop()


async def stream(client, url, prompt_words=20, max_tokens=10, api="completions", tokens=None):
    """A streamed request; returns (status, headers, texts of the token chunks, error events)."""
    body = {"stream": True, "max_tokens": max_tokens, "ignore_eos": True, "logit_bias": {"2": -100}}
    prompt = " ".join(["w"] * prompt_words)
    if api == "chat":
        body["messages"] = [{"role": "user", "content": prompt}]
    else:
        body["prompt"] = prompt
    texts, errors = [], []
    async with client.post(f"{url}/v1/{'chat/completions' if api == 'chat' else 'completions'}", json=body,
                           headers={"x-prefill-tokens": str(prompt_words)}) as resp:
        async for line in resp.content:
            if not line.startswith(b"data: {"):
                continue
            event = json.loads(line[6:])
            if "error" in event:
                errors.append(event["error"])
            for c in event.get("choices", []):
                piece = c.get("text") or (c.get("delta") or {}).get("content")
                if piece:
                    texts.append(piece)
                    if tokens is not None:
                        tokens.append(resp.headers.get("x-glia-replica"))
        return resp.status, resp.headers, texts, errors


def rows(tmp_path, sql):
    con = duckdb.connect(str(tmp_path / "telemetry.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


async def test_streamed_and_whole_answers_of_both_apis_pass_through_and_are_recorded(tmp_path):
    async with serving(tmp_path) as (router, backends, client):
        status, headers, texts, _ = await stream(client, router.url, 12, 7)
        assert status == 200 and texts == [f" w{i}" for i in range(1, 8)]
        assert headers["x-glia-replica"] in ("0", "1") and float(headers["x-glia-held-s"]) >= 0
        _, _, chat_texts, _ = await stream(client, router.url, 5, 4, api="chat")
        assert chat_texts == [" w1", " w2", " w3", " w4"]
        async with client.post(router.url + "/v1/completions",
                               json={"prompt": "a b c", "max_tokens": 3, "ignore_eos": True}) as resp:
            whole = await resp.json()
        assert whole["choices"][0]["text"] == " w1 w2 w3" and whole["usage"]["completion_tokens"] == 3
        sent = [b for be in backends for b in be.requests_seen]
        assert sorted(b.get("max_tokens") for b in sent) == [3, 4, 7]  # forwarded as the client wrote them
    got = rows(tmp_path, "SELECT num_prefill_tokens, num_decode_tokens, replica_id >= 0, first_token_at <= "
                         "completed_at, num_restarts FROM requests ORDER BY request_id")
    assert got[0] == (12, 7, True, True, 0) and got[1][1] == 4 and got[2][:3] == (3, 3, True)
    assert rows(tmp_path, "SELECT policy, context, seeds FROM runs") == [("llq", "serving", 1)]
    assert rows(tmp_path, "SELECT count(*) FROM served_requests WHERE status = 'ok'") == [(3,)]
    kinds = dict(rows(tmp_path, "SELECT kind, count(*) FROM scheduling_events GROUP BY 1"))
    assert kinds["route"] == kinds["complete"] == 3


async def test_hra_holds_requests_in_the_router_while_head_room_is_short_and_routes_them_all(tmp_path):
    async with serving(tmp_path, "hra", n=2, num_blocks=40, per_token_s=1e-3) as (router, _, client):
        results = await asyncio.gather(*(stream(client, router.url, 100, 20) for _ in range(12)))
        assert all(s == 200 and len(t) == 20 for s, _, t, _ in results)
        held = [float(h["x-glia-held-s"]) for _, h, _, _ in results]
    # each request is charged ceil(160 / 16) = 10 blocks against 0.97 x 40: three fit per backend, the rest wait
    assert sum(h > 0.01 for h in held) >= 4
    samples = rows(tmp_path, "SELECT max(global_queue), max(allocated_blocks) FROM replica_samples")[0]
    assert samples[0] >= 1 and samples[1] <= 40
    scraped = rows(tmp_path, "SELECT max(running), max(kv_usage) FROM backend_samples")[0]
    assert scraped[0] >= 1 and 0 < scraped[1] <= 1


async def test_a_backend_killed_mid_run_loses_nothing_and_streams_resume_elsewhere(tmp_path):
    async with serving(tmp_path, "round_robin", n=3, per_token_s=1e-3) as (router, backends, client):
        tokens: list = []

        async def killer():
            while tokens.count("1") < 5:
                await asyncio.sleep(0.005)
            await backends[1].crash()
        kill = asyncio.create_task(killer())
        results = await asyncio.gather(*(stream(client, router.url, 30, 40, tokens=tokens) for _ in range(12)))
        await kill
        status = router.status()
    assert all(s == 200 and not e for s, _, _, e in results)
    for _, _, texts, _ in results:
        assert len(texts) == 40  # resumed streams carry on where they stopped: no token lost, none repeated
    assert not status["backends"][1]["healthy"] and status["backends"][0]["healthy"]
    restarted = rows(tmp_path, "SELECT count(*), sum(wasted_tokens) FROM requests WHERE num_restarts > 0")[0]
    assert restarted[0] >= 1 and restarted[1] > 0
    assert rows(tmp_path, "SELECT count(*) FROM requests")[0][0] == 12
    kinds = dict(rows(tmp_path, "SELECT kind, count(*) FROM scheduling_events GROUP BY 1"))
    assert kinds["backend_down"] == 1 and kinds["retry"] == restarted[0]
    resumed = [b for b in backends[0].requests_seen + backends[2].requests_seen if b["max_tokens"] < 40]
    assert resumed and all(len(b["prompt"].split()) == 30 + 40 - b["max_tokens"] for b in resumed)


async def test_a_chat_stream_cut_after_tokens_fails_cleanly_with_an_error_event(tmp_path):
    async with serving(tmp_path, "llq", n=1, per_token_s=2e-3) as (router, backends, client):
        tokens: list = []

        async def killer():
            while len(tokens) < 3:
                await asyncio.sleep(0.002)
            await backends[0].crash()
        kill = asyncio.create_task(killer())
        status, _, texts, errors = await asyncio.wait_for(
            stream(client, router.url, 5, 200, api="chat", tokens=tokens), 10)
        await kill
    assert status == 200 and 3 <= len(texts) < 200 and errors and errors[0]["type"] == "backend_failed"
    assert rows(tmp_path, "SELECT status FROM served_requests") == [("failed",)]


async def test_a_request_whose_every_backend_is_gone_gets_503_rather_than_hanging(tmp_path):
    async with serving(tmp_path, "llq", n=1, router_kw={"queue_timeout_s": 0.5}) as (router, backends, client):
        await backends[0].crash()
        async with client.post(router.url + "/v1/completions", json={"prompt": "x", "max_tokens": 2}) as resp:
            assert resp.status == 503 and "error" in await resp.json()


async def test_a_policy_that_raises_is_reported_and_its_requests_routed_by_llq(tmp_path):
    policy = tmp_path / "broken.py"
    policy.write_text("from glia.simulator import BaseGlobalScheduler\n\n"
                      "class Broken(BaseGlobalScheduler):\n"
                      "    def schedule(self):\n"
                      "        if self._request_queue:\n"
                      "            self._request_queue.pop()\n"
                      "            raise KeyError('oops')\n"
                      "        return []\n")
    async with serving(tmp_path, str(policy)) as (router, _, client):
        results = await asyncio.gather(*(stream(client, router.url, 5, 3) for _ in range(3)))
        status = router.status()
    assert all(s == 200 and len(t) == 3 for s, _, t, _ in results)
    assert status["policy_errors"] >= 3 and status["fallback_routed"] == 3
    assert "KeyError in schedule() at " + str(policy) in status["last_policy_error"]
    assert rows(tmp_path, "SELECT count(*) FROM scheduling_events WHERE kind = 'policy_error'")[0][0] >= 3


async def test_a_policy_that_routes_a_request_to_no_replica_is_caught_like_in_the_simulator(tmp_path):
    policy = tmp_path / "wrong.py"
    policy.write_text("from glia.simulator import BaseGlobalScheduler\n\n"
                      "class Wrong(BaseGlobalScheduler):\n"
                      "    def schedule(self):\n"
                      "        return [(7, r) for r in self._request_queue]\n")
    async with serving(tmp_path, str(policy)) as (router, _, client):
        status, _, texts, _ = await stream(client, router.url, 5, 2)
        assert status == 200 and len(texts) == 2
        assert router.last_policy_error.startswith("invalid_replica: schedule() routed request 0 to replica 7")


async def test_requests_a_policy_holds_with_nothing_in_flight_are_routed_after_a_grace(tmp_path):
    policy = tmp_path / "hoarder.py"
    policy.write_text("from glia.simulator import BaseGlobalScheduler\n\n"
                      "class Hoarder(BaseGlobalScheduler):\n"
                      "    def schedule(self):\n"
                      "        return []\n")
    async with serving(tmp_path, str(policy), router_kw={"stall_grace_s": 0.1}) as (router, _, client):
        status, headers, texts, _ = await asyncio.wait_for(stream(client, router.url, 5, 2), 5)
    assert status == 200 and len(texts) == 2 and float(headers["x-glia-held-s"]) >= 0.1
    assert router.last_policy_error.startswith("stalled")


async def test_a_client_that_goes_away_is_recorded_as_cancelled_and_leaves_no_trace_in_the_views(tmp_path):
    async with serving(tmp_path, "llq", n=1, per_token_s=2e-3) as (router, _, client):
        async with client.post(router.url + "/v1/completions",
                               json={"prompt": "a b", "max_tokens": 500, "stream": True, "ignore_eos": True}) as r:
            await r.content.readline()
        for _ in range(200):
            if not router.jobs:
                break
            await asyncio.sleep(0.01)
        assert not router.jobs and router.views[0].is_idle
    assert rows(tmp_path, "SELECT status FROM served_requests") == [("cancelled",)]


async def test_on_a_one_at_a_time_server_a_request_starts_when_the_one_before_it_ends(tmp_path):
    async with serving(tmp_path, "llq", n=1, flavour="llama-cpp-python", per_token_s=1e-3) as (router, _, client):
        results = await asyncio.gather(*(stream(client, router.url, 50, 15) for _ in range(3)))
        assert all(len(t) == 15 for _, _, t, _ in results)
    got = rows(tmp_path, "SELECT scheduled_at, first_token_at, completed_at FROM requests ORDER BY scheduled_at")
    for (start, first, _), (_, _, before_done) in zip(got[1:], got[:-1], strict=True):
        assert start == pytest.approx(before_done, abs=0.02) and first > start
    assert got[0][0] < 0.05  # the first one started when it was routed


async def test_a_policy_file_runs_in_a_confined_process_of_its_own_never_in_the_router(tmp_path):
    import os

    policy = tmp_path / "mine.py"
    policy.write_text("from glia.simulator import BaseGlobalScheduler\n\n"
                      "class Mine(BaseGlobalScheduler):\n"
                      "    def schedule(self):\n"
                      "        return [(0, r) for r in self._request_queue]\n")
    async with serving(tmp_path, str(policy)) as (router, _, client):
        status, headers, texts, _ = await stream(client, router.url, 5, 2)
        process = router.status()["policy_process"]
        worker = router.policy.worker.child.pid
        session = os.getsid(worker)
    assert status == 200 and headers["x-glia-replica"] == "0" and len(texts) == 2
    assert process == {"isolation": "landlock+userns+seccomp", "restarts": 0, "disabled": None}
    assert worker != os.getpid() and session == worker != os.getsid(0)


async def test_a_policy_that_hangs_or_dies_is_killed_restarted_and_its_calls_routed_by_the_router(tmp_path):
    policy = tmp_path / "stuck.py"
    policy.write_text("from glia.simulator import BaseGlobalScheduler\n\n"
                      "class Stuck(BaseGlobalScheduler):\n"
                      "    def schedule(self):\n"
                      "        if self._request_queue:\n"
                      "            while True:\n"
                      "                pass\n"
                      "        return []\n")
    async with serving(tmp_path, str(policy), router_kw={"policy_timeout_s": 0.5}) as (router, _, client):
        results = [await stream(client, router.url, 5, 2) for _ in range(5)]
        status = router.status()
    assert all(s == 200 and len(t) == 2 for s, _, t, _ in results)
    assert status["policy_process"]["restarts"] == 3 and "failed 4 times" in status["policy_process"]["disabled"]
    assert status["last_policy_error"].startswith("policy_disabled: ") or "timeout" in status["last_policy_error"]


async def test_a_policy_file_is_refused_on_a_machine_that_cannot_confine_it(tmp_path, monkeypatch):
    from glia.simulator.isolation import confine

    policy = tmp_path / "mine.py"
    policy.write_text("from glia.simulator import BaseGlobalScheduler\n\n"
                      "class Mine(BaseGlobalScheduler):\n"
                      "    def schedule(self):\n"
                      "        return []\n")
    monkeypatch.setenv(confine.DISABLE_ENV, "landlock")
    monkeypatch.setattr(confine, "_CACHED", None)
    with pytest.raises(ValueError, match="the policy failed to start: Glia will not run model-written candidate "
                                         "policies on this machine: it lacks filesystem confinement"):
        async with serving(tmp_path, str(policy)):
            pass
    monkeypatch.setattr(confine, "_CACHED", None)
