"""A request's life in the router (``Job``), the failures an attempt ends in, and the pure parts of proxying it:
whether a failed stream can be resumed, the body to send upstream, the output length to record, the prompt's text,
the error response. No sockets: unit-tested in ``tests/graph/serving/test_jobs.py``."""

from __future__ import annotations

import asyncio
import math
import re
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

from glia.graph.serving.views import ServedRequest

PREFILL_HEADER = "x-prefill-tokens"
HOP_HEADERS = {"host", "content-length", "transfer-encoding", "connection", "keep-alive", "accept-encoding",
               PREFILL_HEADER}
FINISH = re.compile(rb'"finish_reason":\s*"')
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


def resumable(job: Job) -> bool:
    b = job.body
    return (job.api == "completions" and isinstance(b.get("prompt"), str) and b.get("n", 1) == 1
            and not b.get("echo") and not b.get("logprobs") and b.get("best_of", 1) == 1)


def upstream_body(job: Job) -> dict:
    if not job.texts:
        return job.body
    body = dict(job.body, prompt=job.body["prompt"] + "".join(job.texts))
    if body.get("max_tokens"):
        body["max_tokens"] = int(body["max_tokens"]) - job.generated
    return body


def output_tokens(job: Job) -> int:
    """The server's count if it sent one (not for a resumed request: it counts the last attempt only), the asked
    ``max_tokens`` if the stream ended for length, else the tokens streamed."""
    if job.reported_completion and not job.resumed:
        return job.reported_completion
    if job.finish_reason == "length" and job.body.get("max_tokens"):
        return int(job.body["max_tokens"])
    return job.generated


async def send(out: web.StreamResponse, data: bytes | None) -> None:
    """Write to the client (``None``: end the response); a closed client connection becomes ``ClientGone``."""
    try:
        if data is None:
            await out.write_eof()
        elif data:
            await out.write(data)
    except (ConnectionResetError, aiohttp.ClientConnectionResetError):
        raise ClientGone() from None


def nan(v) -> float:
    return math.nan if v is None else float(v)


def prompt_text(body: dict, api: str) -> str:
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


def error_response(status: int, message: str, kind: str, job: Job | None = None) -> web.Response:
    if job is not None:
        job.http_status = status
    return web.json_response({"error": {"message": message, "type": kind, "code": status}}, status=status)
