"""The backends behind the router: what each one is, what it can hold, what it reports, and whether it is up.

At start each backend is probed once:
* ``/metrics`` (vLLM and servers that mimic it): ``vllm:cache_config_info`` gives ``num_gpu_blocks`` and
  ``block_size``; ``vllm:num_requests_running`` / ``_waiting`` and ``vllm:kv_cache_usage_perc`` are then scraped
  every ``interval`` seconds (vLLM's deprecated ``vllm:gpu_cache_usage_perc`` is read when the new name is absent);
* a tokenizer endpoint, to count prompt tokens a client did not state: llama-cpp-python's ``/extras/tokenize/count``,
  vLLM's ``/tokenize`` (``prompt`` -> ``count``) or llama.cpp's ``/tokenize`` (``content`` -> ``tokens``);
* llama.cpp's ``/props`` (context size and slots) when there are no metrics.
A backend that reports no capacity is given ``kv_tokens`` (default 2,048: llama-cpp-python's default ``n_ctx``).
llama-cpp-python serves one request at a time, so its batch-size cap is 1.

A backend is taken out when a request to it fails at the connection level or its probe fails, and put back when a
probe succeeds again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from glia.simulator.replica import ReplicaConfig

DEFAULT_KV_TOKENS = 2048
PROBE_TIMEOUT_S = 5.0
TIMEOUTS_TO_FAIL = 3


@dataclass
class Scrape:
    """What one ``/metrics`` answer said (None: not exported)."""

    running: float | None = None
    waiting: float | None = None
    kv_usage: float | None = None
    num_gpu_blocks: int | None = None
    block_size: int | None = None
    preemptions: float | None = None


def parse_metrics(text: str) -> Scrape:
    """Read vLLM's gauges from a Prometheus text exposition (summed over engines and models)."""
    values: dict[str, float] = {}
    out = Scrape()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "vllm:cache_config_info":
                labels = sample.labels
                if labels.get("num_gpu_blocks", "").isdigit():
                    out.num_gpu_blocks = (out.num_gpu_blocks or 0) + int(labels["num_gpu_blocks"])
                if labels.get("block_size", "").isdigit():
                    out.block_size = int(labels["block_size"])
            else:
                values[sample.name] = values.get(sample.name, 0.0) + sample.value
    out.running = values.get("vllm:num_requests_running")
    out.waiting = values.get("vllm:num_requests_waiting")
    out.kv_usage = values.get("vllm:kv_cache_usage_perc", values.get("vllm:gpu_cache_usage_perc"))
    out.preemptions = values.get("vllm:num_preemptions_total", values.get("vllm:num_preemptions"))
    return out


@dataclass
class Backend:
    """One OpenAI-compatible server and the router's knowledge of it."""

    index: int
    url: str
    config: ReplicaConfig
    capacity_source: str
    kind: str = "openai"            # vllm-metrics, llama-cpp-python, llama.cpp, openai
    tokenizer: str | None = None    # which tokenizer endpoint answers
    healthy: bool = True
    last_scrape: Scrape = field(default_factory=Scrape)
    last_error: str = ""
    timeouts: int = 0
    changed_at: float = field(default_factory=time.monotonic)

    @property
    def has_metrics(self) -> bool:
        return self.kind == "vllm-metrics"

    def describe(self) -> dict:
        return {"replica_id": self.index, "url": self.url, "kind": self.kind, "healthy": self.healthy,
                "num_blocks": self.config.num_blocks, "block_size": self.config.block_size,
                "batch_size_cap": self.config.batch_size_cap, "capacity_source": self.capacity_source,
                "tokenizer": self.tokenizer, "last_error": self.last_error or None}


async def _get(session, url: str):
    async with session.get(url, timeout=_timeout()) as resp:
        return resp.status, await resp.text()


async def _post_json(session, url: str, body: dict):
    async with session.post(url, json=body, timeout=_timeout()) as resp:
        data = await resp.json(content_type=None) if resp.status == 200 else None
        return resp.status, data


def _timeout() -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(total=PROBE_TIMEOUT_S)


async def discover(session, index: int, url: str, kv_tokens: int | None = None, block_size: int = 16,
                   batch_size_cap: int | None = None) -> Backend:
    """Probe a backend once: what it is, its KV capacity, its tokenizer. Raises ``ConnectionError`` if it does not
    answer at all."""
    url = url.rstrip("/")
    try:
        status, text = await _get(session, url + "/metrics")
    except (TimeoutError, aiohttp.ClientError) as exc:
        raise ConnectionError(f"backend {url} does not answer: {type(exc).__name__}: {exc}") from None
    scrape = parse_metrics(text) if status == 200 and "vllm:" in text else None
    kind, cap, source, blocks = "openai", batch_size_cap or 128, "", None
    if scrape is not None:
        kind = "vllm-metrics"
        if scrape.num_gpu_blocks:
            blocks, block_size = scrape.num_gpu_blocks, scrape.block_size or block_size
            source = "vllm:cache_config_info"
    tokenizer = await _find_tokenizer(session, url)
    if tokenizer == "extras":
        kind, cap = "llama-cpp-python", batch_size_cap or 1
    elif tokenizer == "llama.cpp" and not blocks:
        kind = "llama.cpp"
        try:
            st, props = await _get_json(session, url + "/props")
            n_ctx = int(props["default_generation_settings"]["n_ctx"])
            slots = int(props.get("total_slots", 1))
            blocks, source, cap = n_ctx // block_size * slots, "llama.cpp /props", batch_size_cap or slots
        except (TimeoutError, aiohttp.ClientError, KeyError, TypeError, ValueError):
            pass
    if not blocks:
        tokens = kv_tokens or DEFAULT_KV_TOKENS
        blocks = max(1, tokens // block_size)
        source = f"--kv-tokens {tokens}" if kv_tokens else f"assumed {tokens} tokens (llama-cpp-python's default n_ctx)"
    config = ReplicaConfig(blocks, block_size, batch_size_cap=cap, watermark_fraction=0.0)
    backend = Backend(index, url, config, source, kind, tokenizer)
    if scrape is not None:
        backend.last_scrape = scrape
    return backend


async def _get_json(session, url: str):
    async with session.get(url, timeout=_timeout()) as resp:
        return resp.status, await resp.json(content_type=None)


async def _find_tokenizer(session, url: str) -> str | None:
    for name, path, body, key in (("extras", "/extras/tokenize/count", {"input": "hi"}, "count"),
                                  ("vllm", "/tokenize", {"prompt": "hi"}, "count"),
                                  ("llama.cpp", "/tokenize", {"content": "hi"}, "tokens")):
        try:
            status, data = await _post_json(session, url + path, body)
        except (TimeoutError, aiohttp.ClientError):
            continue
        if status == 200 and isinstance(data, dict) and key in data:
            return name
    return None


async def count_tokens(session, backend: Backend, text: str) -> int | None:
    """Prompt tokens of ``text`` by the backend's own tokenizer (None when it has none or fails)."""
    path, body = {"extras": ("/extras/tokenize/count", {"input": text}),
                  "vllm": ("/tokenize", {"prompt": text}),
                  "llama.cpp": ("/tokenize", {"content": text})}.get(backend.tokenizer, (None, None))
    if path is None:
        return None
    try:
        status, data = await _post_json(session, backend.url + path, body)
    except (TimeoutError, aiohttp.ClientError):
        return None
    if status != 200 or not isinstance(data, dict):
        return None
    return int(data["count"]) if "count" in data else len(data.get("tokens", []))


async def probe(session, backend: Backend) -> bool:
    """One health check (for backends with metrics, a scrape). Any HTTP answer to ``/health`` proves a server alive
    (llama-cpp-python has no such route and answers 404: that will do, and unlike its ``/v1/models`` it does not wait
    for the model lock). Updates the backend; False when it is refused, reset, or silent for ``PROBE_TIMEOUT_S``
    ``TIMEOUTS_TO_FAIL`` times in a row (a loaded machine may be slow to answer once)."""
    try:
        if backend.has_metrics:
            status, text = await _get(session, backend.url + "/metrics")
            if status == 200:
                backend.last_scrape = parse_metrics(text)
        else:
            status, _ = await _get(session, backend.url + "/health")
    except TimeoutError:
        backend.timeouts += 1
        backend.last_error = f"no answer to a health check within {PROBE_TIMEOUT_S:g} s ({backend.timeouts} in a row)"
        return backend.timeouts < TIMEOUTS_TO_FAIL
    except (aiohttp.ClientError, ValueError) as exc:
        backend.last_error = f"{type(exc).__name__}: {exc}"
        return False
    backend.timeouts = 0
    if status >= 500:
        backend.last_error = f"health check answered HTTP {status}"
        return False
    return True
