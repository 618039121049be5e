"""Model plumbing for the LLM implementations: an OpenAI-compatible chat model per role, retries with backoff on
rate limits and server errors, and token / USD accounting from a price table."""

from __future__ import annotations

import contextvars
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from langchain_core.messages import AIMessage

from glia.simulator.harness import interrupt
from glia.state import AgentSettings

# USD per million tokens (input, output); unknown models (local endpoints) cost nothing
PRICES = {
    "gpt-4.1": (2.00, 8.00), "gpt-4.1-mini": (0.40, 1.60), "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4o": (2.50, 10.00), "gpt-4o-mini": (0.15, 0.60), "o4-mini": (1.10, 4.40), "o3": (2.00, 8.00),
    "gpt-5": (1.25, 10.00), "gpt-5-mini": (0.25, 2.00), "gpt-5-nano": (0.05, 0.40),
}


class WallClockUsed(BaseException):
    """The run's wall-clock budget passed while a model's reply was awaited: the call is abandoned (its reply, when it
    comes, is dropped) and the step answers without the model (``graph/builder.py``). Not an ``Exception``, so that
    nothing which handles one (a structured-output fallback, a retry) asks the model again. ``waited``: a reply was
    being awaited when it passed (else it had passed before the call, which was not made)."""

    def __init__(self, message: str, waited: bool = False):
        super().__init__(message)
        self.waited = waited


# when the run's wall-clock budget ends (seconds since the epoch, as ``GliaState.started_at``), for the model calls
# of the step in flight; None: no limit
_DEADLINE: contextvars.ContextVar[tuple[float, float] | None] = contextvars.ContextVar("glia_model_deadline",
                                                                                    default=None)


@contextmanager
def model_deadline(started_at: float | None, wall_clock_s: float | None) -> Iterator[None]:
    """Model calls made inside wait no longer than the wall-clock budget that started at ``started_at`` allows
    (``WallClockUsed`` when it passes); no limit when either is missing or the budget is infinite."""
    limited = started_at is not None and wall_clock_s is not None and wall_clock_s != float("inf")
    token = _DEADLINE.set((float(started_at), float(wall_clock_s)) if limited else None)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def check_deadline(waited: bool = False) -> None:
    """Raise ``WallClockUsed`` if the wall-clock budget of the step in flight has passed (``waited``: while a reply
    was awaited)."""
    limit = _DEADLINE.get()
    if limit is not None and time.time() - limit[0] >= limit[1]:
        raise WallClockUsed(f"wall-clock budget used ({limit[1]:g} s)", waited)


class EndpointDown(RuntimeError):
    """The model endpoint kept failing after retries, or refused the key or the model; the run stops here,
    resumable (the message is one line: what failed, where, and what to check)."""


def endpoint_of(runnable) -> tuple[str | None, str]:
    """(base URL, model name) of a chat model, or of the model inside a bound runnable (tools, structured output)."""
    for obj in (runnable, getattr(runnable, "bound", None), getattr(getattr(runnable, "first", None), "bound", None)):
        if obj is not None and hasattr(obj, "model_name"):
            return getattr(obj, "openai_api_base", None), str(obj.model_name)
    return None, "?"


def doctor_hint(base_url: str | None, model: str) -> str:
    return f"`glia doctor --model {model}" + (f" --base-url {base_url}`" if base_url else "`")


def refusal(exc: BaseException, base_url: str | None, model: str) -> str | None:
    """One line for an endpoint that cannot serve this run at all (not there, the key refused, no such model), or
    None for any other failure (a transient one, or a request the endpoint rejects)."""
    try:
        import openai
    except ImportError:  # pragma: no cover - langchain-openai depends on it
        return None
    where = f"{base_url or 'https://api.openai.com/v1'} (model {model})"
    if isinstance(exc, openai.APIConnectionError) and not isinstance(exc, openai.APITimeoutError):
        cause: BaseException = exc
        while cause.__cause__ is not None:  # the socket's own words (connection refused, name not known)
            cause = cause.__cause__
        detail = " ".join(str(getattr(cause, "message", None) or cause).split()).rstrip(".")[:200]
        return (f"cannot reach the model endpoint {where}: {detail or type(cause).__name__}; is the server running, "
                f"and is the URL its OpenAI-compatible base (usually ending in /v1)? {doctor_hint(base_url, model)} "
                "checks it")
    body = getattr(exc, "body", None)
    detail = body.get("message") if isinstance(body, dict) else getattr(exc, "message", None) or str(exc)
    detail = " ".join(str(detail).split()).rstrip(".")[:200]
    if isinstance(exc, (openai.AuthenticationError, openai.PermissionDeniedError)):
        return (f"the model endpoint {where} refused the API key (HTTP {exc.status_code}: {detail}); check "
                f"OPENAI_API_KEY; {doctor_hint(base_url, model)} checks it")
    if isinstance(exc, openai.NotFoundError):
        return (f"the model endpoint {where} does not serve model {model!r} (HTTP 404: {detail}); check --model (or "
                f"GLIA_MODEL) against the server's models; {doctor_hint(base_url, model)} checks it")
    return None


def make_chat_model(model: str, base_url: str | None = None, api_key: str | None = None, temperature: float = 0.2,
                    timeout: float = 900):
    """A ``ChatOpenAI`` against any OpenAI-compatible endpoint (OpenAI, vLLM, Ollama, llama.cpp). The timeout is
    long because a small local model on a busy laptop can take minutes to write a whole policy file."""
    from langchain_openai import ChatOpenAI

    key = api_key or os.environ.get("OPENAI_API_KEY") or ("not-needed" if base_url else None)
    return ChatOpenAI(model=model, base_url=base_url, api_key=key, temperature=temperature, max_retries=0,
                      timeout=timeout)


def _is_timeout(exc: Exception) -> bool:
    import openai

    return isinstance(exc, openai.APITimeoutError)


def _retryable(exc: Exception) -> bool:
    try:
        import openai
    except ImportError:  # pragma: no cover - langchain-openai depends on it
        return False
    if isinstance(exc, (openai.RateLimitError, openai.APIConnectionError, openai.APITimeoutError,
                        openai.InternalServerError)):
        return True
    return isinstance(exc, openai.APIStatusError) and exc.status_code >= 500


def with_token_limit(chat, base_url: str | None, max_tokens: int):
    """The model with a reply-length limit, on endpoints other than OpenAI's (whose reasoning models spend tokens
    before answering). ChatOpenAI sends the limit as ``max_completion_tokens``, which llama-cpp-python ignores (it
    reads only ``max_tokens``), so both are sent. Other chat models are returned as they are."""
    fields = getattr(type(chat), "model_fields", {})
    if "api.openai.com" in (base_url or "https://api.openai.com/v1") or not {"max_tokens", "extra_body"} <= set(fields):
        return chat
    return chat.model_copy(update={"max_tokens": max_tokens,
                                   "extra_body": {**(chat.extra_body or {}), "max_tokens": max_tokens}})


def cost_usd(model_name: str, tokens_in: int, tokens_out: int) -> float:
    p_in, p_out = PRICES.get(model_name, (0.0, 0.0))
    return (tokens_in * p_in + tokens_out * p_out) / 1e6


def invoke_with_retries(runnable, messages, settings: AgentSettings, role: str):
    """``runnable.invoke(messages)``, retried with back-off on rate limits and server errors; ``EndpointDown`` when
    they persist (the run pauses there, resumable)."""
    delay = settings.retry_base_s
    timeouts = 0
    for attempt in range(settings.max_retries + 1):
        try:
            return abandonable(lambda: runnable.invoke(messages))
        except Exception as exc:  # only transient endpoint failures are retried
            base_url, model = endpoint_of(runnable)
            if (line := refusal(exc, base_url, model)) and not _retryable(exc):  # asking again will not help
                raise EndpointDown(f"the {role} model: {line}") from exc
            if not _retryable(exc):
                raise
            # a server that serves one request at a time keeps working on one we gave up on: asking again at
            # once only queues more work behind it, so a timeout is retried once, after the back-off
            timeouts += _is_timeout(exc)
            if attempt == settings.max_retries or timeouts > 1:
                why = refusal(exc, base_url, model) or (
                    f"{base_url or 'https://api.openai.com/v1'} (model {model}): {' '.join(str(exc).split())[:200]}; "
                    f"{doctor_hint(base_url, model)} checks it")
                raise EndpointDown(f"the {role} model endpoint failed {attempt + 1} times: {why}") from exc
            _sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")


def abandonable(call):
    """``call()`` (a model's reply) in a thread of its own, so that a stop by the user (``interrupt.request``:
    Ctrl-C, the TUI's stop) is obeyed at once rather than after the reply, which takes minutes on a small local
    server: the call is abandoned (its reply, when it comes, is dropped, as the rest of the step in flight is) and
    ``Interrupted`` raised; the run rests at its last checkpoint and the step runs again on resume. The run's
    wall-clock budget (``model_deadline``) is kept the same way: once it passes, the call is abandoned and
    ``WallClockUsed`` raised, however long the model would still take."""
    interrupt.check()
    check_deadline()
    box: dict = {}
    done = threading.Event()
    context = contextvars.copy_context()  # LangGraph's and LangChain's context (config, callbacks) go along

    def target() -> None:
        try:
            box["value"] = context.run(call)
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=target, name="glia-model-call", daemon=True).start()
    while not done.wait(0.1):
        interrupt.check()
        check_deadline(waited=True)
    if "error" in box:
        raise box["error"]
    return box["value"]


def _sleep(seconds: float) -> None:
    """A back-off that a stop cuts short (``Interrupted``)."""
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        interrupt.check()
        check_deadline()
        time.sleep(min(left, 0.1))
    interrupt.check()


def account(usage: dict, role: str, reply, model) -> None:
    """Add one reply's tokens and USD to ``usage``, per role and in total."""
    meta = getattr(reply, "usage_metadata", None) or {}
    t_in, t_out = int(meta.get("input_tokens", 0)), int(meta.get("output_tokens", 0))
    name = getattr(model, "model_name", None) or getattr(getattr(model, "bound", None), "model_name", "") or ""
    usd = cost_usd(name, t_in, t_out)
    for bucket in (usage, usage.setdefault(role, {})):
        bucket["tokens"] = bucket.get("tokens", 0) + t_in + t_out
        bucket["usd"] = bucket.get("usd", 0.0) + usd
        bucket["calls"] = bucket.get("calls", 0) + 1


def count(usage: dict, role: str, **counters: int) -> None:
    """Add to a role's counters (e.g. replies parsed from text, repairs) in ``usage``."""
    bucket = usage.setdefault(role, {})
    for key, n in counters.items():
        bucket[key] = bucket.get(key, 0) + n


def call_model(model, messages, settings: AgentSettings, usage: dict, role: str) -> AIMessage:
    """Invoke with retries and account the reply's tokens and USD."""
    reply = invoke_with_retries(model, messages, settings, role)
    account(usage, role, reply, model)
    return reply
