"""The actions in a model's reply, whatever shape the model and its server gave them.

Small models and local servers rarely return clean native tool calls: llama-cpp-python with a GGUF chat template
leaves Qwen's ``<tool_call>`` text in the content, the same model often writes a fenced JSON object instead, and
``chatml-function-calling`` teaches ``functions.NAME:`` lines. ``parse_reply`` accepts all of these, plus a fenced
Python block that defines a scheduler class (to be written to the design file and run) and a finish. Arguments are
validated with the tools' pydantic schemas, HTML entities are unescaped until stable (that server's prompt template
HTML-escapes every message, so quotes come back as ``&#39;``, then ``&amp;#39;``), and every problem is a specific
sentence a harness can send back to the model (at most ``MAX_REPAIRS`` times in a row)."""

from __future__ import annotations

import ast
import hashlib
import html
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from langchain_core.messages import AIMessage
from pydantic import BaseModel, ValidationError

from glia.tools.toolkit import RESEARCHER_TOOLS, SPECS

MAX_REPAIRS = 3  # bad replies answered with an error before the harness gives up on the turn
POLICY = "policy_code"  # the action of a fenced Python block defining a scheduler class

NAME_KEYS = ("name", "tool", "tool_name", "function", "action", "function_name")
ARG_KEYS = ("arguments", "args", "parameters", "input", "tool_input", "action_input", "params")

EXPECTED = """Reply with exactly one of:
- a tool call: <tool_call>{{"name": "TOOL", "arguments": {{...}}}}</tool_call>, with TOOL one of {tools};
- a new policy: the whole file in one ```python block defining a class with a schedule(self) method (it is written
  to the design file and run);
- <tool_call>{{"name": "finish", "arguments": {{"summary": "..."}}}}</tool_call> to propose your best design."""

# a program task's: the design is the whole program the evaluator runs, not a policy class
EXPECTED_PROGRAM = """Reply with one line starting 'Idea:' (the change you make), then the whole new program in one
```python block (it is written to the design file and run by the evaluator). Or a tool call
<tool_call>{{"name": "TOOL", "arguments": {{...}}}}</tool_call> with TOOL one of {tools}, or
<tool_call>{{"name": "finish", "arguments": {{"summary": "..."}}}}</tool_call> to propose your best program."""

# an opening fence has nothing after its language but the line's end: the 1.5B model wrote "New program in one
# ```python block:" (the prompt's own words) before its block, which read as an empty block and then the prose after
FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[ \t]*\r?\n(.*?)(?:```|\Z)", re.DOTALL)
TOOL_CALL_TAG = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|\Z)", re.DOTALL)
FUNCTIONS_PREFIX = re.compile(r"functions\.([A-Za-z_][A-Za-z0-9_]*)\s*:")
CURLY_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})


@dataclass(frozen=True)
class Action:
    """One thing the model asked for: a tool (by its toolkit name), ``POLICY`` code, or ``finish``."""

    name: str
    args: dict
    source: str  # native | tool_call_tag | functions_prefix | json | code_block
    id: str

    @property
    def key(self) -> str:
        """The same for identical calls (see ``repeats``)."""
        return f"{self.name} {json.dumps(self.args, sort_keys=True, default=str)}"


@dataclass
class ParsedReply:
    """What a reply asked for, and what was wrong with it."""

    actions: list[Action] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    truncated: bool = False
    expected: str = EXPECTED  # the shapes a reply may take, said after a problem (the design form's)

    @property
    def shape(self) -> str:
        """How the actions came: ``native``, a text form, ``code_block``, ``mixed`` or ``none``."""
        sources = {a.source for a in self.actions}
        return "none" if not sources else sources.pop() if len(sources) == 1 else "mixed"

    @property
    def ok(self) -> bool:
        return bool(self.actions) and not self.problems

    def error(self, tools: Iterable[str] = RESEARCHER_TOOLS) -> str | None:
        """The message to send back to the model (None when the reply can run): what was wrong, then the shapes
        expected. A reply with any problem should run nothing, so a write is never skipped before its run."""
        if self.ok:
            return None
        lines = self.problems[:3] or ["Your reply contained no action I could run."]
        names = ", ".join(t for t in tools if t != "finish")
        return "\n".join(["[harness] " + lines[0], *lines[1:], self.expected.format(tools=names)])


def parse_reply(message: AIMessage, specs: Mapping[str, type[BaseModel]] | None = None,
                code: bool = True, program: bool = False) -> ParsedReply:
    """The actions in ``message``: native tool calls if any, else calls written as text, plus (when ``code``) a
    fenced Python block that defines a scheduler class. ``specs`` maps tool names to argument schemas (default: the
    researcher's tools). ``program``: the design is a program task's whole program, so any Python block that parses
    is the new design (there is no policy class to look for)."""
    specs = specs if specs is not None else {n: SPECS[n][0] for n in RESEARCHER_TOOLS}
    out = ParsedReply(truncated=(message.response_metadata or {}).get("finish_reason") == "length")
    if program:
        out.expected = EXPECTED_PROGRAM
    for i, tc in enumerate(message.tool_calls or []):
        _add(out, specs, tc["name"], tc.get("args") or {}, "native", tc.get("id") or f"native{i}")
    for bad in message.invalid_tool_calls or []:
        out.problems.append(f"The arguments of your {bad.get('name') or 'tool'} call are not valid JSON: "
                            f"{str(bad.get('args'))[:200]!r}.")
    text = _content_text(message.content)
    if not message.tool_calls:
        _text_calls(out, specs, text)
    if code and not any(a.name == "write_file" for a in out.actions):
        _code_block(out, text, bool(out.actions or out.problems), program)
    if not out.actions and not out.problems:
        _explain_nothing(out, specs, text)
    if out.truncated and not out.ok:
        out.problems.insert(0, "Your reply was cut off at the token limit; keep it shorter.")
    return out


def as_tool_calls(actions: Iterable[Action], design_file: str, label: str = "") -> list[dict]:
    """LangChain tool calls for the graph's tools node: a policy block becomes write_file to the design file,
    then run_simulation unless the reply runs one itself. ``label`` names a run the model did not name (what the
    experiment changes); a class name is no name ("Router, Router, Router" tells the supervisor nothing)."""
    actions = list(actions)
    runs = any(a.name == "run_simulation" for a in actions)
    classes = {a.args.get("class_name") for a in actions if a.name == POLICY} | set(CLASS_NAMES)
    calls = []
    for a in actions:
        if a.name == POLICY:
            calls.append(_call("write_file", {"path": design_file, "content": a.args["code"]}, a.id + "w"))
            if not runs:
                calls.append(_call("run_simulation", {"label": label}, a.id + "r"))
        elif a.name == "run_simulation" and label and str(a.args.get("label", "")).strip() in classes | {""}:
            calls.append(_call(a.name, {**a.args, "label": label}, a.id))
        else:
            calls.append(_call(a.name, a.args, a.id))
    return calls


CLASS_NAMES = ("Router", "Batch", "Autoscaler", "Policy", "Scheduler")  # the starters' class names: no label
LABEL_CHARS = 160


HYPOTHESIS = re.compile(r"\b(?:H\d+\b|[Hh]ypothesis\b)")


def idea_of(text: str) -> str:
    """The hypothesis or idea a reply's prose states (code left out), as its experiment's label: its first sentence,
    or the first that states a hypothesis when the first does not, without its bracketed asides (figures, examples).
    Always whole, never cut short: a sentence longer than ``LABEL_CHARS`` gives its leading clause (up to "; ",
    " - ", ", so ", ...), else the short name the reply gives the experiment before a colon ("E3 reserve 192: halve
    ..."), else nothing (the caller falls back to a summary of the code's changes)."""
    prose = FENCE.sub(" ", unescape(_content_text(text)))
    prose = TOOL_CALL_TAG.sub(" ", prose).replace("**", "").replace("`", "")
    prose = re.sub(r"^\s*\[(?:harness|researcher)\]\s*", "", prose)  # a small model imitating the harness's voice
    if _is_code(prose):
        return ""  # an unfenced program: its docstring or comments are not an idea
    sentences = [_unprefixed(s) for s in re.split(r"(?<=[.!?])\s+|\n\s*\n", prose) if len(s.strip()) > 3]
    first = next(iter(sentences), "")
    # a reply that opens on the last result ("c1-e003 failed because ...") and then states its hypothesis: the
    # hypothesis says what this experiment changes
    marked = next((m.string[m.start():] for s in sentences if (m := HYPOTHESIS.search(s))), None)
    chosen = marked if marked and not HYPOTHESIS.search(first) else first
    bare = _without_asides(chosen)
    clause = re.split(r"; | - | \u2014 | \u2013 |, (?:so|which|because|yet|but|while) ", bare, maxsplit=1)[0]
    for candidate in (bare, chosen, clause if len(clause.split()) >= 4 else ""):
        if candidate and len(candidate) <= LABEL_CHARS:
            return candidate
    heading = first.split(": ", 1)[0] if ": " in first else ""
    if 1 < len(heading.split()) <= 8 and not re.fullmatch(r"(?:Hypothesis\s*)?H\d+\w*", heading):
        return heading
    return ""


def clipped_idea(text: str) -> str:
    """The reply's first sentence cut at a word, for a label when nothing whole is left (no summary of the change
    either: the code does not parse, or there is no earlier design)."""
    sentence = _unprefixed(next((s for s in re.split(r"(?<=[.!?])\s+|\n\s*\n", FENCE.sub(
        " ", unescape(_content_text(text)))) if len(s.strip()) > 3), ""))
    if _is_code(sentence) or len(sentence) <= LABEL_CHARS:
        return "" if _is_code(sentence) else sentence
    return sentence[:LABEL_CHARS].rsplit(" ", 1)[0].rstrip(",;:(") + "..."


def _unprefixed(sentence: str) -> str:
    """A sentence on one line, without the text protocol's 'Idea:' word and its closing full stop."""
    return re.sub(r"^(?:Idea|IDEA|idea)\s*:\s*", "", " ".join(sentence.split())).rstrip(".:")


def _without_asides(sentence: str) -> str:
    """A sentence without its bracketed asides: "(2,318 preemptions per seed, 21 % restarted)"."""
    return " ".join(re.sub(r"\s*\([^()]*\)", "", sentence).split()).replace(" ,", ",")


def _is_code(text: str) -> bool:
    """Whether a text with no fence is a Python program (a docstring, imports, a class), not prose."""
    return bool(re.match(r'(?:"""|\'\'\'|#|import\s|from\s+[\w.]+\s+import\s|class\s+\w+|def\s+\w+\s*\()',
                         text.strip()))


def change_summary(old: str, new: str) -> str:
    """What a new version of a design changes, without running it: the functions and methods added, removed or
    rewritten, and the settings (constants at module or class level) whose value changed, e.g.
    ``schedule() rewritten; RESERVE 0.0 -> 0.1``. Empty when the two do the same (or either does not parse)."""
    try:
        a, b = _parts(ast.parse(old)), _parts(ast.parse(new))
    except SyntaxError:
        return ""
    out = []
    for name in b:
        if name not in a:
            out.append(f"new {name}" if name.endswith("()") else f"new {name} = {b[name]}")
        elif a[name] != b[name]:
            out.append(f"{name} rewritten" if name.endswith("()") else f"{name} {a[name]} -> {b[name]}")
    out += [f"{name} removed" for name in a if name not in b]
    text = "; ".join(out)
    return text if len(text) <= LABEL_CHARS else text[:LABEL_CHARS].rsplit(";", 1)[0] + "; ..."


def _parts(tree: ast.Module) -> dict[str, str]:
    """A program's functions (``name()``, by their code without docstrings) and settings (``NAME``, by value)."""
    out: dict[str, str] = {}

    def visit(body, prefix: str = "") -> None:
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                code = [n for n in node.body if not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))]
                out[f"{prefix}{node.name}()"] = ast.dump(ast.Module(body=code, type_ignores=[])) + ast.dump(node.args)
            elif isinstance(node, ast.ClassDef):
                visit(node.body, "")
            elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                try:
                    out[node.targets[0].id] = repr(ast.literal_eval(node.value))
                except (ValueError, SyntaxError, TypeError):
                    out[node.targets[0].id] = ast.unparse(node.value)

    visit(tree.body)
    return out


def repeats(actions: Iterable[Action], seen: Iterable[str], context: str = "") -> list[Action]:
    """The actions identical to one already made. ``seen`` holds earlier ``call_key`` values; ``context`` should
    be what an identical call depends on (the design file's content for run_simulation), so that re-running an
    unchanged design is a repeat and re-running after an edit is not."""
    earlier = set(seen)
    return [a for a in actions if call_key(a, context) in earlier]


def call_key(action: Action, context: str = "") -> str:
    digest = hashlib.sha256(context.encode()).hexdigest()[:12] if context else ""
    return f"{action.key} {digest}".rstrip()


def repeat_error(repeated: list[Action]) -> str:
    names = ", ".join(sorted({a.name for a in repeated}))
    return (f"[harness] You already made exactly this call ({names}) and nothing it depends on has changed; its "
            "result is above. Change the design, run something else, or finish.")


def unescape(text: str) -> str:
    """HTML entities decoded until nothing changes (``&amp;#39;`` -> ``&#39;`` -> ``'``)."""
    for _ in range(10):
        decoded = html.unescape(text)
        if decoded == text:
            break
        text = decoded
    return text


def clean_code(text: str) -> str:
    """A program as the model meant it: entities decoded, a fence or wrapping quotes removed, curly quotes made
    straight when that is what keeps it from parsing."""
    code = unescape(text).strip("\n")
    fenced = [body for lang, body in FENCE.findall(code) if lang.lower() in ("", "python", "py", "python3")]
    if fenced:
        code = max(fenced, key=len)
    for quote in ('"""', "'''", '"', "'"):
        inner = code.strip()
        if len(inner) > 2 * len(quote) and inner.startswith(quote) and inner.endswith(quote):
            inner = inner[len(quote):-len(quote)]
            if _parses(inner) and not _is_statements(code):
                code = inner
    if not _parses(code) and _parses(code.translate(CURLY_QUOTES)):
        code = code.translate(CURLY_QUOTES)
    return code.strip("\n") + "\n"


def _content_text(content) -> str:
    if isinstance(content, list):
        return "\n".join(p.get("text", "") if isinstance(p, dict) else str(p) for p in content)
    return str(content or "")


def _call(name: str, args: dict, call_id: str) -> dict:
    return {"name": name, "args": args, "id": call_id, "type": "tool_call"}


def _text_calls(out: ParsedReply, specs, text: str) -> None:
    """Calls written in the content: ``<tool_call>`` blocks, ``functions.NAME:`` lines, JSON objects naming a tool
    (fenced or bare). The raw text is tried first, so entities inside JSON strings stay valid JSON."""
    for variant in dict.fromkeys((text, unescape(text))):
        if _tagged(out, specs, variant) or _prefixed(out, specs, variant) or _json_blobs(out, specs, variant):
            return


def _tagged(out, specs, text) -> bool:
    blocks = TOOL_CALL_TAG.findall(text)
    for n, block in enumerate(blocks):
        objs = [o for o, _ in json_values(block)]
        if not objs:
            out.problems.append(f"The <tool_call> block is not a JSON object: {block[:160]!r} "
                                f"({_json_error(block)}).")
        for obj in objs:
            _add_object(out, specs, obj, "tool_call_tag", f"text{n}")
    return bool(blocks)


def _prefixed(out, specs, text) -> bool:
    """``functions.NAME:`` then the arguments (chatml-function-calling's format); llama-cpp-python 0.3.36 sometimes
    returns just ``functions.NAME:`` as the content, which is a call with no arguments."""
    found = False
    for n, m in enumerate(FUNCTIONS_PREFIX.finditer(text)):
        rest = text[m.end():].lstrip()
        values = json_values(rest, first_only=True) if rest.startswith("{") else []
        if values or not rest or rest.startswith("functions."):
            found = True
            _add(out, specs, m.group(1), values[0][0] if values else {}, "functions_prefix", f"fn{n}")
    return found


def _json_blobs(out, specs, text) -> bool:
    found = False
    for n, (obj, _) in enumerate(json_values(text)):
        found |= _add_object(out, specs, obj, "json", f"json{n}", quiet=True)
    return found


def _add_object(out, specs, obj, source: str, call_id: str, quiet: bool = False) -> bool:
    """A JSON value naming a tool, in any of the shapes models emit; ``quiet`` ignores objects that name none."""
    if isinstance(obj, list):
        return any([_add_object(out, specs, o, source, f"{call_id}.{i}", quiet) for i, o in enumerate(obj)])
    if not isinstance(obj, dict):
        return False
    if isinstance(obj.get("tool_calls"), list):
        return _add_object(out, specs, obj["tool_calls"], source, call_id, quiet)
    if isinstance(obj.get("function"), dict):
        return _add_object(out, specs, obj["function"], source, call_id, quiet)
    name = next((obj[k] for k in NAME_KEYS if isinstance(obj.get(k), str)), None)
    if name is None or (quiet and _tool_name(name, specs) is None and not any(k in obj for k in ARG_KEYS)):
        if not quiet:
            out.problems.append(f"The tool call {json.dumps(obj)[:160]} names no tool (expected a \"name\" key).")
        return False
    key = next((k for k in ARG_KEYS if k in obj), None)
    args = obj[key] if key else {k: v for k, v in obj.items() if k not in (*NAME_KEYS, "type", "id")}
    if isinstance(args, str):
        try:
            args = json.loads(args) if args.strip() else {}
        except json.JSONDecodeError as exc:
            out.problems.append(f"The arguments of your {name} call are a string that is not JSON ({exc.msg}); "
                                "give them as an object.")
            return True
    _add(out, specs, name, args, source, call_id)
    return True


def _add(out: ParsedReply, specs, name: str, args, source: str, call_id: str) -> None:
    tool = _tool_name(name, specs)
    if tool is None:
        out.problems.append(f"{name!r} is not a tool here; the tools are: {', '.join(specs)}.")
        return
    if not isinstance(args, dict):
        out.problems.append(f"The arguments of {tool} must be a JSON object, not {type(args).__name__}.")
        return
    args = _unescape_values(args)
    try:
        specs[tool].model_validate(args)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'arguments'}: {e['msg']}" for e in exc.errors())
        out.problems.append(f"Bad arguments for {tool}: {problems}. Expected {_signature(specs[tool])}.")
        return
    if tool == "write_file" and str(args.get("path", "")).endswith(".py"):
        args = {**args, "content": clean_code(str(args["content"]))}
    out.actions.append(Action(tool, args, source, call_id))


def _tool_name(name: str, specs) -> str | None:
    """A known tool for a name as models write it (``functions.write_file``, ``glia.tools.Run_Simulation``)."""
    bare = name.strip().split(".")[-1].strip().lower()
    return next((t for t in specs if t.lower() == bare), None)


def _signature(schema: type[BaseModel]) -> str:
    fields = ", ".join(f'"{n}": {_type_name(f.annotation)}{"" if f.is_required() else " (optional)"}'
                       for n, f in schema.model_fields.items())
    return "{" + fields + "}"


def _type_name(annotation) -> str:
    return {str: "string", int: "integer", float: "number", bool: "boolean"}.get(annotation, "value")


def _unescape_values(value):
    if isinstance(value, str):
        return unescape(value)
    if isinstance(value, dict):
        return {k: _unescape_values(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unescape_values(v) for v in value]
    return value


def json_values(text: str, first_only: bool = False) -> list[tuple[object, int]]:
    """Top-level JSON objects and arrays in ``text`` (each with its offset); Python dict literals too, since small
    models write ``{'name': 'x'}``."""
    decoder = json.JSONDecoder()
    found, i = [], 0
    while i < len(text):
        start = min((p for p in (text.find("{", i), text.find("[", i)) if p >= 0), default=-1)
        if start < 0:
            break
        try:
            value, end = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            value, end = _python_literal(text, start)
        if end > start and isinstance(value, (dict, list)) and (value or text[start] == "{"):
            found.append((value, start))
            if first_only:
                break
            i = end
        else:
            i = start + 1
    return found


def _python_literal(text: str, start: int) -> tuple[object, int]:
    if text[start] != "{" or not re.match(r"\{\s*'", text[start:]):
        return None, start
    depth = 0
    for j in range(start, min(len(text), start + 20000)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            try:
                return ast.literal_eval(text[start:j + 1]), j + 1
            except (ValueError, SyntaxError):
                return None, start
    return None, start


def _json_error(text: str) -> str:
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        return f"{exc.msg} at column {exc.colno}"
    return "not an object"


def _code_block(out: ParsedReply, text: str, have_other: bool, program: bool = False) -> None:
    """The last fenced Python block (or a bare program) that defines a policy class (``schedule``, ``next_index``
    or ``desired_replicas``)."""
    text = unescape(text)
    blocks = [(lang.lower(), body) for lang, body in FENCE.findall(text)]
    python = [b for lang, b in blocks if lang in ("python", "py", "python3") or (lang == "" and "def " in b)]
    if not blocks and any(f"def {m}" in text for m in POLICY_METHODS) and _parses(text):
        python = [text]
    for body in reversed(python):
        code = clean_code(body)
        try:
            tree = ast.parse(code)
        except SyntaxError as exc:
            if not have_other:
                cut = " (it looks cut off)" if out.truncated or text.count("```") % 2 else ""
                out.problems.append(f"Your Python block does not parse{cut}: line {exc.lineno}: {exc.msg}. Send "
                                    "the whole file again in one ```python block.")
            return
        cls = "" if program else _scheduler_class(tree)
        if program or cls:
            out.actions.insert(0, Action(POLICY, {"code": code, "class_name": cls}, "code_block",
                                         "code" + hashlib.sha256(code.encode()).hexdigest()[:8]))
            return
    if python and not have_other:
        out.problems.append("Your Python block defines no scheduler: the file needs a class with a schedule(self) "
                            "method returning (replica_id, request) pairs (or, for a batch or autoscaling task, "
                            "next_index(self, pending, replica) or desired_replicas(self, view)).")


# the method a policy class of each layer of the stack implements, what such a class is called, what it returns
POLICY_METHODS = {"schedule": ("scheduler", "write the routing logic; it must return a list of (replica_id, request) "
                                            "pairs"),
                  "next_index": ("batch policy", "write the admission logic; it must return an index into pending "
                                                 "or None"),
                  "desired_replicas": ("autoscaler", "write the scaling logic; it must return an int")}


def _policy_method(cls: ast.ClassDef) -> ast.FunctionDef | None:
    """The layer method a class defines (schedule, next_index or desired_replicas), if any."""
    return next((f for f in cls.body if isinstance(f, ast.FunctionDef) and f.name in POLICY_METHODS), None)


def policy_problem(code: str) -> str | None:
    """What keeps a design file from running as meant, found without running it: it must parse, define exactly
    one policy class (a router's schedule(), a batch policy's next_index() or an autoscaler's
    desired_replicas(); a file with the old and a new class cannot say which one is the design), and that method
    must do something."""
    try:
        tree = ast.parse(code)
    except SyntaxError as exc:
        return f"Your design does not parse: line {exc.lineno}: {exc.msg}."
    classes = [n for n in tree.body if isinstance(n, ast.ClassDef) and _policy_method(n)]
    if len(classes) > 1:
        noun = POLICY_METHODS[_policy_method(classes[0]).name][0]
        return (f"Your design defines {len(classes)} {noun} classes ({', '.join(c.name for c in classes)}); the "
                "design file must define exactly one. Send the whole file again with only your new class.")
    for cls in classes:
        method = _policy_method(cls)
        stmts = [b for b in method.body if not (isinstance(b, ast.Expr) and isinstance(b.value, ast.Constant))]
        if all(isinstance(b, ast.Pass) for b in stmts):
            return (f"{cls.name}.{method.name}() does nothing (only pass or a docstring): "
                    f"{POLICY_METHODS[method.name][1]}.")
    return None


def _scheduler_class(tree: ast.Module) -> str | None:
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and _policy_method(node):
            return node.name
    return None


def _is_statements(code: str) -> bool:
    """Parses as more than one string literal (a program wrapped in quotes is only that)."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return False
    return not (len(tree.body) == 1 and isinstance(tree.body[0], ast.Expr)
                and isinstance(tree.body[0].value, ast.Constant) and isinstance(tree.body[0].value.value, str))


def _parses(code: str) -> bool:
    try:
        ast.parse(code)
    except SyntaxError:
        return False
    return True


def _explain_nothing(out: ParsedReply, specs, text: str) -> None:
    """A specific reason when nothing runnable was found: a tool written as a Python call, or prose."""
    for name in specs:
        m = re.search(rf"(?:[\w.]+\.)?\b{re.escape(name)}\s*\(([^)]{{0,160}})\)", unescape(text))
        if m:
            out.problems.append(f"You wrote {m.group(0)!r} as text; tools are not Python functions here. Call "
                                f"<tool_call>{{\"name\": \"{name}\", \"arguments\": {{...}}}}</tool_call> with "
                                f"arguments {_signature(specs[name])}.")
            return
