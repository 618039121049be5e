"""The load generator: replays a workload against any OpenAI-compatible endpoint (a Glia router or a server).

Requests carry prompts of the trace's lengths and outputs forced to the trace's lengths:
* prompts are sequences of words that the target's tokenizer reads as one token each, drawn at random per request
  (so no two prompts share a prefix a server could cache), their count corrected by the tokenizer's own count of a
  sample; without a tokenizer endpoint a word is taken as a token and the summary says lengths are approximate;
* outputs: ``max_tokens`` = the trace's length, with ``ignore_eos`` (vLLM, llama.cpp) and a -100 logit bias on the
  end-of-sequence tokens (llama-cpp-python has no ``ignore_eos``); those tokens are found by tokenizing the usual
  end-of-sequence strings, or given with ``eos_ids``. Whether the lengths held is counted and reported.

Open loop (the trace's arrival times) or closed loop (K users who think between requests), bounded in count and in
time. Each request records its arrival, first token and completion (seconds from the start), tokens, and, behind a
Glia router, its replica and the time it was held; the summary is the simulator's (mean / p90 e2e and TTFT, and
slowdown against the request alone when a service model of the backends is known).
"""

from __future__ import annotations

import asyncio
import math
import sys
import time
from dataclasses import dataclass, field

import aiohttp
import numpy as np

from glia.graph.serving.records import Recorder
from glia.graph.serving.sse import finish_reason, parse_event, token_texts
from glia.simulator.measured import ServiceModel
from glia.simulator.presets import PRESETS, get_preset
from glia.simulator.workloads import ClosedLoop, WorkloadSpec

# common English words; most are one token (with their leading space) in every BPE vocabulary of note
WORDS = ("the of and to in is was for that with as on by at from his her an be this are or which had not but have "
         "they were it one all she he their has been would who when there more if we so what about out up into no "
         "only some time could them my than first new other then these two like her may any after over also did "
         "many very way where just most back well much before through down should because each long people made "
         "same between good work life day world never still part great year own place man old last state while "
         "might must found small house under right water hand high again number here light city school every "
         "point home left car road tree river field open best full hard book story game music money power war team "
         "black white red blue green sun moon star sea rain wind fire stone glass paper letter word line page "
         "table chair door window street town country market price value level order group member family friend "
         "child woman father mother king law court church army party side case area form test plan idea").split()
EOS_STRINGS = ("<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<|end_of_text|>", "</s>", "<eos>", "<end_of_turn>",
               "<|end|>")


@dataclass
class Plan:
    """What to send: open loop (``arrivals``) or closed loop (``users`` > 0), with token lengths."""

    name: str
    prefill: np.ndarray
    decode: np.ndarray
    arrivals: np.ndarray | None = None
    users: int = 0
    think: np.ndarray | None = None
    duration_s: float = math.inf

    def __len__(self) -> int:
        return len(self.prefill)

    def as_requests(self) -> list[list]:
        """[arrived_at, prompt, output] rows: the simulator's explicit workload for the same requests."""
        return [[float(t), int(p), int(d)] for t, p, d in zip(self.arrivals, self.prefill, self.decode, strict=True)]


def plan_workload(workload: str, seed: int = 0, max_requests: int | None = None, duration_s: float | None = None,
                  time_scale: float = 1.0, length_scale: float = 1.0, max_prompt: int | None = None,
                  max_output: int | None = None, users: int | None = None, think_s: float = 1.0) -> Plan:
    """A preset's workload (its seed-th draw) or a trace CSV (``arrived_at,num_prefill_tokens,num_decode_tokens``),
    time scaled (< 1 compresses), lengths scaled and capped, cut to ``max_requests`` and ``duration_s``."""
    if workload in PRESETS:
        spec = get_preset(workload).workload
    elif workload.endswith(".csv"):
        spec = WorkloadSpec("replay", {"path": workload})
    else:
        raise ValueError(f"unknown workload {workload!r}: not a preset ({', '.join(PRESETS)}) nor a .csv trace")
    gen = spec.generate(seed)
    if isinstance(gen, ClosedLoop):
        users = users or gen.users
        think_s = gen.think_time_s
        prefill, decode, arrivals = gen.prefill, gen.decode, None
    else:
        prefill, decode, arrivals = gen.prefill, gen.decode, gen.arrived_at * time_scale
    prefill = _scaled(prefill, length_scale, max_prompt)
    decode = _scaled(decode, length_scale, max_output)
    if arrivals is not None:  # the simulator's explicit workload sorts by (time, prompt, output): so do we
        order = np.lexsort((decode, prefill, arrivals))
        prefill, decode, arrivals = prefill[order], decode[order], arrivals[order]
    n = len(prefill)
    if arrivals is not None and duration_s is not None:
        n = min(n, int(np.searchsorted(arrivals, duration_s)))
    if max_requests is not None:
        n = min(n, max_requests)
    if n < 1:
        raise ValueError(f"workload {workload!r} gives no request within the bounds")
    plan = Plan(workload, prefill[:n], decode[:n], None if arrivals is None else arrivals[:n],
                duration_s=duration_s if duration_s is not None else math.inf)
    if users or arrivals is None:
        plan.arrivals, plan.users = None, users or 1
        plan.think = np.random.default_rng(seed).exponential(max(think_s, 0.0), n)
    return plan


def _scaled(lengths: np.ndarray, scale: float, cap: int | None) -> np.ndarray:
    out = np.maximum(1, np.round(lengths * scale)).astype(np.int64)
    return np.minimum(out, cap) if cap else out


class PromptMaker:
    """Prompts of an exact token count, from words the target's tokenizer reads as single tokens."""

    def __init__(self, words: tuple[str, ...] = tuple(WORDS), offset: int = 0, exact: bool = False,
                 eos_ids: tuple[int, ...] = ()):
        self.words, self.offset, self.exact, self.eos_ids = words, offset, exact, eos_ids

    @classmethod
    async def for_target(cls, session: aiohttp.ClientSession, url: str,
                         eos_ids: tuple[int, ...] | None = None) -> PromptMaker:
        """Learn the single-token words, the tokenizer's fixed offset (a BOS token) and the EOS ids from ``url``'s
        tokenizer endpoint; without one, every word counts as a token (approximate)."""
        tok = _Tokenizer(session, url)
        if not await tok.find():
            return cls(eos_ids=eos_ids or ())
        gate = asyncio.Semaphore(4)  # be gentle: llama-cpp-python holds a thread per waiting request

        async def count(word: str) -> int | None:
            async with gate:
                return await tok.count(" " + word)
        counts = await asyncio.gather(*(count(w) for w in WORDS))
        fewest = min((c for c in counts if c), default=0)  # one token, plus a BOS if the tokenizer adds one
        single = tuple(w for w, c in zip(WORDS, counts, strict=True) if c == fewest)
        if len(single) < 20:
            return cls(eos_ids=eos_ids or ())
        rng = np.random.default_rng(0)
        sample = " ".join(rng.choice(single, 200))
        offset = (await tok.count(sample) or 200) - 200
        if eos_ids is None:
            found = []
            for s in EOS_STRINGS:
                ids = await tok.ids(s)
                if ids is not None and len(ids) == 1:
                    found.append(ids[0])
            eos_ids = tuple(dict.fromkeys(found))
        return cls(single, offset, True, eos_ids)

    def prompt(self, tokens: int, rng: np.random.Generator) -> str:
        n = max(1, tokens - self.offset)
        return " " + " ".join(rng.choice(self.words, n))

    def forcing(self, max_tokens: int) -> dict:
        body = {"max_tokens": int(max_tokens), "ignore_eos": True}
        if self.eos_ids:
            body["logit_bias"] = {str(i): -100 for i in self.eos_ids}
        return body


class _Tokenizer:
    """The target's tokenizer endpoint: llama-cpp-python's ``/extras/tokenize``, vLLM's or llama.cpp's
    ``/tokenize``."""

    def __init__(self, session: aiohttp.ClientSession, url: str):
        self.session, self.url, self.kind = session, url.rstrip("/"), None

    async def find(self) -> bool:
        for kind in ("extras", "vllm", "llama.cpp"):
            self.kind = kind
            if await self.ids("hi") is not None:
                return True
        self.kind = None
        return False

    async def ids(self, text: str) -> list[int] | None:
        path, body = {"extras": ("/extras/tokenize", {"input": text}), "vllm": ("/tokenize", {"prompt": text}),
                      "llama.cpp": ("/tokenize", {"content": text})}[self.kind]
        try:
            async with self.session.post(self.url + path, json=body,
                                         timeout=aiohttp.ClientTimeout(total=30)) as resp:
                if resp.status != 200:
                    return None
                data = await resp.json(content_type=None)
        except (TimeoutError, aiohttp.ClientError, ValueError):
            return None
        tokens = data.get("tokens") if isinstance(data, dict) else None
        return [int(t if isinstance(t, int) else t.get("id", -1)) for t in tokens] if isinstance(tokens, list) \
            else None

    async def count(self, text: str) -> int | None:
        ids = await self.ids(text)
        return None if ids is None else len(ids)


@dataclass
class Outcome:
    """One request as the client saw it (times in seconds from the start of the run)."""

    index: int
    prompt_tokens: int
    max_tokens: int
    arrived_at: float = math.nan
    first_token_at: float = math.nan
    completed_at: float = math.nan
    generated: int = 0
    reported_prompt: int | None = None
    reported_completion: int | None = None
    replica: int = -1
    held_s: float = math.nan
    router_id: int = -1
    finish_reason: str | None = None
    status: str = "pending"
    http_status: int = 0
    error: str = ""
    token_times: list = field(default_factory=list)

    @property
    def output_tokens(self) -> int:
        """The server's count when it sent one; ``max_tokens`` when it stopped for length; else the chunks seen."""
        if self.reported_completion is not None:
            return self.reported_completion
        return self.max_tokens if self.finish_reason == "length" else self.generated


async def send(session: aiohttp.ClientSession, target: str, api: str, prompt: str, outcome: Outcome, forcing: dict,
               t0: float, timeout_s: float = 600.0, keep_token_times: bool = False) -> Outcome:
    """One streamed request; fills ``outcome`` (never raises for a failed request: the status says)."""
    if api == "chat":
        body = {"messages": [{"role": "user", "content": prompt}], "stream": True, **forcing}
        path = "/v1/chat/completions"
    else:
        body = {"prompt": prompt, "stream": True, **forcing}
        path = "/v1/completions"
    outcome.arrived_at = time.monotonic() - t0
    try:
        async with session.post(target.rstrip("/") + path, json=body, timeout=aiohttp.ClientTimeout(total=timeout_s),
                                headers={"x-prefill-tokens": str(outcome.prompt_tokens)}) as resp:
            outcome.http_status = resp.status
            outcome.replica = int(resp.headers.get("x-glia-replica", -1))
            outcome.router_id = int(resp.headers.get("x-glia-request-id", -1))
            outcome.held_s = float(resp.headers.get("x-glia-held-s", "nan"))
            if resp.status != 200:
                outcome.status, outcome.error = "failed", f"HTTP {resp.status}: {(await resp.text())[:300]}"
                return outcome
            async for line in resp.content:
                event = parse_event(line)
                if event is None:
                    continue
                if "error" in event:
                    outcome.status, outcome.error = "failed", str(event["error"])[:300]
                    return outcome
                usage = event.get("usage")
                if usage:
                    outcome.reported_prompt = usage.get("prompt_tokens")
                    outcome.reported_completion = usage.get("completion_tokens")
                outcome.finish_reason = finish_reason(event) or outcome.finish_reason
                n = len(token_texts(event, api))
                if n:
                    now = time.monotonic() - t0
                    if math.isnan(outcome.first_token_at):
                        outcome.first_token_at = now
                    if keep_token_times:
                        outcome.token_times.extend([now] * n)
                    outcome.generated += n
    except TimeoutError:
        outcome.status, outcome.error = "timeout", f"no complete answer within {timeout_s:g} s"
        return outcome
    except aiohttp.ClientError as exc:
        outcome.status, outcome.error = "failed", f"{type(exc).__name__}: {exc}"
        return outcome
    outcome.completed_at = time.monotonic() - t0
    outcome.status = "ok" if outcome.generated else "failed"
    if not outcome.generated:
        outcome.error = "the stream ended without a token"
    return outcome


class Progress:
    """A one-line progress bar on stderr (a line every few seconds when stderr is not a terminal)."""

    def __init__(self, total: int, enabled: bool = True, stream=None):
        self.total, self.enabled, self.stream = total, enabled, stream or sys.stderr
        self.sent = self.done = self.failed = 0
        self.start = time.monotonic()
        self._last = 0.0
        self._tty = getattr(self.stream, "isatty", lambda: False)()

    def update(self, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < (0.2 if self._tty else 5.0):
            return
        self._last = now
        width = 30
        filled = int(width * (self.done + self.failed) / max(self.total, 1))
        line = (f"[{'#' * filled}{'.' * (width - filled)}] {self.done + self.failed}/{self.total} done "
                f"({self.failed} failed), {self.sent} sent, {now - self.start:.1f} s")
        self.stream.write(("\r" + line) if self._tty else line + "\n")
        if force and self._tty:
            self.stream.write("\n")
        self.stream.flush()


async def run_load(target: str, plan: Plan, maker: PromptMaker, api: str = "completions", seed: int = 0,
                   timeout_s: float = 600.0, drain_timeout_s: float = 600.0, progress: bool = True,
                   session: aiohttp.ClientSession | None = None) -> list[Outcome]:
    """Send the plan's requests (open or closed loop) and wait for them, within the plan's duration for sending and
    ``drain_timeout_s`` more for the last answers; requests still running then are cancelled and recorded as
    ``timeout``."""
    own = session is None
    session = session or aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    rng = np.random.default_rng(seed)
    prompts = [maker.prompt(int(p), rng) for p in plan.prefill]
    outcomes = [Outcome(i, int(p), int(d)) for i, (p, d) in enumerate(zip(plan.prefill, plan.decode, strict=True))]
    bar = Progress(len(plan), progress)
    t0 = time.monotonic()
    tasks: list[asyncio.Task] = []

    async def one(i: int) -> None:
        bar.sent += 1
        o = await send(session, target, api, prompts[i], outcomes[i], maker.forcing(outcomes[i].max_tokens), t0,
                       timeout_s)
        bar.done += o.status == "ok"
        bar.failed += o.status != "ok"
        bar.update()

    try:
        if plan.arrivals is not None:
            for i, t in enumerate(plan.arrivals):
                if t >= plan.duration_s:
                    break
                delay = t0 + float(t) - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(one(i)))
                bar.update()
        else:
            counter = iter(range(len(plan)))

            async def user() -> None:
                for i in counter:
                    if time.monotonic() - t0 >= plan.duration_s:
                        return
                    await one(i)
                    await asyncio.sleep(float(plan.think[i]))
            tasks = [asyncio.create_task(user()) for _ in range(plan.users)]
        _, late = await asyncio.wait(tasks, timeout=drain_timeout_s) if tasks else (set(), set())
        for t in late:
            t.cancel()
        await asyncio.gather(*late, return_exceptions=True)
    finally:
        if own:
            await session.close()
    for o in outcomes:
        if o.status == "pending" and not math.isnan(o.arrived_at):
            o.status, o.error = "timeout", f"still running {drain_timeout_s:g} s after the last request was sent"
    bar.update(force=True)
    return [o for o in outcomes if not math.isnan(o.arrived_at)]


def lengths_held(outcomes: list[Outcome]) -> tuple[int, int]:
    """(requests whose output had exactly the asked length, completed requests)."""
    ok = [o for o in outcomes if o.status == "ok"]
    return sum(o.output_tokens == o.max_tokens for o in ok), len(ok)


async def measure_service(session: aiohttp.ClientSession, url: str, maker: PromptMaker, max_context: int = 2048,
                          chunk_size: int = 512, api: str = "completions") -> tuple[ServiceModel, dict]:
    """Time a backend alone: prefills of several lengths (time to the first token) and two decodes (seconds per
    output token at a short and a long context), the median of three tries each, and fit a ``ServiceModel``."""
    rng = np.random.default_rng(12345)
    t0 = time.monotonic()

    async def timed(prompt: int, output: int) -> Outcome:
        o = Outcome(-1, prompt, output)
        await send(session, url, api, maker.prompt(prompt, rng), o, maker.forcing(output), t0, keep_token_times=True)
        if o.status != "ok":
            raise ConnectionError(f"calibration request to {url} failed: {o.error}")
        return o

    lengths = sorted({16, 128, 512, max(16, min(1536, max_context - 80))})
    prefill = []
    for p in lengths:
        tries = [await timed(p, 1) for _ in range(3)]
        prefill.append((p, float(np.median([o.first_token_at - o.arrived_at for o in tries]))))
    decode = []
    for p in sorted({16, max(16, min(1024, max_context // 2))}):
        tries = [await timed(p, 48) for _ in range(3)]
        steps = [(o.token_times[-1] - o.token_times[0]) / (len(o.token_times) - 1) for o in tries]
        decode.append((p + 24, float(np.median(steps))))
    model = ServiceModel.fit(prefill, decode, chunk_size)
    return model, {"url": url, "prefill": prefill, "decode": decode, "fit": model.to_dict()}


def record(telemetry, run_id: str, label: str, plan: Plan, outcomes: list[Outcome], config: dict,
           service: ServiceModel | None, chunk_size: int = 512, api: str = "completions") -> Recorder:
    """The client's view of a run, in the telemetry database (``context`` = ``loadgen``): the simulator's request
    columns (``routed_at`` and ``replica_id`` from a Glia router's reply headers; ``scheduled_at`` unknown here)."""
    replicas = len({o.replica for o in outcomes if o.replica >= 0}) or 1
    rec = Recorder(telemetry, run_id, label, plan.name, config, "loadgen", service, chunk_size, replicas)
    for o in outcomes:
        raw = {"request_id": o.index, "arrived_at": o.arrived_at,
               "num_prefill_tokens": o.reported_prompt or o.prompt_tokens, "num_decode_tokens": max(1, o.output_tokens),
               "routed_at": o.arrived_at + o.held_s, "replica_id": o.replica, "scheduled_at": math.nan,
               "first_token_at": o.first_token_at, "completed_at": o.completed_at, "num_restarts": 0,
               "wasted_tokens": 0}
        served = {"request_id": o.index, "api": api, "stream": True, "status": o.status,
                  "http_status": o.http_status, "backend": str(o.replica),
                  "prompt_source": "usage" if o.reported_prompt else "loadgen", "error": o.error or None}
        rec.request(raw, served)
    if telemetry is not None:
        rec.flush(max((o.completed_at for o in outcomes if o.status == "ok"), default=0.0))
    return rec
