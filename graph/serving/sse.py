"""Reading OpenAI-style server-sent events: which lines carry tokens, and what usage the server reported."""

from __future__ import annotations

import json


def parse_event(line: bytes) -> dict | None:
    """The JSON object of an SSE ``data:`` line (None for other lines, ``[DONE]`` and malformed data)."""
    if not line.startswith(b"data:"):
        return None
    payload = line[5:].strip()
    if not payload or payload == b"[DONE]":
        return None
    try:
        data = json.loads(payload)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def token_texts(event: dict, api: str) -> list[str]:
    """The pieces of output an event carries, one per streamed token (a chunk is a token: llama.cpp and vLLM stream
    one token per chunk); tool-call deltas count as a token with no text."""
    out = []
    for choice in event.get("choices") or []:
        if not isinstance(choice, dict):
            continue
        if api == "completions":
            text = choice.get("text")
            if text:
                out.append(text)
        else:
            delta = choice.get("delta") or {}
            text = delta.get("content") or delta.get("reasoning_content")
            if text:
                out.append(text)
            elif delta.get("tool_calls"):
                out.append("")
    return out


def finish_reason(event: dict) -> str | None:
    """The first choice's finish reason, if the event carries one. ``length`` means the server wrote exactly
    ``max_tokens`` tokens, which counting chunks may not show: llama-cpp-python sends the tokens of a character split
    across tokens in one chunk."""
    for choice in event.get("choices") or []:
        if isinstance(choice, dict) and choice.get("finish_reason"):
            return choice["finish_reason"]
    return None
