"""How each role talks to its endpoint, chosen from the endpoint's probed profile, with overrides.

Tool modes for a role that acts (best first): ``native_auto`` (the model picks tools with ``tool_choice="auto"``
and the server returns native calls), ``required`` (``tool_choice="required"``, with ``finish`` as a tool so the
model can still stop), ``named_router`` (two stages: choose an action from a fixed list through a forced
``choose_action`` function, then force that tool by name), ``text`` (no tool forcing: the reply is parsed for calls
written as text and fenced code, ``glia.nodes.llm.replies``). Whatever the mode, replies are parsed for text calls too.

Structured-output methods for a role that answers in a schema (best first): ``json_schema`` (enforced by the server),
``json_object_schema`` (llama-cpp-python's ``{"type": "json_object", "schema": ...}``, a grammar), ``json_mode``
(valid JSON, the schema in the prompt), ``function_calling`` (a forced function), ``text`` (the schema in the prompt,
parsed leniently, with a fallback that always yields a valid object, ``glia.nodes.llm.structured``).

Reply limits (``max_tokens``, per role): what a reply of the role needs (the researcher's: reasoning plus a whole
policy file), within the model's context window where the endpoint reports one (``EndpointProfile.context_window``);
a weak model (no native tool calls) writing the functions form gets the researcher's smaller limit (600 tokens:
an Idea line and a few small functions).

Design form (``design_form``, the researcher's): ``class`` (the whole policy class, for strong models) or
``functions`` (a few small functions called by a fixed driver, ``simulator/policy/forms.py``), by default ``functions``
where the endpoint takes no native tool calls (the small local models). There the researcher also uses the ``text``
protocol rather than ``named_router`` (what the small-model runs worked with), and the run's start says so
(``weak_notes``), with a recommendation (never applied silently) to run the analyst offline.

Overrides (keys ``ROLE.KEY``, ``ROLE`` one of the roles or ``all``; a role's own key wins over ``all``):
``tools`` (a tool mode), ``structured`` (a method), ``tool_results`` (``tool_messages`` or ``user_messages``),
``tool_call_text`` (``true``: give an assistant turn with tool calls a text), ``max_tokens`` (a reply limit, a
positive integer), ``design_form`` (``class`` or ``functions``). In a task file::

    [endpoint.all]
    structured = "json_mode"
    [endpoint.researcher]
    tools = "named_router"
    max_tokens = 6000

and on the command line ``--endpoint researcher.tools=named_router`` (repeatable)."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterable, Mapping
from typing import Literal, get_args

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, ToolMessage
from pydantic import BaseModel

from glia.nodes.llm.endpoint import CHECKS, TITLES, EndpointProfile
from glia.nodes.roles import ROLES

ToolMode = Literal["native_auto", "required", "named_router", "text"]
StructuredMethod = Literal["json_schema", "json_object_schema", "json_mode", "function_calling", "text"]
ToolResults = Literal["tool_messages", "user_messages"]

WIDTH = 120  # glia doctor's lines
TOOL_MODES: tuple[str, ...] = get_args(ToolMode)
METHODS: tuple[str, ...] = get_args(StructuredMethod)
RESULTS: tuple[str, ...] = get_args(ToolResults)

# what each role needs from its endpoint: tools to act, a structured answer, or neither (plain text; ``roles.py``)
NEEDS = {name: role.needs for name, role in ROLES.items()}
DESIGN_FORMS = ("class", "functions")
CHOICES = {"tools": TOOL_MODES, "structured": METHODS, "tool_results": RESULTS, "tool_call_text": ("true", "false"),
           "max_tokens": None, "design_form": DESIGN_FORMS}  # None: a positive integer
# the longest reply each role may write (tokens), unless overridden (``roles.py`` says why)
MAX_TOKENS = {name: role.reply_tokens for name, role in ROLES.items()}
WEAK_MAX_TOKENS = {name: role.weak_reply_tokens for name, role in ROLES.items() if role.weak_reply_tokens}
CONTEXT_SHARE = 4  # a reply may take at most this share (1/N) of a known context window


class RoleModes(BaseModel):
    """The modes one role uses, and why each was chosen (a check's outcome, or ``override``)."""

    tools: ToolMode = "text"
    structured: StructuredMethod = "text"
    tool_results: ToolResults = "tool_messages"
    tool_call_text: bool = False
    # where a role that acts goes when its native calls come back unusable (a small model under a server's
    # function-calling format: a call with no arguments): the next rung of the ladder that works
    fallback: ToolMode | None = None
    max_tokens: int | None = None           # the role's reply limit (None: ``MAX_TOKENS``)
    design_form: Literal["class", "functions"] | None = None   # the researcher's (None: by its tool mode)
    why: dict[str, str] = {}


Overrides = dict[str, dict[str, str]]  # role (or "all") -> key -> value

# a role whose endpoint was not probed (a chat model handed in, e.g. in tests): native calls, schema in the prompt
UNPROBED = RoleModes(tools="native_auto", structured="text", why={"tools": "not probed", "structured": "not probed"})


def role_modes(modes: Mapping[str, Mapping], role: str) -> RoleModes:
    """A role's modes as chosen at the run's start (``GliaContext.modes``), or ``UNPROBED``."""
    chosen = modes.get(role)
    return RoleModes.model_validate(chosen) if chosen else UNPROBED


def choose_modes(profile: EndpointProfile, role: str = "researcher", overrides: Overrides | None = None) -> RoleModes:
    """The best modes the profile supports (the first rung of each ladder whose check passed), then the overrides
    for ``role`` (``all`` first, the role's own last). ``why`` holds the evidence for each choice."""
    out = profile.outcome
    tools = [("native_auto", out("auto") == "native"), ("required", out("required") == "honoured"),
             ("named_router", out("named") == "honoured"), ("text", True)]
    structured = [("json_schema", out("json_schema") == "enforced"),
                  ("json_object_schema", out("json_object_schema") == "enforced"),
                  ("json_mode", out("json_mode") == "valid"), ("function_calling", out("named") == "honoured"),
                  ("text", True)]
    modes = {"tools": next(m for m, ok in tools if ok), "structured": next(m for m, ok in structured if ok),
             "tool_results": "user_messages" if out("tool_results") == "dropped" else "tool_messages",
             "tool_call_text": out("tool_history") not in ("accepted", "unknown")}
    why = {"tools": f"auto {out('auto')}, required {out('required')}, named {out('named')}",
           "structured": f"json_schema {out('json_schema')}, json_object + schema {out('json_object_schema')}, "
                         f"JSON mode {out('json_mode')}",
           "tool_results": f"tool results {out('tool_results')}",
           "tool_call_text": f"tool-call turn without text {out('tool_history')}"}
    if role == "researcher" and modes["tools"] not in ("native_auto", "required"):
        # a weak endpoint (no native calls, no forced "required"): the researcher's action is read from its text,
        # as the small-model runs worked (benchmarks/real_model.py); named_router stays an override
        why["tools"] += f"; no reliable native or forced tool calls: the text protocol (not {modes['tools']})"
        modes["tools"] = "text"
    for scope in ("all", role):
        for key, value in ((overrides or {}).get(scope) or {}).items():
            modes[key] = value == "true" if key == "tool_call_text" else int(value) if key == "max_tokens" else value
            why[key] = "override"
    weak = modes["tools"] not in ("native_auto", "required")
    if role == "researcher" and "design_form" not in modes:
        modes["design_form"] = "functions" if weak else "class"
        why["design_form"] = f"tools {modes['tools']}: " + ("a weak model writes small functions" if weak else
                                                             "the whole class")
    if "max_tokens" not in modes:  # a weak researcher's smaller limit is for the functions form only
        modes["max_tokens"], why["max_tokens"] = reply_limit(role, profile.context_window, weak and (
            role != "researcher" or modes.get("design_form") == "functions"))
    if role == "researcher" and modes["tools"] in ("native_auto", "required"):  # the one role that falls back
        modes["fallback"] = next(m for m, ok in tools[2:] if ok)
    return RoleModes(**modes, why=why)


def weak_notes(modes: Mapping[str, Mapping], implementations: Mapping[str, str]) -> list[str]:
    """What a run's start says when a role's endpoint is weak (no native tool calls): the defaults it got and why,
    how to override them, and (never applied silently) that the analyst is better left to its offline
    implementation there."""
    notes = []
    r = modes.get("researcher")
    if r and implementations.get("researcher") == "llm" and r.get("tools") not in ("native_auto", "required"):
        why = r.get("why") or {}
        weak_default = {"tools": "text protocol", "design_form": "a weak model", "max_tokens": "without native"}
        chosen = [f"{key} {r.get(key)} ({why[key]})" for key, mark in weak_default.items() if mark in why.get(key, "")]
        if chosen:
            notes.append("researcher on a weak endpoint, with the defaults the small-model runs worked with: "
                         + "; ".join(chosen) + ". Override with --endpoint researcher.tools=named_router, "
                         "researcher.design_form=class or researcher.max_tokens=N.")
    a = modes.get("analyst")
    if a and implementations.get("analyst") == "llm" and a.get("tools") not in ("native_auto", "required"):
        notes.append("analyst on a weak endpoint: recommended --impl analyst=offline (a small model's findings add "
                     "little to the harness's standard diagnostics, which the offline analyst reports, and each "
                     "costs model time); it stays on the model, as configured.")
    return notes


def reply_limit(role: str, context_window: int | None = None, weak: bool = False) -> tuple[int, str]:
    """A role's reply limit and why: its default (a weak model's smaller one for the researcher), at most a
    ``CONTEXT_SHARE`` share of the model's context window when the endpoint reports it."""
    limit = (WEAK_MAX_TOKENS if weak else {}).get(role, MAX_TOKENS.get(role, 1500))
    why = f"the {role}'s default" + (" for a model without native tool calls" if weak and role in WEAK_MAX_TOKENS
                                       else "")
    if context_window and context_window // CONTEXT_SHARE < limit:
        return max(256, context_window // CONTEXT_SHARE), f"1/{CONTEXT_SHARE} of the {context_window}-token context"
    return limit, why + (f" (context {context_window} tokens)" if context_window else "")


def mode_summary(modes: RoleModes | Mapping) -> str:
    """One line for run.json readers, reports and the TUI: the tool mode, the structured method, and how tool
    results travel."""
    m = modes if isinstance(modes, RoleModes) else RoleModes.model_validate(modes)
    return (f"tools {m.tools}" + (f" (fallback {m.fallback})" if m.fallback else "")
            + f", structured {m.structured}, tool results as {m.tool_results.replace('_', ' ')}"
            + (", tool-call turns with text" if m.tool_call_text else "")
            + (f", replies up to {m.max_tokens} tokens" if m.max_tokens else "")
            + (f", design form {m.design_form}" if m.design_form else ""))


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
        if key == "design_form" and scope not in ("researcher", "all"):
            raise ValueError(f"design_form is the researcher's (researcher.design_form=functions), not {scope}'s")
        value = str(value).lower() if isinstance(value, bool) else str(value)
        if CHOICES[key] is None:
            if not value.isdigit() or int(value) < 1:
                raise ValueError(f"{scope}.{key} must be a positive integer (tokens), got {value!r}")
        elif value not in CHOICES[key]:
            raise ValueError(f"{scope}.{key} must be one of {', '.join(CHOICES[key])}, got {value!r}")
        found.setdefault(scope, {})[key] = value
    return found


def choose_action_tool(names: Iterable[str], idea: str | None = None) -> dict:
    """The first stage of ``named_router``: a function whose argument is the next action, an enum of tool names,
    forced by name so a grammar-constrained server can only answer with one of them; with ``idea`` (its
    description), a second argument where the model states the change it means to make before it writes code."""
    properties: dict = {"action": {"type": "string", "enum": list(names)}}
    if idea:
        properties["idea"] = {"type": "string", "description": idea}
    return {"type": "function", "function": {
        "name": "choose_action", "description": "Choose the next action.",
        "parameters": {"type": "object", "properties": properties, "required": list(properties)}}}


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
        tips.append("Tool results never reach the model: they are sent as user messages (tool_results=user_messages).")
    if out("tool_history") == "error":
        tips.append("The server rejects an assistant turn that has tool calls and no text (ChatOpenAI sends null "
                    "content; llama-cpp-python requires a string): such turns get a short text (tool_call_text=true).")
    if out("auto") in ("tool_call_tag", "json", "functions_prefix"):
        tips.append(f'Under tool_choice "auto" tool calls come back as text ({out("auto")}): replies are parsed for '
                    "them. llama-server --jinja or vLLM --tool-call-parser hermes return them natively.")
    elif out("auto") == "none":
        tips.append('Under tool_choice "auto" the model answered in prose: tools are forced where the server allows.')
    if out("named") == "ignored":
        tips.append("A named tool_choice is ignored (as Ollama and llama-server do): no mode relies on it.")
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
    """``glia doctor``'s endpoint section, at most 120 columns: each check with its result and latency, the mode
    per role and the evidence for it, and advice."""
    lines = [f"endpoint {profile.base_url}  model {profile.model}  probed {profile.probed_at}"
             + ("  (cached; --refresh probes again)" if cached else ""), "",
             f"{'check':<25}{'result':<15}{'ok':<4}{'latency':>8}  detail"]
    indent = " " * 54
    for name in CHECKS:
        c = profile.checks.get(name)
        if c is not None:
            detail = textwrap.wrap(" ".join((c.error or c.detail).split()), WIDTH - len(indent), max_lines=2,
                                   placeholder=" ...") or [""]
            lines.append(f"{TITLES[name]:<25}{c.outcome:<15}{'yes' if c.ok else 'no':<4}{c.latency_s:>7.2f}s  "
                         f"{detail[0]}".rstrip())
            lines += [indent + more for more in detail[1:]]
    lines += ["", f"{'role':<12}{'tools':<14}{'tool results':<15}structured"]
    for role, needs in NEEDS.items():
        m = choose_modes(profile, role, overrides)
        cells = [m.tools if "tools" in needs else "-", m.tool_results if "tools" in needs else "-",
                 m.structured if "structured" in needs else "-"]
        lines.append(f"{role:<12}{cells[0]:<14}{cells[1]:<15}{cells[2]:<20}".rstrip()
                     + ("  (plain text)" if not needs else ""))
    m = choose_modes(profile, "analyst", overrides)
    lines += ["", "why:"] + [f"  {key} {_value(m, key)}: {m.why[key]}" for key in CHOICES if key in m.why]
    lines += ["", "advice:"]
    for tip in advice(profile):
        lines += textwrap.wrap(tip, WIDTH, initial_indent="- ", subsequent_indent="  ")
    return lines


def _value(modes: RoleModes, key: str) -> str:
    value = getattr(modes, key)
    return str(value).lower() if isinstance(value, bool) else value


