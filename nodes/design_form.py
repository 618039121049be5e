"""The researcher's design form: the whole policy class (strong models), or a few small functions called by a fixed
driver (``simulator/policy/forms.py``; small models, whose whole-class rewrites rarely both run and change behaviour).

In the functions form the model sends only the functions it changes (each whole, same name and arguments); they are
merged into the design file, which the harness keeps well formed (the driver's import, the constants and helpers,
the functions in their order, the fixed class that hands them to the driver). What is merged is an ordinary policy
file: checked, run, re-measured, held out and reported like any other.

The form is the design file's: a run starts in the form its endpoint's profile (or ``--design-form``) chose, and
switches when ``SWITCH_AFTER`` designs in a row failed in its current form. An error the model repeats is answered
with the specific fix (``repeated_error``)."""

from __future__ import annotations

import ast
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from glia.nodes.llm.replies import FENCE, POLICY, Action, ParsedReply, clean_code, parse_reply, unescape
from glia.simulator.policy.forms import DRIVERS, STARTERS

SWITCH_AFTER = 3  # designs in a row that failed in one form before the run switches to the other


@dataclass(frozen=True)
class Function:
    name: str
    args: tuple[str, ...]
    returns: str


FUNCTIONS = {
    "router": (Function("priority", ("request",), "a number: lower goes first"),
               Function("admit", ("request", "replica"), "True if the request may go to that replica now"),
               Function("choose", ("request", "replicas"), "one of replicas (those that admit it): where it goes")),
    "batch": (Function("priority", ("request", "now"), "a number: the lowest is admitted next"),
              Function("admit", ("request", "replica"), "True to admit it now, False to wait")),
    "autoscaler": (Function("scale_up", ("view",), "True to add a replica"),
                   Function("scale_down", ("view",), "True to remove a replica"),
                   Function("cooldown", ("view",), "seconds to wait after a change before the next")),
}
CLASS_NAMES = {"router": ("Router", "RoutingFunctions"), "batch": ("Batch", "BatchFunctions"),
               "autoscaler": ("Autoscaler", "ScalingFunctions")}
FIELDS = {
    "router": {"request": "id, arrived_at, num_prefill_tokens (prompt tokens), num_processed_tokens, num_restarts",
               "replica": "replica_id, num_pending_requests, num_active_requests, num_allocated_blocks, num_blocks, "
                          "block_size, free_blocks (KV blocks free once the prompts waiting there are admitted), "
                          "blocks_for(request) (KV blocks its prompt takes)",
               "replicas": "a list of replicas (the fields above)"},
    "batch": {"request": "id, arrived_at, num_prefill_tokens (prompt tokens), num_processed_tokens, num_restarts",
              "now": "the time in seconds",
              "replica": "replica_id, now, num_pending_requests, num_active_requests, num_allocated_blocks, "
                         "free_blocks, num_blocks, block_size, active_queue (the admitted requests)"},
    "autoscaler": {"view": "now, serving, starting, draining, waiting, running, in_flight, kv_utilisation, "
                           "decode_tokens_per_s, arrivals_per_s, completions_per_s, min_replicas, max_replicas, "
                           "interval_s, cold_start_s, replicas (each: replica_id, pending, active, allocated_blocks, "
                           "num_blocks)"},
}

# errors small models repeat, and the specific fix (matched on the error's text)
FIXES = (
    (re.compile(r"'tuple' object|not subscriptable|cannot unpack|too many values to unpack"),
     "requests and replicas are objects, not tuples: read their fields by name ({fields})."),
    (re.compile(r"has no attribute '(\w+)'"),
     "{0} is not a field there. The fields: {fields}."),
    (re.compile(r"returned None"),
     "every function must end with a return on every path: {returns}."),
    (re.compile(r"takes \d+ positional arguments? but \d+ (?:was|were) given|missing \d+ required positional"),
     "keep each function's arguments exactly as in the file: {signatures}."),
    (re.compile(r"name '(\w+)' is not defined"),
     "{0} is not defined: a function sees its arguments, the constants and helpers of the file and the modules "
     "imported at its top."),
    (re.compile(r"division by zero"), "guard each division: divide by max(x, 1)."),
    (re.compile(r"not available to policies|private name"),
     "use only the fields listed (no getattr, no names starting with _)."),
)


def layer_of(task: dict) -> str:
    return (task.get("design") or {}).get("layer", "router")


def is_functions_file(source: str) -> bool:
    """The design file is in the functions form: it imports a driver and hands it its functions."""
    return any(f"import {d}" in source or f", {d}" in source for d in DRIVERS) and "functions = (" in source


def form_of(source: str, configured: str | None, measured: bool) -> str:
    """The form the researcher works in now: the design file's once anything ran, else the configured one."""
    if is_functions_file(source):
        return "functions"
    return "class" if measured else (configured or "class")


def signature(f: Function) -> str:
    return f"def {f.name}({', '.join(f.args)}):"


def fields_text(layer: str) -> str:
    return "; ".join(f"{arg}: {what}" for arg, what in FIELDS[layer].items())


def api_text(layer: str) -> str:
    """The functions form's API for the researcher's system prompt: each function, what it returns, what its
    arguments hold, and the driver's guarantees."""
    fns = "\n".join(f"    {signature(f)}  # returns {f.returns}" for f in FUNCTIONS[layer])
    return (f"The design is a file of small functions that glia's fixed driver calls (the whole file is shown "
            f"every turn):\n{fns}\nWhat the arguments hold (nothing else exists): {fields_text(layer)}.\n"
            f"{DRIVER_NOTE[layer]} Constants at the top of the file and helper functions may be added; the class at "
            "the bottom is fixed.")


DRIVER_NOTE = {
    "router": "At every arrival and completion the driver takes the waiting requests by priority; for each, the "
              "replicas that admit it; if any, choose picks one, else the request waits in the router (an idle "
              "replica always takes it, so nothing waits forever).",
    "batch": "Whenever the replica could admit a request, the driver takes the pending request with the lowest "
             "priority and admits it if admit says so (or if the replica runs nothing).",
    "autoscaler": "At every control tick the driver adds a replica if scale_up, else removes one if scale_down, "
                  "never within cooldown seconds of its last change.",
}


def starter(layer: str) -> str:
    return STARTERS[layer]


# -- merging a reply's functions into the design file ------------------------------------------------------------
def _segments(tree: ast.Module, source: str) -> list[tuple[str, str, str]]:
    """(kind, name, source) of each top-level statement: import, const, def, class, doc, other."""
    out = []
    for node in tree.body:
        text = ast.get_source_segment(source, node) or ""
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            out.append(("import", text, text))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            out.append(("def", node.name, text))
        elif isinstance(node, ast.ClassDef):
            out.append(("class", node.name, text))
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            out.append(("const", node.targets[0].id, text))
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            out.append(("doc", "", text))
        else:
            out.append(("other", "", text))
    return out


def merge(current: str, code: str, layer: str) -> tuple[str | None, str | None]:
    """The design file with the functions (and constants, helpers, imports) of ``code`` put in: (new file, None),
    or (None, what is wrong, said so the model can fix it)."""
    names = [f.name for f in FUNCTIONS[layer]]
    try:
        tree = ast.parse(code)
    except SyntaxError as exc:
        return None, (f"Your Python block does not parse: line {exc.lineno}: {exc.msg}. Send the function(s) you "
                      "change again, each whole.")
    new = _segments(tree, code)
    by_name = {f.name: f for f in FUNCTIONS[layer]}
    defs = {n: t for k, n, t in new if k == "def"}
    if not any(n in by_name for n in defs):
        classes = [n for k, n, _ in new if k == "class"]
        if classes:
            return None, (f"In this form you write functions, not a class ({', '.join(classes)}): send only the "
                          f"function(s) you change, e.g. {signature(FUNCTIONS[layer][0])} with its body.")
        return None, (f"Your block defines none of {', '.join(names)}: send the whole def of each function you "
                      "change, with the same name and arguments.")
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name in by_name:
            want = by_name[node.name].args
            got = tuple(a.arg for a in node.args.posonlyargs + node.args.args)
            if len(got) != len(want) or node.args.vararg or node.args.kwonlyargs:
                return None, (f"{node.name} must keep its arguments: {signature(by_name[node.name])} (yours takes "
                              f"{', '.join(got) or 'none'}); the driver calls it that way.")
            body = [b for b in node.body if not (isinstance(b, ast.Expr) and isinstance(b.value, ast.Constant))]
            if all(isinstance(b, ast.Pass) for b in body):
                return None, f"{node.name}() does nothing (only pass): it must return {by_name[node.name].returns}."
    try:
        old = _segments(ast.parse(current), current) if is_functions_file(current) else []
    except SyntaxError:
        old = []
    old = old or _segments(ast.parse(starter(layer)), starter(layer))
    return compose(layer, old, new), None


def compose(layer: str, old: list, new: list) -> str:
    """A functions file from the current one's parts updated with a reply's: the docstring and the driver's import,
    other imports, constants, helpers, the layer's functions in their order, the fixed class."""
    cls, driver = CLASS_NAMES[layer]
    names = [f.name for f in FUNCTIONS[layer]]
    doc = next((t for k, _, t in old if k == "doc"), "")
    imports = list(dict.fromkeys([f"from glia.simulator import {driver}"] + [
        t for k, _, t in old + new if k == "import" and "glia" not in t]))
    consts: dict[str, str] = {}
    helpers: dict[str, str] = {}
    functions: dict[str, str] = {}
    for part in (old, new):
        for kind, name, text in part:
            if kind == "const":
                consts[name] = text
            elif kind == "def":
                (functions if name in names else helpers)[name] = text
    body = [doc, "\n".join(imports)] if doc else ["\n".join(imports)]
    if consts:
        body.append("\n".join(consts.values()))
    body += [*helpers.values(), *(functions[n] for n in names if n in functions)]
    footer = (f"class {cls}({driver}):  # fixed: glia's driver calls the functions above\n"
              f"    functions = ({', '.join(names)})")
    return "\n\n\n".join([*body, footer]) + "\n"


EXPECTED_FUNCTIONS = """Reply with exactly one of:
- the function(s) you change, each whole with the same name and arguments, in one ```python block (they replace those
  in the design file, which is then run);
- a tool call: <tool_call>{{"name": "TOOL", "arguments": {{...}}}}</tool_call>, with TOOL one of {tools};
- <tool_call>{{"name": "finish", "arguments": {{"summary": "..."}}}}</tool_call> to propose your best design."""


def functions_reply(reply, current: str, layer: str, design_file: str) -> ParsedReply:
    """A reply in the functions form: its tool calls (as any reply's), and its Python block (or a write_file of the
    design file) merged into the design file, as a new design to run."""
    parsed = parse_reply(reply, code=False)
    parsed.expected = EXPECTED_FUNCTIONS
    text = unescape(str(reply.content or ""))
    blocks = [body for lang, body in FENCE.findall(text) if lang.lower() in ("", "python", "py", "python3")]
    writes = [a for a in parsed.actions if a.name == "write_file" and a.args.get("path") == design_file]
    sources = [a.args["content"] for a in writes] or blocks[-1:]
    if not blocks and not writes and any(f"def {f.name}(" in text for f in FUNCTIONS[layer]):
        sources = [text[text.index("def "):]]  # a bare function, no fence
    if not sources:
        return parsed
    merged, problem = merge(current, clean_code(sources[-1]), layer)
    if problem:
        parsed.problems.append(problem)
        return parsed
    parsed.actions = [a for a in parsed.actions if a not in writes]
    digest = hashlib.sha256(merged.encode()).hexdigest()[:8]
    parsed.actions.insert(0, Action(POLICY, {"code": merged, "class_name": CLASS_NAMES[layer][0]}, "code_block",
                                    "code" + digest))
    return parsed


# -- what the researcher is told -----------------------------------------------------------------------------------
def repeated_error(ledger: list[dict], layer: str, form: str) -> str:
    """When the last two experiments failed the same way, the specific fix for it (in the form's terms)."""
    failed = [e for e in ledger[-2:] if e.get("error")]
    if len(failed) < 2:
        return ""
    a, b = (f"{e['error']['kind']}: {e['error']['message']}" for e in failed)
    for pattern, fix in FIXES:
        ma, mb = pattern.search(a), pattern.search(b)
        if ma and mb and ma.groups() == mb.groups():
            fields = fields_text(layer) if form == "functions" else "see the API above"
            text = fix.format(*ma.groups(), fields=fields,
                              returns="; ".join(f"{f.name} {f.returns}" for f in FUNCTIONS[layer]),
                              signatures=", ".join(signature(f) for f in FUNCTIONS[layer]))
            return f"The same error twice ({failed[-1]['id']}): {text}"
    return ""


def failing_streak(ledger: list[dict], workspace: str | Path, form: str) -> int:
    """Experiments in a row, up to the last, that failed in ``form`` (the starter never counts)."""
    n = 0
    for e in reversed(ledger):
        if not e.get("error") or e.get("label", "").startswith("starter"):
            break
        path = Path(workspace) / e.get("snapshot", "")
        source = path.read_text(errors="replace") if path.is_file() else ""
        if ("functions" if is_functions_file(source) else "class") != form:
            break
        n += 1
    return n
