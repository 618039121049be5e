"""The router's own cost: latency it adds per request, at the median and the 99th percentile.

Each request is sent, one at a time, straight to a backend and through ``glia route`` to the same backend (pairs
interleaved, so drifts of the machine hit both alike); the added latency of a pair is the difference of their times
to the first token and to the last. Streamed completions of 16 output tokens, prompts of 32 tokens, a prefill-token
header as the load generator sends it. Backends:

* an emulated vLLM-like backend (tests/support/emulated_backend.py, a test fake that sleeps 2 ms per iteration), in
  another process, so router and backend do not share an event loop;
* a real llama-cpp-python server with SmolLM2-135M on loopback, when one can be started (``--real``).

Run: ``python -m benchmarks.router_overhead [--requests 300] [--real] [--confined]``. The router runs in this process
with ``llq`` and records nothing (``--record`` to include the in-memory bookkeeping of the records). ``--confined``
compares the built-in ``llq`` (in the router's process) with the same policy as a file, which the router serves from
a confined process of its own over a pipe (halves of the requests each, in two alternated rounds; the p99 shown is
the mean of the rounds' p99s).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import time
from pathlib import Path

import aiohttp
import numpy as np

from glia.graph.serving.backends import discover
from glia.graph.serving.records import Recorder
from glia.graph.serving.router import Router
from glia.graph.serving.sse import parse_event, token_texts


def _emulated(port_queue) -> None:
    from tests.support.emulated_backend import EmulatedBackend

    async def main():
        be = EmulatedBackend(overhead_s=0.002, per_token_s=0.0)
        await be.start()
        port_queue.put(be.port)
        await asyncio.Event().wait()
    asyncio.run(main())


async def _timed(session, url: str, body: dict) -> tuple[float, float]:
    t0 = time.perf_counter()
    first = None
    async with session.post(url + "/v1/completions", json=body, headers={"x-prefill-tokens": "32"}) as resp:
        async for line in resp.content:
            if first is None and token_texts(parse_event(line) or {}, "completions"):
                first = time.perf_counter()
    return first - t0, time.perf_counter() - t0


# least-loaded-queue as a policy file: what a user serves from a design session, run in a confined process
LLQ_FILE = """from glia.simulator import BaseGlobalScheduler


class FileLLQ(BaseGlobalScheduler):
    def schedule(self):
        rs = self._replica_schedulers
        out = []
        for r in self._request_queue:
            out.append((min(rs, key=lambda i: rs[i].num_pending_requests + rs[i].num_active_requests), r))
        return out
"""


async def measure(backend_url: str, requests: int, record: bool, policy: str = "llq") -> dict:
    async with aiohttp.ClientSession() as s:
        backends = [await discover(s, 0, backend_url)]
    recorder = Recorder(None, "bench", "llq", "bench", {}, "serving") if record else None
    router = Router(policy, backends, recorder)
    url = await router.start("127.0.0.1", 0)
    body = {"prompt": " ".join(["the"] * 32), "max_tokens": 16, "stream": True, "ignore_eos": True,
            "logit_bias": {"2": -100, "0": -100}}
    direct, routed = [], []
    try:
        async with aiohttp.ClientSession() as s:
            for _ in range(5):  # warm up both paths
                await _timed(s, backend_url, body)
                await _timed(s, url, body)
            for i in range(requests):
                pair = [(backend_url, direct), (url, routed)]
                for target, out in (pair if i % 2 else pair[::-1]):
                    out.append(await _timed(s, target, body))
    finally:
        await router.stop()
    d, r = np.array(direct), np.array(routed)
    added = r - d
    ms = {"direct_ttft_ms": np.median(d[:, 0]), "direct_e2e_ms": np.median(d[:, 1]),
          "added_ttft_median_ms": np.median(added[:, 0]), "added_ttft_p99_ms": np.percentile(added[:, 0], 99),
          "added_e2e_median_ms": np.median(added[:, 1]), "added_e2e_p99_ms": np.percentile(added[:, 1], 99),
          "routed_e2e_p99_ms": np.percentile(r[:, 1], 99), "direct_e2e_p99_ms": np.percentile(d[:, 1], 99)}
    return {"requests": requests, **{k: 1e3 * float(v) for k, v in ms.items()}}


def _print(name: str, m: dict) -> None:
    print(f"{name}: {m['requests']} request pairs; direct median TTFT {m['direct_ttft_ms']:.2f} ms, "
          f"e2e {m['direct_e2e_ms']:.2f} ms")
    print(f"  added by the router: TTFT median {m['added_ttft_median_ms']:.2f} ms, "
          f"p99 {m['added_ttft_p99_ms']:.2f} ms; end-to-end median {m['added_e2e_median_ms']:.2f} ms, "
          f"p99 {m['added_e2e_p99_ms']:.2f} ms")
    print(f"  e2e p99 direct {m['direct_e2e_p99_ms']:.2f} ms vs routed {m['routed_e2e_p99_ms']:.2f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--real", action="store_true", help="also against a real llama-cpp-python server")
    ap.add_argument("--record", action="store_true", help="keep the router's records in memory as in production")
    ap.add_argument("--confined", action="store_true",
                    help="also serve least-loaded-queue as a policy file (in a confined process of its own, as every "
                         "policy file is) and compare it with the built-in llq (in the router's process)")
    args = ap.parse_args()
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    proc = ctx.Process(target=_emulated, args=(q,), daemon=True)
    proc.start()
    try:
        port = q.get(timeout=30)
        url = f"http://127.0.0.1:{port}"
        if not args.confined:
            _print("emulated vLLM-like backend (test fake, 2 ms per iteration)",
                   asyncio.run(measure(url, args.requests, args.record)))
        else:
            import tempfile
            path = Path(tempfile.mkdtemp(prefix="glia-router-bench-")) / "file_llq.py"
            path.write_text(LLQ_FILE)
            half = max(1, args.requests // 2)
            runs: dict[str, list[dict]] = {"built-in llq, in the router's process": [],
                                           "llq as a policy file, in a confined process": []}
            for _ in range(2):  # alternated, so that the machine's drift hits both alike
                for name, policy in zip(runs, ("llq", str(path)), strict=True):
                    runs[name].append(asyncio.run(measure(url, half, args.record, policy)))
            for name, parts in runs.items():
                _print(f"emulated vLLM-like backend, {name}", {
                    k: (sum(p[k] for p in parts) if k == "requests" else float(np.mean([p[k] for p in parts])))
                    for k in parts[0]})
    finally:
        proc.terminate()
    if args.real:
        from tests.support.llama_servers import LlamaServers
        with LlamaServers(1, base_port=8821) as servers:
            _print("llama-cpp-python, SmolLM2-135M, 1 thread",
                   asyncio.run(measure(servers.urls[0], max(30, args.requests // 10), args.record)))


if __name__ == "__main__":
    main()
