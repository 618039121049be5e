"""One attempt of a request on one backend: the body sent upstream (a resumed stream's prompt and remaining
``max_tokens``), the reply passed through as it comes (a stream's first lines held until its first token, so that a
failure before then can be retried), its tokens counted, its start dated. A part of ``Router`` (``router.py``)."""

from __future__ import annotations

import json
import math

import aiohttp
from aiohttp import web

from glia.graph.serving.backends import Backend
from glia.graph.serving.jobs import CONNECTION_ERRORS, FINISH, BackendFailed, ClientGone, Job, send, upstream_body
from glia.graph.serving.sse import finish_reason, parse_event, token_texts


class Exchange:
    """One attempt on one backend (see the module docstring)."""

    async def _exchange(self, request: web.Request, job: Job, backend: Backend):
        """One attempt on one backend. Returns the finished response, ``ClientGone`` or ``BackendFailed``."""
        path = "/v1/chat/completions" if job.api == "chat" else "/v1/completions"
        body = upstream_body(job)
        try:
            if job.resumed and body.get("max_tokens") is not None and body["max_tokens"] <= 0:
                await send(job.out, b"data: [DONE]\n\n")  # every token came before the failure
                await send(job.out, None)
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
                        ended = ended or line.startswith(b"data: [DONE]") or FINISH.search(line) is not None
                        token = self._observe(job, line)
                        if job.out is None:
                            held.append(line)
                            if not token and not line.startswith(b"data: [DONE]"):
                                continue
                            await self._open(request, job, up)
                            line, held = b"".join(held), []
                        await send(job.out, line)
                except CONNECTION_ERRORS as exc:
                    return BackendFailed(f"{backend.url} failed mid-stream: {type(exc).__name__}: {exc}")
                self._observe(job, cut)
                ended = ended or cut.startswith(b"data: [DONE]") or FINISH.search(cut) is not None
                if not ended:
                    return BackendFailed(f"{backend.url} closed the stream before its end ([DONE] or a finish "
                                         "reason)")
                if job.out is None:
                    await self._open(request, job, up)
                    await send(job.out, b"".join(held))
                await send(job.out, cut)
                await send(job.out, None)
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
            await send(job.out, b"data: " + json.dumps(err).encode() + b"\n\n")
            await send(job.out, None)
        except ClientGone:
            pass
        return job.out
