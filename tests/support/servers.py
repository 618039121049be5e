"""OpenAI-compatible servers emulated at the HTTP layer, each honouring ``tool_choice`` and ``response_format`` the
way its kind does, so the real ChatOpenAI request and response code runs (an ``httpx.MockTransport`` as its
``http_client``: no sockets). A scripted model decides what it *wants* to say each turn (``Say``, ``Call``,
``Json``); the server decides what that becomes, as a grammar or a template would:

- ``OpenAIServer``: everything works; a forced tool or a schema constrains the answer.
- ``OllamaServer``: a named or ``"required"`` tool_choice is ignored (ollama #11171, #17921); json_schema works.
- ``LlamaServer`` (llama.cpp's server, ``--jinja``): the named object form falls back to auto (#26535); ``required``
  is honoured; ``<tool_call>`` text is parsed into native calls (the Hermes handler); json_schema works.
- ``LlamaCppPythonFunctionCalling`` (``--chat_format chatml-function-calling``, read in llama-cpp-python 0.3.36 and
  checked against its real server): with tool_choice unset no tools are shown; ``auto`` lets the model answer prose;
  ``"required"`` is HTTP 500 with an empty message (an assert); a named choice is grammar-forced; tool messages
  are dropped from the prompt and tools are listed only in a system message; every message is HTML-escaped; an
  assistant turn with null content, or a json_schema response_format, is HTTP 500 (request validation).
- ``LlamaCppPythonTemplate`` (the GGUF's own chat template): calls stay text in the content (#1784);
  ``"required"`` is ignored; a named choice is grammar-forced; tool messages are seen; the same HTTP 500s.

A model is a list of turns; a turn is an intent or a function of the ``View`` (what the template lets the model
see) returning one. Every request body and view is kept for assertions."""

from __future__ import annotations

import html
import itertools
import json
import re
import threading
from dataclasses import dataclass, field

import httpx
from langchain_openai import ChatOpenAI


@dataclass(frozen=True)
class Say:
    text: str


@dataclass(frozen=True)
class Call:
    name: str
    args: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Json:
    value: dict


@dataclass
class View:
    """The conversation as the server's template presents it to the model."""

    messages: list[dict]
    tools: list[str]

    @property
    def last(self) -> str:
        return self.messages[-1]["content"] if self.messages else ""

    def text(self) -> str:
        return "\n".join(m["content"] for m in self.messages)


class Model:
    """A scripted model: turns in order (intents, or functions of the view); the last one repeats."""

    def __init__(self, *turns):
        self.turns = list(turns)
        self.views: list[View] = []

    def __call__(self, view: View):
        self.views.append(view)
        turn = self.turns.pop(0) if len(self.turns) > 1 else self.turns[0]
        return turn(view) if callable(turn) else turn


class HTTPError(Exception):
    def __init__(self, status: int, message: str):
        self.status, self.message = status, message


ASSERT_500 = ""  # llama-cpp-python's bare assert on tool_choice: an empty error message
JSON_SCHEMA_500 = ("1 validation error:\n  {'type': 'literal_error', 'loc': ('body', 'response_format', 'type'), "
                   "'msg': \"Input should be 'text' or 'json_object'\", 'input': 'json_schema'}")
NULL_CONTENT_500 = ("7 validation errors:\n  {'type': 'string_type', 'loc': ('body', 'messages', {i}, "
                    "'ChatCompletionRequestAssistantMessage', 'content'), 'msg': 'Input should be a valid string', "
                    "'input': None}")


class OpenAIServer:
    """The reference behaviour; subclasses change what their kind changes."""

    kind = "openai"
    named_tool_choice = True
    required_tool_choice = True
    native_calls = True  # a call the model writes comes back as a native tool call
    json_schema = True

    def __init__(self, model: Model):
        self.model = model
        self.requests: list[dict] = []
        self._ids = itertools.count(1)

    # the HTTP layer
    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.requests.append(body)
        try:
            message = self.complete(body)
        except HTTPError as exc:
            return httpx.Response(exc.status, json={"error": {"message": exc.message, "type":
                                                              "internal_server_error", "param": None, "code": None}})
        n = next(self._ids)
        prompt = sum(len(str(m.get("content") or "")) for m in body["messages"]) // 4
        done = "tool_calls" if message.get("tool_calls") else "stop"
        return httpx.Response(200, json={
            "id": f"chatcmpl-{n}", "object": "chat.completion", "created": 0, "model": body["model"],
            "choices": [{"index": 0, "message": message, "finish_reason": done}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": 10, "total_tokens": prompt + 10}})

    def chat_model(self, model: str = "emulated", **kwargs) -> ChatOpenAI:
        return ChatOpenAI(model=model, base_url=f"http://{self.kind}.emulated/v1", api_key="test-key",
                          http_client=httpx.Client(transport=httpx.MockTransport(self)), max_retries=0, **kwargs)

    def factory(self, base_url, model) -> ChatOpenAI:
        """A chat model factory for the probe, as ``glia.nodes.llm.endpoint.default_factory`` makes them."""
        return self.chat_model(model, temperature=0.0)

    # what the server does with a request
    def complete(self, body: dict) -> dict:
        self.validate(body)
        tools = {t["function"]["name"]: t["function"] for t in body.get("tools") or []}
        choice = self.effective_choice(body.get("tool_choice"), tools)
        intent = self.model(self.view(body, tools, choice))
        if tools and isinstance(choice, dict):
            name = choice["function"]["name"]
            args = (intent.args if isinstance(intent, Call) and intent.name == name else
                    intent.value if isinstance(intent, Json) else {})
            return self.tool_message(name, conform(tools[name]["parameters"], args))
        if tools and choice == "required":
            if isinstance(intent, Call) and intent.name in tools:
                return self.tool_message(intent.name, conform(tools[intent.name]["parameters"], intent.args))
            first = next(iter(tools))
            return self.tool_message(first, conform(tools[first]["parameters"], {}))
        if isinstance(intent, Call) and tools and choice != "none":
            return self.written_call(intent)
        return {"role": "assistant", "content": self.constrained_text(intent, body.get("response_format"))}

    def validate(self, body: dict) -> None:
        """Request checks before the model runs."""

    def effective_choice(self, choice, tools):
        return choice if tools else None

    def view(self, body: dict, tools: dict, choice) -> View:
        return View([{"role": m["role"], "content": str(m.get("content") or "")} for m in body["messages"]],
                    list(tools))

    def tool_message(self, name: str, args: dict) -> dict:
        return {"role": "assistant", "content": None, "tool_calls": [
            {"id": f"call_{next(self._ids)}", "type": "function",
             "function": {"name": name, "arguments": json.dumps(args)}}]}

    def written_call(self, intent: Call) -> dict:
        """A call the model made on its own (``auto``)."""
        if self.native_calls:
            return self.tool_message(intent.name, intent.args)
        call = json.dumps({"name": intent.name, "arguments": intent.args})
        return {"role": "assistant", "content": f"<tool_call>\n{call}\n</tool_call>"}

    def constrained_text(self, intent, response_format: dict | None) -> str:
        text = intent.text if isinstance(intent, Say) else json.dumps(getattr(intent, "value", None) or
                                                                      {"name": intent.name, "arguments": intent.args})
        kind = (response_format or {}).get("type")
        if kind == "json_schema" and self.json_schema:
            return json.dumps(conform(response_format["json_schema"]["schema"], _loads(text)))
        if kind == "json_object":
            return json.dumps(self.json_object(response_format, _loads(text)))
        return text

    def json_object(self, response_format: dict, value: dict) -> dict:
        return value  # JSON mode: valid JSON; the schema is not enforced


class OllamaServer(OpenAIServer):
    kind = "ollama"

    def effective_choice(self, choice, tools):
        return "auto" if tools and choice not in (None, "none") else super().effective_choice(choice, tools)


class LlamaServer(OpenAIServer):
    kind = "llama-server"

    def effective_choice(self, choice, tools):
        return "auto" if tools and isinstance(choice, dict) else super().effective_choice(choice, tools)

    def complete(self, body: dict) -> dict:
        message = super().complete(body)
        tags = re.findall(r"<tool_call>\s*(\{.*?\})\s*</tool_call>", message.get("content") or "", re.DOTALL)
        if tags and body.get("tools"):  # the Hermes handler parses the model's tagged calls
            calls = [json.loads(t) for t in tags]
            return {"role": "assistant", "content": None, "tool_calls": [
                {"id": f"call_{next(self._ids)}", "type": "function",
                 "function": {"name": c["name"], "arguments": json.dumps(c.get("arguments", {}))}} for c in calls]}
        return message


class LlamaCppPythonTemplate(OpenAIServer):
    kind = "llama-cpp-python"
    native_calls = False
    json_schema = False

    def validate(self, body: dict) -> None:
        if (body.get("response_format") or {}).get("type") == "json_schema":
            raise HTTPError(500, JSON_SCHEMA_500)
        for i, m in enumerate(body["messages"]):
            if m["role"] == "assistant" and m.get("content") is None:
                raise HTTPError(500, NULL_CONTENT_500.replace("{i}", str(i)))

    def effective_choice(self, choice, tools):
        return choice if tools and isinstance(choice, dict) else None  # only a named choice has an effect

    def json_object(self, response_format: dict, value: dict) -> dict:
        schema = response_format.get("schema")
        return conform(schema, value) if schema else value  # the schema becomes a grammar


class LlamaCppPythonFunctionCalling(LlamaCppPythonTemplate):
    kind = "llama-cpp-python-fc"
    native_calls = True

    def validate(self, body: dict) -> None:
        super().validate(body)
        if body.get("tools") and body.get("tool_choice") == "required":
            raise HTTPError(500, ASSERT_500)

    def effective_choice(self, choice, tools):
        return choice if tools and choice not in (None, "none") else "none"  # unset: no tools at all

    def view(self, body: dict, tools: dict, choice) -> View:
        shown = list(tools) if choice != "none" and any(m["role"] == "system" for m in body["messages"]) else []
        messages = [{"role": m["role"], "content": "" if m["role"] == "tool" else
                     jinja_escape(str(m.get("content") or ""))} for m in body["messages"]]
        return View(messages, shown)

    def written_call(self, intent: Call) -> dict:
        return self.tool_message(intent.name, intent.args)


SERVERS: dict[str, type[OpenAIServer]] = {s.kind: s for s in (
    OpenAIServer, OllamaServer, LlamaServer, LlamaCppPythonFunctionCalling, LlamaCppPythonTemplate)}


def jinja_escape(text: str) -> str:
    """What Jinja's autoescape (markupsafe) makes of a message, as that template renders it."""
    for raw, entity in (("&", "&amp;"), (">", "&gt;"), ("<", "&lt;"), ("'", "&#39;"), ('"', "&#34;")):
        text = text.replace(raw, entity)
    return text


def conform(schema: dict | None, value, defs: dict | None = None):
    """``value`` made valid for a JSON schema the way a grammar would force it: what fits is kept, the rest is the
    first enum value or an empty value of the type."""
    schema = schema or {}
    defs = defs if defs is not None else schema.get("$defs", {})
    if "$ref" in schema:
        return conform(defs[schema["$ref"].split("/")[-1]], value, defs)
    if "anyOf" in schema:
        return conform(schema["anyOf"][0], value, defs)
    if "enum" in schema:
        return value if value in schema["enum"] else schema["enum"][0]
    kind = schema.get("type", "object")
    if kind == "object":
        value = value if isinstance(value, dict) else {}
        return {k: conform(sub, value.get(k), defs) for k, sub in schema.get("properties", {}).items()}
    if kind == "array":
        return [conform(schema.get("items"), v, defs) for v in value] if isinstance(value, list) else []
    empty = {"string": "", "integer": 0, "number": 0.0, "boolean": False}.get(kind)
    fits = {"string": str, "integer": int, "number": (int, float), "boolean": bool}.get(kind, object)
    return value if isinstance(value, fits) else empty


def _loads(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return {"text": text}
    return value if isinstance(value, dict) else {"value": value}


def typical_model() -> Model:
    """A model answering the endpoint probe as a capable model would: it calls the tool it is asked for, greets
    when greeted, reads a note it can see, and says the sky is blue."""
    from glia.nodes.llm.endpoint import NOTE_REQUEST, PROMPTS

    def turn(view: View):
        last = html.unescape(view.last)
        if last == PROMPTS["named"]:
            return Call("finish", {"summary": "done"})
        if last == PROMPTS["required"]:
            return Say("Hello there!")
        if last == PROMPTS["auto"]:
            return Call("record_word", {"word": "kiwi"})
        if last == PROMPTS["tool_results"]:
            code = re.search(r"The code is ([\w-]+)\.", view.text())
            return Say(code.group(1) if code else "I do not know the code.")
        if last == NOTE_REQUEST:
            return Call("read_note", {"topic": "code"})
        return Json({"color": "blue"})
    return Model(turn)


class Loopback:
    """A server above on this machine's loopback, as a real HTTP server in a thread, for tests that reach it the way
    a user's ``glia`` does (its own ``ChatOpenAI``, or a ``glia`` command). ``key``: the API key it accepts (others
    get HTTP 401); ``model``: the one model it serves (others get HTTP 404, as vLLM and OpenAI answer);
    ``answer``: how many requests it answers before it goes down (None: all). ``url`` is its base URL; ``port`` may
    be given to come back where a stopped one was."""

    def __init__(self, server: OpenAIServer, *, key: str | None = None, model: str = "emulated",
                 answer: int | None = None, port: int = 0):
        import http.server

        self.server, self.key, self.model, self.answer = server, key, model, answer
        self.answered = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the http.server interface
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status, payload = outer.respond(self.path, dict(self.headers), body)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = None

    def respond(self, path: str, headers: dict, body: bytes) -> tuple[int, dict]:
        auth = {k.lower(): v for k, v in headers.items()}.get("authorization", "")
        if self.key is not None and auth != f"Bearer {self.key}":
            return 401, {"error": {"message": "Incorrect API key provided.", "type": "invalid_request_error",
                                   "param": None, "code": "invalid_api_key"}}
        request = json.loads(body or b"{}")
        if request.get("model") != self.model:
            return 404, {"error": {"message": f"The model `{request.get('model')}` does not exist.",
                                   "type": "invalid_request_error", "param": None, "code": "model_not_found"}}
        self.answered += 1
        if self.answer is not None and self.answered >= self.answer:
            threading.Thread(target=self.stop, daemon=True).start()  # down after this answer
        response = self.server(httpx.Request("POST", f"http://emulated{path}", content=body))
        return response.status_code, response.json()

    def start(self) -> Loopback:
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> Loopback:
        return self.start()

    def __exit__(self, *exc) -> None:
        try:
            self.stop()
        except OSError:
            pass
