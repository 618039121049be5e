"""Scripted chat models for the LLM path: no network, and every call's input kept for assertions."""

from __future__ import annotations

import itertools
from typing import Any

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from pydantic import Field

_ids = itertools.count(1)


class ScriptedChatModel(GenericFakeChatModel):
    """Answers with the scripted messages in order; records what each call received and what was bound."""

    model_name: str = "gpt-4.1-mini"
    calls: list = Field(default_factory=list, exclude=True)
    bound: list = Field(default_factory=list, exclude=True)   # {"tools": names, "tool_choice": ...} per bind
    stops: list = Field(default_factory=list, exclude=True)   # the stop sequences of each call

    def bind_tools(self, tools: Any, **kwargs: Any) -> ScriptedChatModel:
        names = [getattr(t, "name", None) or (t.get("function", {}).get("name") if isinstance(t, dict) else t)
                 for t in tools]
        self.bound.append({"tools": names, "tool_choice": kwargs.get("tool_choice")})
        return self

    def _generate(self, messages, stop=None, run_manager=None, **kwargs):
        self.calls.append(list(messages))
        self.stops.append(stop)
        return super()._generate(messages, stop=stop, run_manager=run_manager, **kwargs)


def reply(content: str = "", *calls: tuple[str, dict], tokens: tuple[int, int] = (1000, 200)) -> AIMessage:
    """An AI message with tool calls (name, args) and token usage."""
    tool_calls = [{"name": name, "args": args, "id": f"call{next(_ids)}", "type": "tool_call"} for name, args in calls]
    return AIMessage(content=content, tool_calls=tool_calls,
                     usage_metadata={"input_tokens": tokens[0], "output_tokens": tokens[1],
                                     "total_tokens": sum(tokens)})


def text(message) -> str:
    return str(message.content)
