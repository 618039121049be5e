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

The router is composed of its parts, each a file: the policy driver (``driver.py``), the proxy of one request
(``proxy.py``) and of one attempt on one backend (``exchange.py``), the backend watcher (``watcher.py``), and the
request record with the pure parts of proxying (``jobs.py``); here are its lifecycle, its HTTP app and its status.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from types import SimpleNamespace

import aiohttp
from aiohttp import web

from glia.graph.serving.backends import Backend
from glia.graph.serving.confined import ConfinedPolicy, served_policy
from glia.graph.serving.driver import PolicyDriver
from glia.graph.serving.exchange import Exchange
from glia.graph.serving.jobs import CONNECTION_ERRORS, BackendFailed, ClientGone, Job
from glia.graph.serving.proxy import Proxy
from glia.graph.serving.records import Recorder
from glia.graph.serving.views import ServedReplica
from glia.graph.serving.watcher import BackendWatcher
from glia.simulator.policy.loader import is_builtin, load_policy

log = logging.getLogger("glia.router")

__all__ = ["BackendFailed", "ClientGone", "Job", "Router"]


class Router(PolicyDriver, Proxy, Exchange, BackendWatcher):
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
