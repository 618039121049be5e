"""A TEST FAKE of a vLLM-like OpenAI-compatible server: it sleeps rather than computes, so several fit on two cores.

It is no model server and no substitute for one (the opt-in tests and the must-show figures use real llama-cpp-python
servers). What it does emulate is what a router can observe of vLLM: continuous batching over a pool of KV blocks
(admission while blocks for the prompt are free, one new block per decoding request every ``block_size`` tokens, the
youngest running request preempted and recomputed when none is free), iteration times of ``overhead_s +
per_token_s * new tokens + per_context_token_s * KV tokens``, token-by-token streaming, the ``vllm:*`` gauges
(including ``vllm:cache_config_info`` with ``num_gpu_blocks`` and ``block_size``) on ``/metrics``, a ``/tokenize``
endpoint (one token per whitespace-separated word; ``<|im_end|>`` is its EOS token, id 2), and output lengths forced
only by ``ignore_eos`` (unless ``honours_ignore_eos`` is off, as on llama-cpp-python) or a logit bias of -100 on the
EOS token: otherwise a request stops "naturally" after a few tokens. ``flavour="llama-cpp-python"`` shows that
server's surface instead: no ``/metrics`` or ``/health``, ``/extras/tokenize[/count]``, no ``ignore_eos``, and (by
default) one request at a time.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass, field

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

EOS_ID = 2
EOS_TEXT = "<|im_end|>"


@dataclass
class _Job:
    id: int
    prompt: int
    target: int
    tokens: asyncio.Queue = field(default_factory=asyncio.Queue)
    generated: int = 0
    prefilled: bool = False
    blocks: int = 0
    arrived: float = field(default_factory=time.monotonic)


def count_words(text: str) -> int:
    return len(text.split())


def prompt_tokens(body: dict, chat: bool) -> int:
    if chat:
        return sum(count_words(str(m.get("content") or "")) + 3 for m in body.get("messages", []))
    prompt = body.get("prompt", "")
    if isinstance(prompt, list):
        return len(prompt) if all(isinstance(t, int) for t in prompt) else sum(count_words(p) for p in prompt)
    return count_words(prompt)


class EmulatedBackend:
    """One emulated vLLM replica on 127.0.0.1 (see the module docstring)."""

    def __init__(self, num_blocks: int = 256, block_size: int = 16, batch_cap: int = 64, overhead_s: float = 0.002,
                 per_token_s: float = 2e-4, per_context_token_s: float = 0.0, model: str = "emulated",
                 honours_ignore_eos: bool | None = None, flavour: str = "vllm"):
        llama = flavour == "llama-cpp-python"
        self.flavour = flavour
        self.num_blocks, self.block_size, self.batch_cap = num_blocks, block_size, 1 if llama else batch_cap
        self.overhead_s, self.per_token_s, self.per_context_token_s = overhead_s, per_token_s, per_context_token_s
        self.model = model
        self.honours_ignore_eos = not llama if honours_ignore_eos is None else honours_ignore_eos
        self.waiting: list[_Job] = []
        self.running: list[_Job] = []
        self.used_blocks = 0
        self.preemptions = 0
        self.requests_seen: list[dict] = []   # every request body received, for assertions
        self._ids = itertools.count()
        self._wake = asyncio.Event()
        self._transports: set = set()
        self._runner: web.AppRunner | None = None
        self._task: asyncio.Task | None = None
        self.url = ""
        reg = self.registry = CollectorRegistry()
        labels = ["model_name"]
        self._g_running = Gauge("vllm:num_requests_running", "running", labels, registry=reg)
        self._g_waiting = Gauge("vllm:num_requests_waiting", "waiting", labels, registry=reg)
        self._g_usage = Gauge("vllm:kv_cache_usage_perc", "KV usage (0-1)", labels, registry=reg)
        self._c_preempt = Counter("vllm:num_preemptions", "preemptions", labels, registry=reg)
        info = Gauge("vllm:cache_config_info", "cache config", ["block_size", "num_gpu_blocks", "cache_dtype"],
                     registry=reg)
        info.labels(str(block_size), str(num_blocks), "auto").set(1)

    # -- lifecycle ------------------------------------------------------------------------------------------
    async def start(self, port: int = 0) -> str:
        app = web.Application()
        app.router.add_post("/v1/completions", self._completions)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        if self.flavour == "llama-cpp-python":
            app.router.add_post("/extras/tokenize", self._tokenize)
            app.router.add_post("/extras/tokenize/count", self._tokenize)
        else:
            app.router.add_get("/metrics", self._metrics)
            app.router.add_post("/tokenize", self._tokenize)
            app.router.add_get("/health", self._health)
        self._runner = web.AppRunner(app, shutdown_timeout=0.1, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._task = asyncio.create_task(self._engine())
        return self.url

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
        if self._runner:
            await self._runner.cleanup()
            self._runner = None

    async def crash(self) -> None:
        """Die as a killed process does: every open connection reset, the port closed."""
        for transport in list(self._transports):
            transport.abort()
        await self.stop()

    # -- the engine -----------------------------------------------------------------------------------------
    async def _engine(self) -> None:
        while True:
            if not self.waiting and not self.running:
                self._wake.clear()
                await self._wake.wait()
            new_tokens, kv = self._plan()
            await asyncio.sleep(self.overhead_s + self.per_token_s * new_tokens + self.per_context_token_s * kv)
            self._advance()

    def _blocks(self, tokens: int) -> int:
        return -(-tokens // self.block_size)

    def _plan(self) -> tuple[int, int]:
        for job in [j for j in self.running if j.prefilled]:
            if job not in self.running:
                continue
            need = self._blocks(job.prompt + job.generated + 1) - job.blocks
            while need > 0 and self.used_blocks + need > self.num_blocks:
                victim = self.running[-1]
                self._preempt(victim)
                if victim is job:
                    break
            else:
                job.blocks += max(0, need)
                self.used_blocks += max(0, need)
        new = sum(1 for j in self.running if j.prefilled)
        while self.waiting and len(self.running) < self.batch_cap:
            job = self.waiting[0]
            need = self._blocks(job.prompt + job.generated)
            if self.used_blocks + need > self.num_blocks:
                break
            self.waiting.pop(0)
            job.blocks, job.prefilled = need, False
            self.used_blocks += need
            self.running.append(job)
            new += job.prompt + job.generated
        kv = sum(j.prompt + j.generated for j in self.running)
        return new, kv

    def _preempt(self, job: _Job) -> None:
        self.running.remove(job)
        self.used_blocks -= job.blocks
        job.blocks, job.prefilled = 0, False
        self.waiting.insert(0, job)
        self.preemptions += 1
        self._c_preempt.labels(self.model).inc()

    def _advance(self) -> None:
        for job in list(self.running):
            job.prefilled = True
            job.generated += 1
            job.tokens.put_nowait(job.generated)
            if job.generated >= job.target:
                self.running.remove(job)
                self.used_blocks -= job.blocks
                job.tokens.put_nowait(None)

    # -- HTTP -----------------------------------------------------------------------------------------------
    async def _completions(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, chat=False)

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, chat=True)

    async def _serve(self, request: web.Request, chat: bool) -> web.StreamResponse:
        body = await request.json()
        self.requests_seen.append(body)
        self._transports.add(request.transport)
        try:
            return await self._generate(request, body, chat)
        finally:
            self._transports.discard(request.transport)

    async def _generate(self, request: web.Request, body: dict, chat: bool) -> web.StreamResponse:
        prompt = prompt_tokens(body, chat)
        max_tokens = int(body.get("max_tokens") or 16)
        bias = float((body.get("logit_bias") or {}).get(str(EOS_ID), 0))
        forced = (body.get("ignore_eos") and self.honours_ignore_eos) or bias <= -100
        target = max_tokens if forced else max(1, min(max_tokens, prompt % 5 + 1))
        if self._blocks(prompt + target) > self.num_blocks:
            return web.json_response({"error": {"message": "prompt too long", "type": "BadRequestError"}},
                                     status=400)
        job = _Job(next(self._ids), prompt, target)
        self.waiting.append(job)
        self._wake.set()
        rid, created = f"emu-{job.id}", int(time.time())
        obj = "chat.completion" if chat else "text_completion"
        usage = {"prompt_tokens": prompt, "completion_tokens": target, "total_tokens": prompt + target}
        finish = "length" if target == max_tokens else "stop"
        if not body.get("stream"):
            while await job.tokens.get() is not None:
                pass
            text = "".join(f" w{i}" for i in range(1, target + 1))
            choice = ({"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}
                      if chat else {"index": 0, "text": text, "finish_reason": finish})
            return web.json_response({"id": rid, "object": obj, "created": created, "model": self.model,
                                      "choices": [choice], "usage": usage})
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        obj += ".chunk" if chat else ""
        if chat:
            await self._event(resp, {"id": rid, "object": obj, "created": created, "model": self.model,
                                     "choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}]})
        while (n := await job.tokens.get()) is not None:
            choice = ({"index": 0, "delta": {"content": f" w{n}"}, "finish_reason": None} if chat
                      else {"index": 0, "text": f" w{n}", "finish_reason": None})
            await self._event(resp, {"id": rid, "object": obj, "created": created, "model": self.model,
                                     "choices": [choice]})
        last = ({"index": 0, "delta": {}, "finish_reason": finish} if chat
                else {"index": 0, "text": "", "finish_reason": finish})
        await self._event(resp, {"id": rid, "object": obj, "created": created, "model": self.model, "choices": [last]})
        if (body.get("stream_options") or {}).get("include_usage"):
            await self._event(resp, {"id": rid, "object": obj, "created": created, "model": self.model,
                                     "choices": [], "usage": usage})
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp

    @staticmethod
    async def _event(resp: web.StreamResponse, data: dict) -> None:
        await resp.write(b"data: " + json.dumps(data).encode() + b"\n\n")

    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": self.model, "object": "model"}]})

    async def _metrics(self, request: web.Request) -> web.Response:
        self._g_running.labels(self.model).set(len(self.running))
        self._g_waiting.labels(self.model).set(len(self.waiting))
        self._g_usage.labels(self.model).set(self.used_blocks / self.num_blocks)
        return web.Response(body=generate_latest(self.registry), content_type="text/plain")

    async def _tokenize(self, request: web.Request) -> web.Response:
        body = await request.json()
        if "input" in body:  # llama-cpp-python's form
            body = {"prompt": body["input"]}
        n = prompt_tokens(body, chat="messages" in body)
        words = str(body.get("prompt", "")).split() if "messages" not in body else [""] * n
        ids = [EOS_ID if w == EOS_TEXT else 100 + sum(map(ord, w)) % 1000 for w in words]
        return web.json_response({"count": n, "max_model_len": self.num_blocks * self.block_size, "tokens": ids})

    async def _health(self, request: web.Request) -> web.Response:
        return web.Response(text="")
