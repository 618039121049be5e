"""The router's proxy: a request from its arrival to its end (its prompt's length, held until routed, retried
after a backend failure, recorded when over). One attempt on one backend is ``exchange.py``. A part of ``Router``
(``router.py``), whose state it shares."""

from __future__ import annotations

import asyncio
import json
import math
import time

from aiohttp import web

from glia.graph.serving.backends import count_tokens
from glia.graph.serving.jobs import (
    HOP_HEADERS,
    PREFILL_HEADER,
    BackendFailed,
    ClientGone,
    Job,
    error_response,
    output_tokens,
    prompt_text,
    resumable,
)
from glia.graph.serving.views import ServedRequest


class Proxy:
    """The requests' side of the router (see the module docstring)."""

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
            return error_response(400, f"invalid JSON body: {exc}", "invalid_request_error")
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
        text = prompt_text(body, api)
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
                return error_response(503, f"no backend took the request within {self.queue_timeout_s:g} s",
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
                return error_response(503, f"the request failed on its backend(s): {outcome}",
                                      "service_unavailable", job)

    def _retry(self, job: Job, rid: int) -> bool:
        """Put a request whose backend failed back in the policy's queue; False if it cannot be retried."""
        r = job.view
        self.views[rid].remove(r)
        self._idle_check(rid)
        self._last_done[rid] = self.now()
        if r._r_restarts >= self.max_retries or (job.out is not None and not resumable(job)):
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
                   "num_decode_tokens": max(1, output_tokens(job)),
                   "routed_at": job.first_routed_at, "replica_id": rid, "scheduled_at": r._r_t_sched,
                   "first_token_at": r._r_t_first, "completed_at": job.completed_at,
                   "num_restarts": r._r_restarts, "wasted_tokens": job.wasted}
            served = {"request_id": r._r_id, "api": job.api, "stream": job.stream, "status": job.status,
                      "http_status": job.http_status, "backend": job.backend,
                      "prompt_source": "usage" if job.reported_prompt and not job.resumed else job.prompt_source,
                      "error": job.error or None}
            self.recorder.request(raw, served)
        self.schedule()
