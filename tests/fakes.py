"""Scripted chat models for the LLM path: no network, and every call's input kept for assertions."""

from __future__ import annotations

from typing import Any

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from pydantic import Field


class ScriptedChatModel(GenericFakeChatModel):
    """Answers with the scripted messages in order; records what each call received."""

    model_name: str = "gpt-4.1-mini"
    calls: list = Field(default_factory=list, exclude=True)
    bound: list = Field(default_factory=list, exclude=True)

    def bind_tools(self, tools: Any, **kwargs: Any) -> ScriptedChatModel:
        self.bound.append([getattr(t, "name", t) for t in tools])
        return self

    def _generate(self, messages, stop=None, run_manager=None, **kwargs):
        self.calls.append(list(messages))
        return super()._generate(messages, stop=stop, run_manager=run_manager, **kwargs)


def reply(content: str = "", *calls: tuple[str, dict], tokens: tuple[int, int] = (1000, 200)) -> AIMessage:
    """An AI message with tool calls (name, args) and token usage."""
    global _n
    tool_calls = []
    for name, args in calls:
        _n += 1
        tool_calls.append({"name": name, "args": args, "id": f"call{_n}", "type": "tool_call"})
    return AIMessage(content=content, tool_calls=tool_calls,
                     usage_metadata={"input_tokens": tokens[0], "output_tokens": tokens[1],
                                     "total_tokens": sum(tokens)})


_n = 0


def text(message) -> str:
    return str(message.content)
