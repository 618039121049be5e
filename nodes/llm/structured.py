"""Structured answers (a Supervisor's decision, an Analyst's findings) from any endpoint, always valid.

``structured_answer`` asks by the method the endpoint's profile chose (``glia.nodes.llm.modes``), captures a parsing
failure instead of raising (LangChain's ``include_raw``), asks once more with the validation error, and falls back
to reading the plain text, so the caller always gets an object of the schema. The raw replies come back too, for
token accounting and the transcript."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, get_args

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, SystemMessage
from pydantic import BaseModel, Field, ValidationError

from glia.nodes.llm.client import EndpointDown
from glia.nodes.llm.endpoint import error_text
from glia.nodes.llm.replies import json_values, unescape
from glia.state.records import SupervisorChoice

T = TypeVar("T", bound=BaseModel)

SCHEMA_PROMPT = "Answer with one JSON object and nothing else. It must match this JSON schema:\n{schema}"
REPAIR_PROMPT = ("[harness] Your answer could not be used: {error}\nAnswer again with only one JSON object matching "
                 "the schema:\n{schema}")
# a reply in prose where the endpoint was asked for JSON (the client library could not parse it): asked again in plain
# text with the schema in the system message, and told why, with the shape wanted (not the whole schema again)
PROSE_PROMPT = ("[harness] Your answer came back as prose, not the JSON object this step needs ({error}), so the "
                "harness could not read it. Send the same content again as only one JSON object of this shape: "
                "{shape}")


class SupervisorDecision(BaseModel):
    decision: SupervisorChoice = Field(
        description="approve the best design, continue, stop this line of work, or combine ideas")
    message: str = Field(description="what the researcher should hear")


class Finding(BaseModel):
    text: str = Field(description="one finding, with its numbers")


class AnalystFindings(BaseModel):
    findings: list[Finding] = Field(description="the findings, most important first")


@dataclass
class Answer(Generic[T]):
    """The valid object, the method that produced it (``text_fallback`` when read from prose), every raw reply and
    what went wrong on the way."""

    value: T
    method: str
    raws: list[AIMessage] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def structured_answer(model, schema: type[T], messages: list[AnyMessage], method: str,
                      fallback: Callable[[str], T], invoke: Callable[[Any, list], Any] | None = None) -> Answer[T]:
    """An object of ``schema`` from ``model``: by ``method`` (see ``glia.nodes.llm.modes.METHODS``), then one repair
    with the error, then ``fallback`` on the last reply's text. ``invoke(runnable, messages)`` makes each call
    (the caller's retries on transient errors go there; ``EndpointDown`` propagates); a call that fails otherwise
    is recorded in ``errors`` and the rest is asked by plain text, so even an endpoint that rejects every request
    yields ``fallback("")``."""
    invoke = invoke or (lambda runnable, msgs: runnable.invoke(msgs))
    schema_text = json.dumps(schema.model_json_schema())
    answer: Answer[T] = Answer(value=None, method=method)  # type: ignore[arg-type]
    asked = _with_schema(messages, schema_text) if method in ("json_object_schema", "json_mode", "text") else messages
    for attempt in range(2):
        try:
            raw, value, error = _ask(model, schema, asked, method, invoke)
        except EndpointDown:
            raise
        except Exception as exc:  # a method the endpoint rejects: the rest is asked as plain text
            answer.errors.append(f"{method}: {error_text(exc)}")
            if method == "text":
                break
            method = answer.method = "text"
            asked = _with_schema(messages, schema_text)
            unparsed = _unparsed_reply(exc)
            if unparsed is not None:  # not a rejection: the model answered, in prose; it hears why it is asked again
                said, why = unparsed
                answer.raws.append(AIMessage(content=said))
                asked = [*asked, AIMessage(content=said), HumanMessage(content=PROSE_PROMPT.format(
                    error=why, shape=json.dumps(_shape(schema.model_json_schema()))))]
            continue
        answer.raws.append(raw)
        if value is not None:
            answer.value = value
            return answer
        answer.errors.append(error)
        if attempt == 0:
            asked = [*asked, AIMessage(content=_said(raw)),
                     HumanMessage(content=REPAIR_PROMPT.format(error=error, schema=schema_text))]
    text = _said(answer.raws[-1]) if answer.raws else ""
    answer.value = _lenient(schema, text) or fallback(text)
    answer.method = "text_fallback"
    return answer


def decision_from_text(text: str) -> SupervisorDecision:
    """A decision from prose: one named explicitly (``decision: approve``) or at the very start, else ``continue``
    (never an approval by accident); the text is the message."""
    words = "|".join(get_args(SupervisorChoice))
    m = (re.search(rf"\bdecision\W{{0,4}}({words})\b", text, re.IGNORECASE)
         or re.match(rf"\W*({words})\b", text, re.IGNORECASE))
    return SupervisorDecision(decision=m.group(1).lower() if m else "continue", message=text.strip()[:2000] or
                              "Continue.")


def findings_from_text(text: str) -> AnalystFindings:
    """Findings from prose: its bullet lines, or the whole text as one finding."""
    bullets = [line.strip().lstrip("-*• ").strip() for line in text.splitlines()
               if line.strip().startswith(("-", "*", "•"))]
    items = [b for b in bullets if b] or ([text.strip()] if text.strip() else [])
    return AnalystFindings(findings=[Finding(text=t) for t in items])


def _ask(model, schema: type[T], messages: list, method: str, invoke) -> tuple[AIMessage, T | None, str]:
    """One call: (raw reply, the object or None, why it is not valid)."""
    if method in ("json_schema", "json_mode", "function_calling"):
        out = invoke(model.with_structured_output(schema, method=method, include_raw=True), messages)
        if out.get("parsed") is not None:
            return out["raw"], out["parsed"], ""
        return out["raw"], None, _why_invalid(schema, out["raw"], out.get("parsing_error"))
    bound = model.bind(response_format={"type": "json_object", "schema": schema.model_json_schema()}) \
        if method == "json_object_schema" else model
    raw = invoke(bound, messages)
    text = _said(raw)
    try:
        return raw, schema.model_validate_json(_json_text(text)), ""
    except ValidationError as exc:
        return raw, None, _describe(exc)


def _why_invalid(schema: type[BaseModel], raw: AIMessage, parsing_error) -> str:
    """The validation error of what came back (clearer than the parser's message, which repeats the schema)."""
    said = _said(raw)
    if not said.strip():
        return "no answer in the required form came back"
    try:
        schema.model_validate_json(_json_text(said))
    except ValidationError as exc:
        if any(e["type"] != "json_invalid" for e in exc.errors()):
            return _describe(exc)
    return _describe(parsing_error) if parsing_error else f"not a JSON object of the schema: {said[:200]!r}"


def _lenient(schema: type[T], text: str) -> T | None:
    """The first JSON object in the text (fenced, bare or entity-escaped) that validates."""
    for variant in dict.fromkeys((text, unescape(text))):
        for value, _ in json_values(variant):
            try:
                return schema.model_validate(value)
            except ValidationError:
                continue
    return None


def _unparsed_reply(exc: Exception) -> tuple[str, str] | None:
    """The reply's text and why it is no JSON, when ``exc`` is the client library failing to parse a reply as the
    schema's JSON (the openai SDK validates a ``json_schema`` answer itself, so a prose reply raises before LangChain
    sees it); else None (the endpoint rejected the request)."""
    if isinstance(exc, ValidationError):
        for e in exc.errors():
            if e["type"] == "json_invalid" and isinstance(e.get("input"), str):
                return e["input"], e["msg"]
    return None


def _shape(schema: dict, defs: dict | None = None):
    """A short example of what a JSON schema wants: ``{"findings": [{"text": "..."}]}``; an enum shows its values."""
    defs = defs if defs is not None else schema.get("$defs", {})
    if "$ref" in schema:
        return _shape(defs.get(schema["$ref"].rsplit("/", 1)[-1], {}), defs)
    if "enum" in schema:
        return " | ".join(map(str, schema["enum"]))
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        return {k: _shape(v, defs) for k, v in schema.get("properties", {}).items()}
    if kind == "array":
        return [_shape(schema.get("items", {}), defs)]
    return "..." if kind in (None, "string") else kind


def _json_text(text: str) -> str:
    """The JSON in a reply that may wrap it in a fence or prose."""
    start, end = text.find("{"), text.rfind("}")
    return text[start:end + 1] if 0 <= start < end else text


def _with_schema(messages: list, schema_text: str) -> list:
    note = SCHEMA_PROMPT.format(schema=schema_text)
    if messages and isinstance(messages[0], SystemMessage):
        return [SystemMessage(content=f"{messages[0].content}\n\n{note}"), *messages[1:]]
    return [SystemMessage(content=note), *messages]


def _said(raw: AIMessage | None) -> str:
    """What a reply said: its text, or a forced function's arguments."""
    if raw is None:
        return ""
    if raw.tool_calls:
        return json.dumps(raw.tool_calls[0].get("args", {}))
    return str(raw.content or "")


def _describe(error) -> str:
    if isinstance(error, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'the answer'}: {e['msg']}" for e in error.errors())
    return " ".join(str(error).split())[:400]
