"""The router: an OpenAI-compatible HTTP server that runs a Glia routing policy, unchanged, over real backends.

Every request that arrives becomes a ``ServedRequest`` in the policy's ``_request_queue`` and ``schedule()`` is called,
as after every arrival in the simulator; it is called again after every completion and when a backend comes back.
``schedule()`` runs synchronously on the event loop, so nothing else reads or changes the views while it runs (the
loop is the lock). A request the policy routes is proxied to its backend (streaming or not, chat or completions, the
bytes passed through as they come); one it holds waits here until a later call routes it.

A policy file runs in a confined process of its own (``confined.py``), never in the router's: the router sends it
what changed and applies the pairs it returns. Built-in policies are Glia's code and run here.

Failures:
* a policy error (an exception, or a return the simulator would reject) does not stop the router: it is logged and
  recorded (``policy_error`` events), and the requests waiting at that call are routed by least-loaded-queue for
  that call only; the next call goes to the policy again. Requests held while nothing is in flight anywhere (the
  simulator would end such a run with ``never_routed``) are routed the same way, so nothing waits forever;
* a backend whose connection fails (refused, reset, closed mid-stream) or whose health check fails is taken out of
  the policy's replicas at once (ids stay stable) and put back when a health check passes. Its requests are
  retried: from scratch if nothing was sent to the client yet; a streamed ``/v1/completions`` request is resumed on
  another backend from where it stopped (prompt + text so far, the remaining ``max_tokens``), as the simulator
  recomputes a preempted request; a streamed chat request that already sent tokens cannot be resumed through the
  OpenAI API, so the client gets an error event and the request is recorded as failed. After ``max_retries`` a
  request fails with 503;
* a request held longer than ``queue_timeout_s`` gets 503.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import math
import re
import time
from dataclasses import dataclass, field
from types import SimpleNamespace

import aiohttp
from aiohttp import web

from glia.graph.serving.backends import Backend, count_tokens, probe
from glia.graph.serving.confined import ConfinedPolicy, served_policy
from glia.graph.serving.records import Recorder
from glia.graph.serving.sse import finish_reason, parse_event, token_texts
from glia.graph.serving.views import ServedReplica, ServedRequest
from glia.simulator.policy.builtin import LLQGlobalScheduler
from glia.simulator.policy.contract import policy_exception
from glia.simulator.policy.loader import is_builtin, load_policy
from glia.simulator.request import PolicyViolation

log = logging.getLogger("glia.router")

PREFILL_HEADER = "x-prefill-tokens"
HOP_HEADERS = {"host", "content-length", "transfer-encoding", "connection", "keep-alive", "accept-encoding",
               PREFILL_HEADER}
_FINISH = re.compile(rb'"finish_reason":\s*"')
CONNECTION_ERRORS = (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, asyncio.TimeoutError)


class BackendFailed(Exception):
    """The backend's connection failed while serving a request."""


class ClientGone(Exception):
    """The client closed its connection."""


@dataclass
class Job:
    """A request's life in the router."""

    view: ServedRequest
    api: str
    body: dict
    stream: bool
    headers: dict
    prompt_source: str
    routed: asyncio.Future
    prompt0: int = 0
    first_routed_at: float = math.nan
    generated: int = 0                   # tokens sent to the client, over all attempts
    texts: list = field(default_factory=list)
    resumed: bool = False
    wasted: int = 0
    completed_at: float = math.nan
    status: str = "pending"
    http_status: int = 0
    error: str = ""
    backend: str = ""
    reported_prompt: int | None = None
    reported_completion: int | None = None
    finish_reason: str | None = None
    out: web.StreamResponse | None = None  # the client's response, once started
    exchange: asyncio.Task | None = None


def _policy_message(exc: BaseException) -> str:
    if not isinstance(exc, PolicyViolation):
        exc = policy_exception(exc, "schedule")
    return f"{exc.kind}: {exc}"


class Router:
    """See the module docstring. ``start()`` binds the HTTP server; ``stop()`` closes it and flushes the records."""

    def __init__(self, policy: str, backends: list[Backend], recorder: Recorder | None = None,
                 probe_interval_s: float = 1.0, max_retries: int = 3, queue_timeout_s: float = 600.0,
                 flush_interval_s: float = 10.0, stall_grace_s: float = 1.0, policy_timeout_s: float = 2.0,
                 allow_unconfined: bool = False):
        if not backends:
            raise ValueError("the router needs at least one backend")
        self.policy_name = policy
        self.backends = backends
        self.recorder = recorder
        self.probe_interval_s, self.max_retries = probe_interval_s, max_retries
        self.queue_timeout_s, self.flush_interval_s = queue_timeout_s, flush_interval_s
        self.stall_grace_s = stall_grace_s
        self._t0 = time.monotonic()
        self.views = {b.index: ServedReplica(b.index, b.config) for b in backends}
        self.cluster = SimpleNamespace(device="real", model="real", tensor_parallel=1, num_replicas=len(backends),
                                       num_blocks=min(b.config.num_blocks for b in backends),
                                       block_size=backends[0].config.block_size,
                                       chunk_size=backends[0].config.chunk_size,
                                       batch_size_cap=max(b.config.batch_size_cap for b in backends),
                                       watermark_fraction=0.0, batch_policy="fcfs")
        if is_builtin(policy):  # Glia's own code: in this process
            cls = load_policy(policy)
            try:
                self.policy = cls(SimpleNamespace(cluster=self.cluster, seed=0), self._serving())
            except Exception as exc:
                raise ValueError(f"the policy failed to start: {type(exc).__name__} in __init__(): {exc}") from None
        else:  # a policy file is model-written code: never in this process
            self.policy = served_policy(policy, dict(vars(self.cluster)), self._serving(), self.now,
                                        call_timeout_s=policy_timeout_s, allow_unconfined=allow_unconfined)
        self.jobs: dict[int, Job] = {}          # id -> job, from arrival to the end of its response
        self.waiting: dict[int, Job] = {}       # not routed: held by the policy, or back after a backend failure
        self.policy_errors = 0
        self.fallback_routed = 0
        self.last_policy_error: str | None = None
        self.busy_s: dict[int, float] = {}
        self._busy_since: dict[int, float] = {}
        self._last_done: dict[int, float] = {}  # replica -> when its last request ended
        self._stalled_since: float | None = None
        self._ids = itertools.count()
        self._t0 = time.monotonic()
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task] = []
        self.url = ""

    def now(self) -> float:
        return time.monotonic() - self._t0

    # -- lifecycle ------------------------------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/completions", self._completions)
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/health", self._health)
        app.router.add_get("/glia/status", self._status)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 8800) -> str:
        self._t0 = time.monotonic()
        self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0),
                                              timeout=aiohttp.ClientTimeout(total=None, sock_connect=5.0))
        self._runner = web.AppRunner(self.app(), access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()
        bound = self._runner.addresses[0]
        self.url = f"http://{'[' + bound[0] + ']' if ':' in bound[0] else bound[0]}:{bound[1]}"
        self._tasks = [asyncio.create_task(self._watch()), asyncio.create_task(self._flusher())]
        return self.url

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._runner:
            await self._runner.cleanup()
        if self._session:
            await self._session.close()
        if isinstance(self.policy, ConfinedPolicy):
            self.policy.close()
        await self.flush()

    async def flush(self) -> None:
        if self.recorder:
            self.recorder.busy_s = sum(self.busy_s.values())
            await asyncio.to_thread(self.recorder.flush, self.now())

    async def _flusher(self) -> None:
        while True:
            await asyncio.sleep(self.flush_interval_s)
            try:
                await self.flush()
            except Exception as exc:  # the database may be locked or gone: keep serving, say so
                log.warning("could not write telemetry: %s", exc)

    # -- the policy -----------------------------------------------------------------------------------------
    def _serving(self) -> dict[int, ServedReplica]:
        return {b.index: self.views[b.index] for b in self.backends if b.healthy}

    def schedule(self) -> None:
        """Call the policy once (synchronously: the event loop is the lock) and route what it returns."""
        serving = self._serving()
        if not serving:
            return  # requests wait until a backend is back (or their queue timeout)
        for b in self.backends:
            if b.healthy:
                self.views[b.index].arrange(int(b.last_scrape.waiting) if b.last_scrape.waiting else None)
        try:
            pairs = self.policy.schedule()
            self._route(self._checked(pairs, serving))
        except (Exception, MemoryError) as exc:  # noqa: B014 - a broken policy must not take the router down
            self._fallback(serving, _policy_message(exc))
        stalled = self.waiting and all(v.is_idle for v in serving.values())
        self._stalled_since = (self._stalled_since or self.now()) if stalled else None

    def _checked(self, pairs, serving: dict[int, ServedReplica]) -> list[tuple[int, ServedRequest]]:
        """The checks of ``simulator/policy/contract.py`` on schedule()'s return (the same kinds and messages), all made
        before anything is routed."""
        if pairs is None:
            raise PolicyViolation("bad_return", "schedule() returned None; it must return a list of "
                                  "(replica_id, request) pairs (an empty list to route nothing)")
        out, seen = [], set()
        for pair in pairs:
            try:
                rid, r = pair
            except (TypeError, ValueError):
                raise PolicyViolation("bad_return", f"schedule() returned {pair!r}; expected (replica_id, "
                                      "request)") from None
            if type(r) is not ServedRequest:
                raise PolicyViolation("bad_return", f"schedule() returned {type(r).__name__} {r!r} in place of a "
                                      "request")
            if isinstance(rid, bool) or not hasattr(rid, "__index__") or int(rid) not in serving:
                raise PolicyViolation("invalid_replica", f"schedule() routed request {r._r_id} to replica {rid!r}; "
                                      f"valid replica ids now: {sorted(serving)}")
            if r._r_id not in self.waiting or r._r_id in seen:
                raise PolicyViolation("routed_twice", f"request {r._r_id} was routed twice (first to replica "
                                      f"{r._r_replica_id}, again to replica {rid})")
            seen.add(r._r_id)
            out.append((int(rid), r))
        return out

    def _route(self, pairs: list[tuple[int, ServedRequest]]) -> None:
        now = self.now()
        for rid, r in pairs:
            job = self.waiting.pop(r._r_id)
            r._r_routed_at = now
            if math.isnan(job.first_routed_at):
                job.first_routed_at = now
            self.views[rid].add(r)
            self._busy_since.setdefault(rid, now)
            self._event(now, "route", r._r_id, rid, r._r_prompt)
            job.routed.set_result(rid)
        routed = {r._r_id for _, r in pairs}
        if routed:
            queue = self.policy._request_queue
            queue[:] = [q for q in queue if q._r_id not in routed]

    def _fallback(self, serving: dict[int, ServedReplica], message: str) -> None:
        """Route every waiting request by least-loaded-queue, this once, and say why."""
        self.policy_errors += 1
        self.last_policy_error = message
        log.error("policy %s: %s; routing %d waiting request(s) by least-loaded-queue", self.policy_name, message,
                  len(self.waiting))
        self._event(self.now(), "policy_error", -1, -1, len(self.waiting))
        held = sorted((j.view for j in self.waiting.values()), key=lambda r: (r._r_arr, r._r_id))
        self.policy._request_queue[:] = held
        fallback = LLQGlobalScheduler(None, serving)
        fallback._request_queue = list(held)
        pairs = fallback.schedule()
        self.fallback_routed += len(pairs)
        self._route(pairs)

    # -- requests -------------------------------------------------------------------------------------------
    async def _chat(self, request: web.Request) -> web.StreamResponse:
        return await self._handle(request, "chat")

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        return await self._handle(request, "completions")

    async def _handle(self, request: web.Request, api: str) -> web.StreamResponse:
        arrived = self.now()
        try:
            body = json.loads(await request.read())
            if not isinstance(body, dict):
                raise ValueError("the body must be a JSON object")
        except ValueError as exc:
            return _error(400, f"invalid JSON body: {exc}", "invalid_request_error")
        prompt, source = await self._prompt_tokens(request, body, api)
        rid = next(self._ids)
        job = Job(ServedRequest(rid, arrived, prompt), api, body, bool(body.get("stream")),
                  {k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS}, source,
                  asyncio.get_running_loop().create_future(), prompt0=prompt)
        self.jobs[rid] = job
        try:
            return await self._serve(request, job)
        finally:
            self._finish(job)

    async def _prompt_tokens(self, request: web.Request, body: dict, api: str) -> tuple[int, str]:
        """The prompt's length: the client's ``x-prefill-tokens``, else the tokenizer of a backend whose tokenizer
        does not wait behind generation (llama-cpp-python's does), else characters / 4."""
        stated = request.headers.get(PREFILL_HEADER, "")
        if stated.isdigit() and int(stated) > 0:
            return int(stated), "header"
        text = _prompt_text(body, api)
        for b in self.backends:
            if b.healthy and b.tokenizer in ("vllm", "llama.cpp"):
                n = await count_tokens(self._session, b, text)
                if n:
                    return n, "tokenizer"
        return max(1, len(text) // 4), "estimate"

    async def _serve(self, request: web.Request, job: Job) -> web.StreamResponse:
        deadline = time.monotonic() + self.queue_timeout_s
        self._enqueue(job)
        while True:
            try:
                rid = await asyncio.wait_for(asyncio.shield(job.routed), max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                self._unqueue(job)
                job.status, job.error = "rejected", f"held longer than {self.queue_timeout_s:g} s"
                if job.out is not None:
                    return await self._abort(job)
                return _error(503, f"no backend took the request within {self.queue_timeout_s:g} s",
                              "service_unavailable", job)
            backend = self.backends[rid]
            job.backend = backend.url
            job.exchange = asyncio.create_task(self._exchange(request, job, backend))
            await asyncio.wait({job.exchange})
            task, job.exchange = job.exchange, None
            if task.cancelled():
                outcome = BackendFailed(f"{backend.url} taken out: {backend.last_error}")
            else:
                outcome = task.exception() or task.result()
            if isinstance(outcome, web.StreamResponse):
                return outcome
            if isinstance(outcome, ClientGone):
                job.status, job.error = "cancelled", "the client closed the connection"
                return job.out or web.Response(status=499)
            if not isinstance(outcome, BackendFailed):
                raise outcome
            self._backend_failed(backend, str(outcome))
            if not self._retry(job, rid):
                job.status, job.error = "failed", str(outcome)
                if job.out is not None:
                    return await self._abort(job)
                return _error(503, f"the request failed on its backend(s): {outcome}", "service_unavailable", job)

    def _enqueue(self, job: Job) -> None:
        self.waiting[job.view._r_id] = job
        self.policy._request_queue.append(job.view)
        self.schedule()

    def _unqueue(self, job: Job) -> None:
        if self.waiting.pop(job.view._r_id, None) is not None:
            queue = self.policy._request_queue
            queue[:] = [q for q in queue if q is not job.view]

    def _retry(self, job: Job, rid: int) -> bool:
        """Put a request whose backend failed back in the policy's queue; False if it cannot be retried."""
        r = job.view
        self.views[rid].remove(r)
        self._idle_check(rid)
        self._last_done[rid] = self.now()
        if r._r_restarts >= self.max_retries or (job.out is not None and not self._resumable(job)):
            return False
        lost = (r._r_prompt if r._r_started else 0) + r._r_generated
        job.wasted += lost
        self._event(self.now(), "retry", r._r_id, rid, lost)
        if job.out is not None:  # resume: what was generated becomes part of the prompt, as after a preemption
            r._r_prompt += r._r_generated
            job.resumed = True
        else:  # nothing reached the client: start again from scratch
            job.generated, job.texts = 0, []
        r._r_generated, r._r_started, r._r_restarts = 0, False, r._r_restarts + 1
        r._r_routed_at = r._r_t_sched = math.nan
        r._r_replica_id = -1
        job.routed = asyncio.get_running_loop().create_future()
        self._enqueue(job)
        return True

    @staticmethod
    def _resumable(job: Job) -> bool:
        b = job.body
        return (job.api == "completions" and isinstance(b.get("prompt"), str) and b.get("n", 1) == 1
                and not b.get("echo") and not b.get("logprobs") and b.get("best_of", 1) == 1)

    def _upstream_body(self, job: Job) -> dict:
        if not job.texts:
            return job.body
        body = dict(job.body, prompt=job.body["prompt"] + "".join(job.texts))
        if body.get("max_tokens"):
            body["max_tokens"] = int(body["max_tokens"]) - job.generated
        return body

    async def _exchange(self, request: web.Request, job: Job, backend: Backend):
        """One attempt on one backend. Returns the finished response, ``ClientGone`` or ``BackendFailed``."""
        path = "/v1/chat/completions" if job.api == "chat" else "/v1/completions"
        body = self._upstream_body(job)
        try:
            if job.resumed and body.get("max_tokens") is not None and body["max_tokens"] <= 0:
                await _send(job.out, b"data: [DONE]\n\n")  # every token came before the failure
                await _send(job.out, None)
                self._complete(job)
                return job.out
            async with self._session.post(backend.url + path, json=body, headers=job.headers) as up:
                self._started(job)
                if not job.stream or up.status != 200 or "text/event-stream" not in up.headers.get(
                        "Content-Type", ""):
                    return await self._whole(request, job, up)
                held: list[bytes] = []  # lines before the first token wait, so a failure then can be retried
                cut = b""  # a line without its end: forwarded only if the stream ends cleanly
                ended = False  # [DONE] or a finish reason seen: a stream cut without either is a failure
                try:
                    async for line in up.content:
                        if not line.endswith(b"\n"):
                            cut = line
                            continue
                        ended = ended or line.startswith(b"data: [DONE]") or _FINISH.search(line) is not None
                        token = self._observe(job, line)
                        if job.out is None:
                            held.append(line)
                            if not token and not line.startswith(b"data: [DONE]"):
                                continue
                            await self._open(request, job, up)
                            line, held = b"".join(held), []
                        await _send(job.out, line)
                except CONNECTION_ERRORS as exc:
                    return BackendFailed(f"{backend.url} failed mid-stream: {type(exc).__name__}: {exc}")
                self._observe(job, cut)
                ended = ended or cut.startswith(b"data: [DONE]") or _FINISH.search(cut) is not None
                if not ended:
                    return BackendFailed(f"{backend.url} closed the stream before its end ([DONE] or a finish "
                                         "reason)")
                if job.out is None:
                    await self._open(request, job, up)
                    await _send(job.out, b"".join(held))
                await _send(job.out, cut)
                await _send(job.out, None)
                self._complete(job)
                return job.out
        except ClientGone:
            return ClientGone()
        except CONNECTION_ERRORS as exc:
            return BackendFailed(f"{backend.url}: {type(exc).__name__}: {exc}")

    def _started(self, job: Job, first_token: bool = False) -> None:
        """The backend has taken the request up. A batching server (vLLM) answers with headers at once, and that is
        taken as the start (its waiting count corrects the views); a server that runs one request at a time
        (llama-cpp-python) also answers at once but then waits for its lock, so there the start is only known at
        the first token, and is dated when the request before it on that server ended (or when it was routed)."""
        r = job.view
        one_at_a_time = self.backends[r._r_replica_id].config.batch_size_cap == 1
        if r._r_started or one_at_a_time != first_token:
            return
        r._r_started = True
        if math.isnan(r._r_t_sched):
            r._r_t_sched = max(r._r_routed_at, self._last_done.get(r._r_replica_id, 0.0)) if one_at_a_time \
                else self.now()
            self._event(r._r_t_sched, "admit", r._r_id, r._r_replica_id, r._r_prompt)

    async def _open(self, request: web.Request, job: Job, up: aiohttp.ClientResponse) -> None:
        job.out = web.StreamResponse(status=200, headers=self._reply_headers(job, up))
        try:
            await job.out.prepare(request)
        except (ConnectionResetError, aiohttp.ClientConnectionResetError):
            raise ClientGone() from None

    async def _whole(self, request: web.Request, job: Job, up: aiohttp.ClientResponse) -> web.StreamResponse:
        data = await up.read()
        self._started(job, first_token=True)  # one-at-a-time servers: it was served, so it started
        job.http_status = up.status
        if up.status == 200:
            try:
                usage = json.loads(data).get("usage") or {}
                job.reported_prompt = usage.get("prompt_tokens")
                job.reported_completion = usage.get("completion_tokens")
            except (ValueError, AttributeError):
                pass
            self._complete(job)
        else:
            job.status, job.error = "failed", f"backend answered HTTP {up.status}: {data[:200]!r}"
        if job.out is not None:  # a resumed stream that the new backend refused
            return await self._abort(job)
        return web.Response(status=up.status, body=data, headers=self._reply_headers(job, up))

    def _reply_headers(self, job: Job, up: aiohttp.ClientResponse) -> dict:
        headers = {"Content-Type": up.headers.get("Content-Type", "application/json"),
                   "x-glia-request-id": str(job.view._r_id), "x-glia-replica": str(job.view._r_replica_id),
                   "x-glia-held-s": f"{job.first_routed_at - job.view._r_arr:.6f}"}
        if job.stream:
            headers["Cache-Control"] = "no-cache"
        return headers

    def _observe(self, job: Job, line: bytes) -> bool:
        """Count streamed tokens (a ``usage`` object, when the server sends one, is exact). True if the line carried
        a token."""
        event = parse_event(line)
        if event is None:
            return False
        usage = event.get("usage")
        if usage:
            job.reported_prompt = usage.get("prompt_tokens", job.reported_prompt)
            job.reported_completion = usage.get("completion_tokens", job.reported_completion)
        job.finish_reason = finish_reason(event) or job.finish_reason
        texts = token_texts(event, job.api)
        if not texts:
            return False
        r = job.view
        self._started(job, first_token=True)
        if math.isnan(r._r_t_first):
            r._r_t_first = self.now()
        if job.api == "completions":
            job.texts.extend(texts)
        job.generated += len(texts)
        r._r_generated += len(texts)
        return True

    def _complete(self, job: Job) -> None:
        job.status, job.http_status = "ok", job.http_status or 200
        job.completed_at = self.now()

    async def _abort(self, job: Job) -> web.StreamResponse:
        """End a stream that cannot finish: an OpenAI-style error event, then close."""
        err = {"error": {"message": f"the request failed after streaming began: {job.error}",
                         "type": "backend_failed", "code": 502}}
        try:
            await _send(job.out, b"data: " + json.dumps(err).encode() + b"\n\n")
            await _send(job.out, None)
        except ClientGone:
            pass
        return job.out

    def _finish(self, job: Job) -> None:
        """The request is over, whatever happened: out of the views, recorded, and the policy called."""
        r = job.view
        self.jobs.pop(r._r_id, None)
        self._unqueue(job)
        rid = r._r_replica_id
        if rid >= 0:
            self.views[rid].remove(r)
            self._idle_check(rid)
            self._last_done[rid] = self.now()
        if job.status == "pending":
            job.status, job.error = "cancelled", job.error or "the client closed the connection"
        if job.status == "ok":
            self._event(job.completed_at, "complete", r._r_id, rid, r._r_prompt + r._r_generated)
        else:
            self._event(self.now(), "fail", r._r_id, rid, 0)
        if self.recorder:
            prompt = job.prompt0 if job.resumed else (job.reported_prompt or job.prompt0)
            raw = {"request_id": r._r_id, "arrived_at": r._r_arr, "num_prefill_tokens": prompt,
                   "num_decode_tokens": max(1, self._output_tokens(job)),
                   "routed_at": job.first_routed_at, "replica_id": rid, "scheduled_at": r._r_t_sched,
                   "first_token_at": r._r_t_first, "completed_at": job.completed_at,
                   "num_restarts": r._r_restarts, "wasted_tokens": job.wasted}
            served = {"request_id": r._r_id, "api": job.api, "stream": job.stream, "status": job.status,
                      "http_status": job.http_status, "backend": job.backend,
                      "prompt_source": "usage" if job.reported_prompt and not job.resumed else job.prompt_source,
                      "error": job.error or None}
            self.recorder.request(raw, served)
        self.schedule()

    @staticmethod
    def _output_tokens(job: Job) -> int:
        """The server's count if it sent one (not for a resumed request: it counts the last attempt only), the asked
        ``max_tokens`` if the stream ended for length, else the tokens streamed."""
        if job.reported_completion and not job.resumed:
            return job.reported_completion
        if job.finish_reason == "length" and job.body.get("max_tokens"):
            return int(job.body["max_tokens"])
        return job.generated

    # -- backends -------------------------------------------------------------------------------------------
    def _backend_failed(self, backend: Backend, why: str) -> None:
        if not backend.healthy:
            return
        backend.healthy, backend.last_error, backend.changed_at = False, why, time.monotonic()
        log.warning("backend %d (%s) taken out: %s", backend.index, backend.url, why)
        self._event(self.now(), "backend_down", -1, backend.index)
        self.policy._set_replicas(self._serving())
        for job in list(self.jobs.values()):
            if job.view._r_replica_id == backend.index and job.exchange is not None:
                job.exchange.cancel()

    def _backend_back(self, backend: Backend) -> None:
        backend.healthy, backend.last_error, backend.changed_at = True, "", time.monotonic()
        log.warning("backend %d (%s) is back", backend.index, backend.url)
        self._event(self.now(), "backend_up", -1, backend.index)
        self.policy._set_replicas(self._serving())
        self.schedule()

    async def _watch(self) -> None:
        """Every ``probe_interval_s``: health checks (a scrape for backends with metrics), samples, and the stall
        check (requests held while no backend has work, for longer than ``stall_grace_s``)."""
        while True:
            results = await asyncio.gather(*(probe(self._session, b) for b in self.backends))
            for b, ok in zip(self.backends, results, strict=True):
                if b.healthy and not ok:
                    self._backend_failed(b, b.last_error)
                elif ok and not b.healthy:
                    self._backend_back(b)
            if self._stalled_since is not None and self.now() - self._stalled_since >= self.stall_grace_s:
                serving = self._serving()
                if serving and self.waiting:
                    self._fallback(serving, "stalled: the policy holds requests while no backend has work, so no "
                                   "completion will call it again (the simulator reports this as never_routed)")
                self._stalled_since = None
            self._sample(self.now())
            await asyncio.sleep(self.probe_interval_s)

    def _sample(self, t: float) -> None:
        if not self.recorder:
            return
        queue = len(self.waiting)
        for b in self.backends:
            v, s = self.views[b.index], b.last_scrape
            est = v.num_allocated_blocks
            self.recorder.sample(t, b.index, v.num_pending_requests, v.num_active_requests, est, v.num_blocks, queue)
            scraped = s.kv_usage * b.config.num_blocks if s.kv_usage is not None else math.nan
            self.recorder.backend_sample(t, b.index, b.url, b.healthy, _nan(s.running), _nan(s.waiting),
                                         _nan(s.kv_usage), scraped, est)

    def _idle_check(self, rid: int) -> None:
        if self.views[rid].is_idle and rid in self._busy_since:
            self.busy_s[rid] = self.busy_s.get(rid, 0.0) + self.now() - self._busy_since.pop(rid)

    def _event(self, t: float, kind: str, request_id: int, replica_id: int, value: int = 0) -> None:
        if self.recorder:
            self.recorder.event(t, kind, request_id, replica_id, value)

    # -- small endpoints ------------------------------------------------------------------------------------
    async def _models(self, request: web.Request) -> web.Response:
        for b in self.backends:
            if b.healthy and b.kind != "llama-cpp-python":  # its /v1/models waits for the model lock
                try:
                    async with self._session.get(b.url + "/v1/models") as up:
                        return web.Response(status=up.status, body=await up.read(), content_type="application/json")
                except CONNECTION_ERRORS:
                    continue
        return web.json_response({"object": "list", "data": [{"id": "glia-router", "object": "model",
                                                              "owned_by": "glia"}]})

    async def _health(self, request: web.Request) -> web.Response:
        up = sum(b.healthy for b in self.backends)
        return web.json_response({"healthy_backends": up}, status=200 if up else 503)

    async def _status(self, request: web.Request) -> web.Response:
        return web.json_response(self.status())

    def status(self) -> dict:
        confined = self.policy if isinstance(self.policy, ConfinedPolicy) else None
        process = {"isolation": confined.isolation, "restarts": confined.restarts, "disabled": confined.disabled
                   } if confined else {"isolation": "in-process (a built-in policy)"}
        return {"policy": self.policy_name, "policy_process": process, "uptime_s": round(self.now(), 3),
                "waiting": len(self.waiting),
                "in_flight": len(self.jobs) - len(self.waiting), "policy_errors": self.policy_errors,
                "fallback_routed": self.fallback_routed, "last_policy_error": self.last_policy_error,
                "backends": [{**b.describe(), "pending": self.views[b.index].num_pending_requests,
                              "active": self.views[b.index].num_active_requests,
                              "estimated_blocks": self.views[b.index].num_allocated_blocks} for b in self.backends]}


async def _send(out: web.StreamResponse, data: bytes | None) -> None:
    """Write to the client (``None``: end the response); a closed client connection becomes ``ClientGone``."""
    try:
        if data is None:
            await out.write_eof()
        elif data:
            await out.write(data)
    except (ConnectionResetError, aiohttp.ClientConnectionResetError):
        raise ClientGone() from None


def _nan(v) -> float:
    return math.nan if v is None else float(v)


def _prompt_text(body: dict, api: str) -> str:
    if api == "chat":
        parts = []
        for m in body.get("messages") or []:
            content = m.get("content") if isinstance(m, dict) else None
            if isinstance(content, list):
                content = " ".join(c.get("text", "") for c in content if isinstance(c, dict))
            parts.append(str(content or ""))
        return "\n".join(parts)
    prompt = body.get("prompt", "")
    return prompt if isinstance(prompt, str) else " ".join(map(str, prompt))


def _error(status: int, message: str, kind: str, job: Job | None = None) -> web.Response:
    if job is not None:
        job.http_status = status
    return web.json_response({"error": {"message": message, "type": kind, "code": status}}, status=status)
