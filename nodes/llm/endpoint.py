"""What an OpenAI-compatible endpoint really does with tools and structured output, found by a few cheap calls.

Servers differ where agents depend on them (see the research note on small models): a named ``tool_choice`` is
ignored by Ollama and llama.cpp's server, ``"required"`` crashes llama-cpp-python's ``chatml-function-calling``,
``auto`` may come back as prose or as ``<tool_call>`` text, tool results may never reach the model, and a JSON
schema may be rejected or go unenforced. ``probe`` asks the endpoint once, through the same ``ChatOpenAI`` client
the agents use, at temperature 0 (where the model allows one) with small token limits; ``profile_for`` caches the
answer per (base URL, model) in ``WORKSPACE/endpoints.json`` and in the user's cache (``user_cache``), which every
new workspace reads. ``glia.nodes.llm.modes`` turns a profile into the mode
each role uses."""

from __future__ import annotations

import json
import os
import re
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from pydantic import BaseModel, Field

from glia.nodes.llm.client import make_chat_model, refusal, with_token_limit
from glia.nodes.llm.replies import parse_reply
from glia.simulator.harness.workspace import Paths

PROBE_VERSION = 1  # bump when a check changes meaning; older cached profiles are probed again
CACHE_FILE = Paths(Path()).endpoints.name   # "endpoints.json", in the workspace (harness/workspace.py)
TIMEOUT_S = 120.0  # per probe call; the local 1.5B model answers a probe in 1-5 s
OPENAI_URL = "https://api.openai.com/v1"

ChatFactory = Callable[[str | None, str], object]  # (base_url, model) -> a ChatOpenAI-like chat model


class RecordWord(BaseModel):
    word: str = Field(description="the word to record")


class Finish(BaseModel):
    summary: str = Field(description="a one-line summary")


class ReadNote(BaseModel):
    topic: str = Field(description="the note's topic")


class Color(BaseModel):
    """The probe's structured answer: the enum tells an enforced schema from a model that merely complied."""

    color: Literal["amber", "teal"]


PROBE_TOOLS = {"record_word": (RecordWord, "Record one word."), "finish": (Finish, "Stop and report."),
               "read_note": (ReadNote, "Read a note and return its text.")}

SYSTEM = "You are an assistant in a software test. Follow the user's instructions exactly."
PROMPTS = {
    "named": "Call the finish tool now with the summary 'done'.",
    "required": "Hello! Please reply with a short friendly greeting.",
    "auto": "Call the record_word tool with the word 'kiwi'.",
    "tool_history": "What is the code in the note the tool returned? Answer with the code only.",
    "tool_results": "What is the code in the note the tool returned? Answer with the code only.",
    "json_schema": "What color is a clear daytime sky? Answer in JSON with the field color.",
    "json_mode": "What color is a clear daytime sky? Answer with one JSON object with the field color.",
    "json_object_schema": "What color is a clear daytime sky? Answer in JSON with the field color.",
}
NOTE_REQUEST = "Read the note on the topic 'code' with the read_note tool."
NOTE = "The code is {nonce}."
CALLING = "Reading the note."  # the assistant turn's text where the server needs one (see ``tool_history``)

# max tokens per check: enough for the expected answer, small enough to stay cheap on a CPU
LIMITS = {"named": 40, "required": 40, "auto": 80, "tool_history": 24, "tool_results": 24, "json_schema": 30,
          "json_mode": 30, "json_object_schema": 30}

CHECKS: tuple[str, ...] = tuple(PROMPTS)
TITLES = {"named": "named tool_choice", "required": 'tool_choice "required"', "auto": 'tool_choice "auto"',
          "tool_history": "tool-call turn, no text", "tool_results": "tool results seen",
          "json_schema": "json_schema enforced", "json_mode": "JSON mode", "json_object_schema": "json_object + schema"}


class Check(BaseModel):
    """One probe call: its outcome, whether that is what Glia needs, what came back, and how long it took."""

    outcome: str  # named/required: honoured | ignored | error; auto: native | tool_call_tag | json |
    # functions_prefix | none | error; tool_history: accepted | error; tool_results: seen | dropped | error;
    # json_schema, json_object_schema: enforced | not_enforced | invalid | error; json_mode: valid | invalid | error
    ok: bool
    detail: str = ""
    error: str | None = None
    latency_s: float = 0.0


class EndpointProfile(BaseModel):
    """Every check's result for one (base URL, model)."""

    base_url: str
    model: str
    probed_at: str
    probe_version: int = PROBE_VERSION
    checks: dict[str, Check]
    context_window: int | None = None   # tokens, where the server's model list says (vLLM, llama-server, LM Studio)

    def outcome(self, name: str) -> str:
        check = self.checks.get(name)
        return check.outcome if check else "unknown"


class EndpointUnreachable(RuntimeError):
    """The endpoint cannot serve at all (not there, the key refused, no such model); nothing is cached. The message
    is one line: what failed, where, and what to check. ``no_model``: the server has no model of that name (asking
    again will not help; another name will)."""

    def __init__(self, message: str, no_model: bool = False):
        super().__init__(message)
        self.no_model = no_model


def default_factory(base_url: str | None, model: str):
    """The agents' client: ``ChatOpenAI`` on the endpoint, at temperature 0 with the probe's timeout."""
    return make_chat_model(model, base_url, temperature=0.0, timeout=TIMEOUT_S)


def probe(base_url: str | None, model: str, factory: ChatFactory | None = None,
          nonce: str | None = None) -> EndpointProfile:
    """Run every check against the endpoint (eight short calls). ``factory`` makes the chat model (default: the
    agents' ``ChatOpenAI``); ``nonce`` is the word echoed through a tool message (random unless given, as replayed
    tests need)."""
    chat = (factory or default_factory)(base_url, model)
    nonce = nonce or f"ZEBRA-{secrets.randbelow(9000) + 1000}"
    checks: dict[str, Check] = {}
    for name in CHECKS:
        started = time.perf_counter()
        try:
            check = RUNNERS[name](with_token_limit(chat, base_url, LIMITS[name]), nonce)
        except Exception as exc:  # every failure of a check is a finding, except an endpoint that cannot serve
            if line := refusal(exc, base_url, model):
                raise EndpointUnreachable(line, no_model=" does not serve model " in line) from exc
            check = Check(outcome="error", ok=False, error=error_text(exc))
        check.latency_s = round(time.perf_counter() - started, 2)
        checks[name] = check
    return EndpointProfile(base_url=base_url or OPENAI_URL, model=model, checks=checks,
                           probed_at=datetime.now(UTC).isoformat(timespec="seconds"),
                           context_window=context_window(chat, model))


# where servers report a model's context window in their /v1/models entry
CONTEXT_KEYS = ("max_model_len", "context_length", "context_window", "max_context_length", "n_ctx")


def context_window(chat, model: str) -> int | None:
    """The model's context window as the server's ``/v1/models`` lists it (vLLM ``max_model_len``, LM Studio and
    OpenRouter ``context_length``, llama-server ``meta.n_ctx_train``), or None: many servers do not say."""
    try:
        listed = chat.root_client.models.list()
    except Exception:  # no client (a test model) or no model list: the reply limits keep their defaults
        return None
    for entry in getattr(listed, "data", None) or []:
        if getattr(entry, "id", None) != model:
            continue
        extra = {**(getattr(entry, "model_extra", None) or {})}
        extra.update(extra.get("meta") or {})
        for key in (*CONTEXT_KEYS, "n_ctx_train"):
            value = extra.get(key)
            if isinstance(value, int) and value > 0:
                return value
    return None


def user_cache() -> Path:
    """The per-user cache of endpoint profiles, shared by every workspace: ``$GLIA_CACHE_DIR/endpoints.json``, else
    ``$XDG_CACHE_HOME/glia/endpoints.json``, else ``~/.cache/glia/endpoints.json``."""
    root = os.environ.get("GLIA_CACHE_DIR") or str(Path(os.environ.get("XDG_CACHE_HOME") or
                                                         Path.home() / ".cache") / "glia")
    return Path(root).expanduser() / CACHE_FILE


ProfileSource = Literal["workspace", "user cache", "probed"]


def profile_for(workspace: str | Path, base_url: str | None, model: str, factory: ChatFactory | None = None,
                refresh: bool = False) -> tuple[EndpointProfile, ProfileSource]:
    """The profile of (base URL, model): the workspace's cached one, else the user's (``user_cache``: a new
    workspace does not probe an endpoint again, minutes on a slow local server), else probed (and written to both);
    a profile of another ``PROBE_VERSION`` is stale; ``refresh`` probes again. Returns it and where it came from."""
    path = Paths(Path(workspace)).endpoints
    key = cache_key(base_url, model)  # CACHE: endpoint profiles in WORKSPACE/endpoints.json, by (base URL, model)
    # CACHE: and in the user's cache directory (user_cache()), by the same key, read after the workspace's
    for source, where in (("workspace", path), ("user cache", user_cache())):
        profile = None if refresh else _cached(where, key)
        if profile is not None:
            if source == "user cache":  # the workspace keeps the profile its runs used
                _store(path, key, profile)
            return profile, source
    profile = probe(base_url, model, factory)
    _store(path, key, profile)
    try:
        _store(user_cache(), key, profile)
    except OSError:  # a cache that cannot be written (a read-only home) costs a probe next time, nothing else
        pass
    return profile, "probed"


def _cached(path: Path, key: str) -> EndpointProfile | None:
    entry = _read_cache(path).get(key)
    if entry is None:
        return None
    try:
        profile = EndpointProfile.model_validate(entry)
    except ValueError:
        return None  # an unreadable entry is probed again
    return profile if profile.probe_version == PROBE_VERSION else None


def _store(path: Path, key: str, profile: EndpointProfile) -> None:
    cached = _read_cache(path)
    cached[key] = profile.model_dump()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(cached, indent=1, sort_keys=True))
    os.replace(tmp, path)


def cache_key(base_url: str | None, model: str) -> str:
    return f"{(base_url or OPENAI_URL).rstrip('/')} {model}"


def _read_cache(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _tools(*names: str) -> list[dict]:
    return [{"type": "function", "function": {"name": n, "description": PROBE_TOOLS[n][1],
                                              "parameters": PROBE_TOOLS[n][0].model_json_schema()}}
            for n in names]


def _ask(name: str) -> list:
    return [SystemMessage(content=SYSTEM), HumanMessage(content=PROMPTS[name])]


def _shown(reply: AIMessage) -> str:
    calls = [f"{tc['name']} {json.dumps(tc.get('args', {}))}" for tc in reply.tool_calls or []]
    text = " ".join(str(reply.content or "").split())
    return "; ".join(calls + ([repr(text[:120])] if text else [])) or "(empty reply)"


def _forced(chat, nonce: str, choice: str, check: str) -> Check:
    reply = chat.bind_tools(_tools("record_word", "finish"), tool_choice=choice).invoke(_ask(check))
    calls = reply.tool_calls or []
    if check == "named":
        honoured = bool(calls) and calls[0]["name"] == "record_word" and _valid(RecordWord, calls[0].get("args"))
    else:
        honoured = bool(calls)
    return Check(outcome="honoured" if honoured else "ignored", ok=honoured, detail=_shown(reply))


def _auto(chat, nonce: str) -> Check:
    reply = chat.bind_tools(_tools("record_word", "finish"), tool_choice="auto").invoke(_ask("auto"))
    parsed = parse_reply(reply, {n: PROBE_TOOLS[n][0] for n in ("record_word", "finish")}, code=False)
    calls = [a for a in parsed.actions if a.name == "record_word"]
    outcome = calls[0].source if calls else "none"
    return Check(outcome=outcome, ok=outcome == "native", detail=_shown(reply))


def _note_conversation(nonce: str, assistant_text: str) -> list:
    call = {"name": "read_note", "args": {"topic": "code"}, "id": "call_probe_note", "type": "tool_call"}
    return [SystemMessage(content=SYSTEM), HumanMessage(content=NOTE_REQUEST),
            AIMessage(content=assistant_text, tool_calls=[call]),
            ToolMessage(content=NOTE.format(nonce=nonce), tool_call_id=call["id"]),
            HumanMessage(content=PROMPTS["tool_results"])]


def _tool_history(chat, nonce: str) -> Check:
    """Is an assistant turn with tool calls and no text accepted? ChatOpenAI sends its content as null, which
    llama-cpp-python's request model rejects (HTTP 500), so every conversation after a native call would fail."""
    reply = chat.bind_tools(_tools("read_note")).invoke(_note_conversation(nonce, ""))
    return Check(outcome="accepted", ok=True, detail=_shown(reply))


def _tool_results(chat, nonce: str) -> Check:
    """Does the model see a tool message? The nonce comes back only if it does."""
    reply = chat.bind_tools(_tools("read_note")).invoke(_note_conversation(nonce, CALLING))
    seen = _squash(nonce) in _squash(str(reply.content) + json.dumps([tc.get("args") for tc in reply.tool_calls]))
    return Check(outcome="seen" if seen else "dropped", ok=seen, detail=_shown(reply))


def _json_schema(chat, nonce: str) -> Check:
    out = chat.with_structured_output(Color, method="json_schema", include_raw=True).invoke(_ask("json_schema"))
    return _judge(out["raw"], out["parsed"] is not None)


def _json_mode(chat, nonce: str) -> Check:
    schema = json.dumps(Color.model_json_schema())
    messages = [SystemMessage(content=f"{SYSTEM} Answer with JSON matching this schema: {schema}"),
                HumanMessage(content=PROMPTS["json_mode"])]
    out = chat.with_structured_output(Color, method="json_mode", include_raw=True).invoke(messages)
    value = _json_of(out["raw"])
    return Check(outcome="valid" if value is not None else "invalid", ok=value is not None,
                 detail=_shown(out["raw"]))


def _json_object_schema(chat, nonce: str) -> Check:
    fmt = {"type": "json_object", "schema": Color.model_json_schema()}
    reply = chat.bind(response_format=fmt).invoke(_ask("json_object_schema"))
    return _judge(reply, _valid(Color, _json_of(reply)))


def _judge(reply: AIMessage, valid: bool) -> Check:
    """enforced: the answer is in the enum although the prompt invites 'blue'; not_enforced: JSON outside it."""
    if valid:
        return Check(outcome="enforced", ok=True, detail=_shown(reply))
    outcome = "not_enforced" if _json_of(reply) is not None else "invalid"
    return Check(outcome=outcome, ok=False, detail=_shown(reply))


RUNNERS: dict[str, Callable[..., Check]] = {
    "named": lambda chat, nonce: _forced(chat, nonce, "record_word", "named"),
    "required": lambda chat, nonce: _forced(chat, nonce, "required", "required"),
    "auto": _auto, "tool_history": _tool_history, "tool_results": _tool_results, "json_schema": _json_schema,
    "json_mode": _json_mode, "json_object_schema": _json_object_schema,
}


def _json_of(reply: AIMessage | None):
    try:
        return json.loads(str(reply.content)) if reply is not None else None
    except (json.JSONDecodeError, TypeError):
        return None


def _valid(schema: type[BaseModel], value) -> bool:
    try:
        schema.model_validate(value)
    except ValueError:
        return False
    return True


def _squash(text: str) -> str:
    return "".join(ch for ch in text.upper() if ch.isalnum())


VALIDATION = re.compile(r"'type': '(\w+)', 'loc': \(([^)]*)\), 'msg': (['\"])(.*?)\3")


def _validation_summary(message: str) -> str:
    """A server's pydantic request-validation error in one line: the field and the message that matter (the
    first error that is not about a union member's role or a missing field, as llama-cpp-python lists them)."""
    errors = VALIDATION.findall(message)
    if not errors:
        return ""
    kind, loc, _, msg = next((e for e in errors if e[0] not in ("literal_error", "missing")), errors[0])
    parts = [p.strip(" '\"") for p in loc.split(",")]
    where = ".".join(p for p in parts if p and p != "body" and not p[0].isupper())  # not the union members' names
    return f"request rejected: {where}: {msg}"


def error_text(exc: Exception) -> str:
    """A failed call in one line: the HTTP status and the server's message, condensed."""
    import openai
    if isinstance(exc, openai.APIStatusError):  # the SDK keeps the body's "error" object
        message = exc.body.get("message", "") if isinstance(exc.body, dict) else str(exc.body or "")
        message = _validation_summary(str(message)) or " ".join(str(message).split())[:300]
        return f"HTTP {exc.status_code}: {message or '(empty error message)'}"
    if isinstance(exc, openai.APITimeoutError):
        return f"no answer within {TIMEOUT_S:.0f} s"
    return f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
