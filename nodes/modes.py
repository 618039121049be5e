"""How each role talks to its endpoint, chosen from the endpoint's probed profile, with overrides.

Tool modes for a role that acts (best first): ``native_auto`` (the model picks tools with ``tool_choice="auto"``
and the server returns native calls), ``required`` (``tool_choice="required"``, with ``finish`` as a tool so the
model can still stop), ``named_router`` (two stages: choose an action from a fixed list through a forced
``choose_action`` function, then force that tool by name), ``text`` (no tool forcing: the reply is parsed for calls
written as text and fenced code, ``glia.nodes.replies``). Whatever the mode, replies are parsed for text calls too.

Structured-output methods for a role that answers in a schema (best first): ``json_schema`` (enforced by the server),
``json_object_schema`` (llama-cpp-python's ``{"type": "json_object", "schema": ...}``, a grammar), ``json_mode``
(valid JSON, the schema in the prompt), ``function_calling`` (a forced function), ``text`` (the schema in the prompt,
parsed leniently, with a fallback that always yields a valid object, ``glia.nodes.structured``).

Overrides (keys ``ROLE.KEY``, ``ROLE`` one of the roles or ``all``; a role's own key wins over ``all``):
``tools`` (a tool mode), ``structured`` (a method), ``tool_results`` (``tool_messages`` or ``user_messages``),
``tool_call_text`` (``true``: give an assistant turn with tool calls a text). In a task file::

    [endpoint.all]
    structured = "json_mode"
    [endpoint.researcher]
    tools = "named_router"

and on the command line ``--endpoint researcher.tools=named_router`` (repeatable)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Literal, get_args

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, ToolMessage
from pydantic import BaseModel

from .endpoint import CHECKS, TITLES, EndpointProfile

ToolMode = Literal["native_auto", "required", "named_router", "text"]
StructuredMethod = Literal["json_schema", "json_object_schema", "json_mode", "function_calling", "text"]
ToolResults = Literal["tool_messages", "user_messages"]

TOOL_MODES: tuple[str, ...] = get_args(ToolMode)
METHODS: tuple[str, ...] = get_args(StructuredMethod)
RESULTS: tuple[str, ...] = get_args(ToolResults)

# what each role needs from its endpoint: tools to act, a structured answer, or neither (plain text)
NEEDS = {"researcher": ("tools",), "analyst": ("tools", "structured"), "supervisor": ("structured",),
         "summarizer": ()}
CHOICES = {"tools": TOOL_MODES, "structured": METHODS, "tool_results": RESULTS, "tool_call_text": ("true", "false")}


class RoleModes(BaseModel):
    """The modes one role uses, and why each was chosen (a check's outcome, or ``override``)."""

    tools: ToolMode = "text"
    structured: StructuredMethod = "text"
    tool_results: ToolResults = "tool_messages"
    tool_call_text: bool = False
    why: dict[str, str] = {}


Overrides = dict[str, dict[str, str]]  # role (or "all") -> key -> value


def choose_modes(profile: EndpointProfile, role: str = "researcher", overrides: Overrides | None = None) -> RoleModes:
    """The best modes the profile supports, then the overrides for ``role`` (``all`` first, the role's own last)."""
    modes, why = {}, {}
    out = profile.outcome
    if out("auto") == "native":
        modes["tools"], why["tools"] = "native_auto", "auto gives native calls"
    elif out("required") == "honoured":
        modes["tools"], why["tools"] = "required", f"auto gives {out('auto')}; required is honoured"
    elif out("named") == "honoured":
        modes["tools"], why["tools"] = "named_router", (f"auto gives {out('auto')}; required {out('required')}; "
                                                        "named is honoured")
    else:
        modes["tools"], why["tools"] = "text", "no way to force or get native calls"
    if out("json_schema") == "enforced":
        modes["structured"], why["structured"] = "json_schema", "json_schema is enforced"
    elif out("json_object_schema") == "enforced":
        modes["structured"], why["structured"] = "json_object_schema", f"json_schema {out('json_schema')}"
    elif out("json_mode") == "valid":
        modes["structured"], why["structured"] = "json_mode", "no schema is enforced; JSON mode works"
    elif out("named") == "honoured":
        modes["structured"], why["structured"] = "function_calling", "no JSON mode; named tool_choice works"
    else:
        modes["structured"], why["structured"] = "text", "neither JSON mode nor a forced function works"
    seen = out("tool_results") != "dropped"
    modes["tool_results"] = "tool_messages" if seen else "user_messages"
    why["tool_results"] = f"tool results {out('tool_results')}"
    modes["tool_call_text"] = out("tool_history") not in ("accepted", "unknown")
    why["tool_call_text"] = f"a tool-call turn without text: {out('tool_history')}"
    for scope in ("all", role):
        for key, value in ((overrides or {}).get(scope) or {}).items():
            modes[key] = value == "true" if key == "tool_call_text" else value
            why[key] = "override"
    return RoleModes(**modes, why=why)


def parse_overrides(pairs: Iterable[str] = (), table: Mapping | None = None) -> Overrides:
    """Overrides from CLI pairs ``ROLE.KEY=VALUE`` and/or a task file's ``[endpoint]`` table, validated: an unknown
    role, key or value is an error that names the choices."""
    found: Overrides = {}
    items = [(scope, key, value) for scope, keys in (table or {}).items()
             for key, value in (keys.items() if isinstance(keys, Mapping) else [("", keys)])]
    for pair in pairs:
        lhs, sep, value = pair.partition("=")
        scope, dot, key = lhs.strip().partition(".")
        if not sep or not dot:
            raise ValueError(f"an endpoint override is ROLE.KEY=VALUE (e.g. researcher.tools=named_router), got "
                             f"{pair!r}")
        items.append((scope, key.strip(), value.strip()))
    for scope, key, value in items:
        if scope not in (*NEEDS, "all"):
            raise ValueError(f"unknown role {scope!r} in endpoint overrides; roles: {', '.join(NEEDS)}, all")
        if key not in CHOICES:
            raise ValueError(f"unknown endpoint override key {key!r} for {scope}; keys: {', '.join(CHOICES)}")
        value = str(value).lower() if isinstance(value, bool) else str(value)
        if value not in CHOICES[key]:
            raise ValueError(f"{scope}.{key} must be one of {', '.join(CHOICES[key])}, got {value!r}")
        found.setdefault(scope, {})[key] = value
    return found


def choose_action_tool(names: Iterable[str]) -> dict:
    """The first stage of ``named_router``: a function whose one argument is the next action, an enum of tool
    names, forced by name so a grammar-constrained server can only answer with one of them."""
    return {"type": "function", "function": {
        "name": "choose_action", "description": "Choose the next action.",
        "parameters": {"type": "object", "properties": {"action": {"type": "string", "enum": list(names)}},
                       "required": ["action"]}}}


def adapt_messages(messages: list[AnyMessage], modes: RoleModes) -> list[AnyMessage]:
    """A conversation as this endpoint can take it: where tool results never reach the model, each tool call is
    written into the assistant's text and each result becomes a user message; where a tool-call turn needs text,
    it gets a short one."""
    out: list[AnyMessage] = []
    for m in messages:
        if modes.tool_results == "user_messages" and isinstance(m, AIMessage) and m.tool_calls:
            calls = "\n".join(f"<tool_call>{json.dumps({'name': tc['name'], 'arguments': tc.get('args', {})})}"
                              "</tool_call>" for tc in m.tool_calls)
            out.append(AIMessage(content=f"{m.content}\n{calls}".strip(), name=m.name))
        elif modes.tool_results == "user_messages" and isinstance(m, ToolMessage):
            out.append(HumanMessage(content=f"[result of {m.name or 'the tool call'}]\n{m.content}"))
        elif modes.tool_call_text and isinstance(m, AIMessage) and m.tool_calls and not str(m.content).strip():
            names = ", ".join(tc["name"] for tc in m.tool_calls)
            out.append(m.model_copy(update={"content": f"Calling {names}."}))
        else:
            out.append(m)
    return out


def advice(profile: EndpointProfile) -> list[str]:
    """What the user should know, from the pattern of results (the research note's findings)."""
    out = profile.outcome
    tips = []
    fc_like = out("required") == "error" and out("tool_results") == "dropped" and out("named") == "honoured"
    if fc_like:
        tips.append("This looks like llama-cpp-python's chatml-function-calling format: it crashes on "
                    'tool_choice "required", drops tool results from the prompt (the model never sees a '
                    "simulation's output), sends no tools at all when tool_choice is unset, and HTML-escapes every "
                    "message (quotes reach the model as &#39;). Prefer the model's own template (start the server "
                    "without --chat_format) or llama.cpp's llama-server --jinja.")
    elif out("tool_results") == "dropped":
        tips.append("Tool results never reach the model: Glia sends them as user messages.")
    if out("tool_history") == "error":
        tips.append("The server rejects an assistant turn that has tool calls and no text (ChatOpenAI sends null "
                    "content; llama-cpp-python requires a string): Glia gives such turns a short text.")
    if out("auto") in ("tool_call_tag", "json", "functions_prefix"):
        tips.append(f'Under tool_choice "auto" tool calls come back as text ({out("auto")}): Glia parses them. '
                    "llama-server --jinja or vLLM --tool-call-parser hermes return them natively.")
    elif out("auto") == "none":
        tips.append('Under tool_choice "auto" the model answered in prose; Glia forces tools where it can.')
    if out("named") == "ignored":
        tips.append("A named tool_choice is ignored (as Ollama and llama-server do): Glia does not rely on it.")
    if out("required") == "ignored":
        tips.append('tool_choice "required" is ignored: the model may still answer in prose.')
    if out("json_schema") == "error":
        tips.append("response_format json_schema is rejected (llama-cpp-python accepts only text and json_object): "
                    "structured answers use JSON mode" + (" with the schema as a grammar." if
                                                          out("json_object_schema") == "enforced" else "."))
    elif out("json_schema") == "not_enforced":
        tips.append("response_format json_schema is accepted but not enforced: answers are validated and repaired.")
    if not tips:
        tips.append("Everything Glia uses works natively on this endpoint.")
    return tips


def endpoint_lines(profile: EndpointProfile, overrides: Overrides | None = None, cached: bool = False) -> list[str]:
    """``glia doctor``'s endpoint section: each check with its result and latency, the mode per role and why,
    and advice."""
    lines = [f"endpoint {profile.base_url}  model {profile.model}  probed {profile.probed_at}"
             + ("  (cached; --refresh probes again)" if cached else ""), "",
             f"{'check':<25}{'result':<15}{'ok':<4}{'latency':>8}  detail"]
    for name in CHECKS:
        c = profile.checks.get(name)
        if c is not None:
            lines.append(f"{TITLES[name]:<25}{c.outcome:<15}{'yes' if c.ok else 'no':<4}{c.latency_s:>7.2f}s  "
                         f"{_clip(c.error or c.detail, 64)}".rstrip())
    lines += ["", f"{'role':<12}{'tools':<14}{'tool results':<15}structured"]
    for role, needs in NEEDS.items():
        m = choose_modes(profile, role, overrides)
        cells = [m.tools if "tools" in needs else "-", m.tool_results if "tools" in needs else "-",
                 m.structured if "structured" in needs else "-"]
        lines.append(f"{role:<12}{cells[0]:<14}{cells[1]:<15}{cells[2]:<20}".rstrip()
                     + ("  (plain text)" if not needs else ""))
    m = choose_modes(profile, "analyst", overrides)
    lines += ["", "why: " + "; ".join(f"{key} {_value(m, key)} ({m.why[key]})" for key in CHOICES), "", "advice:"]
    lines += [f"- {tip}" for tip in advice(profile)]
    return lines


def _value(modes: RoleModes, key: str) -> str:
    value = getattr(modes, key)
    return str(value).lower() if isinstance(value, bool) else value


def _clip(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[:width - 3] + "..."
