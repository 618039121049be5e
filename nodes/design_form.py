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
import builtins
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




def field_names(text: str) -> frozenset[str]:
    """The names in a FIELDS description (``"id, arrived_at, blocks_for(request) (KV blocks ...)"``)."""
    depth, items, item = 0, [], ""
    for ch in text:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            items.append(item)
            item = ""
        else:
            item += ch
    return frozenset(m.group(1) for i in [*items, item] if (m := re.match(r"\s*(\w+)", i)))


def owner_of(attr: str, layer: str, not_kind: str = "") -> str | None:
    """Which argument of the layer's functions has the field ``attr`` (other than ``not_kind``), or None."""
    return next((kind for kind, text in FIELDS[layer].items()
                 if kind not in (not_kind, "replicas", "now") and attr in field_names(text)), None)


# errors small models repeat, and the specific fix (matched on the error's text)
FIXES = (
    (re.compile(r"'tuple' object|not subscriptable|cannot unpack|too many values to unpack"),
     "requests and replicas are objects, not tuples: read their fields by name ({fields})."),
    (re.compile(r"'(\w+)' object has no attribute '(\w+)'"), "{owner}"),
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
    merged = compose(layer, old, new)
    problem = static_problem(merged, layer)
    return (None, f"Not run, not charged: {problem}") if problem else (merged, None)


def static_problem(source: str, layer: str) -> str | None:
    """What a functions file would fail on at its first call, found before it runs (so it costs no simulation):
    a name a function reads that nothing defines (most often an argument of another function: ``replica`` in
    ``choose``, which is given ``replicas``), or a field read on the wrong object (a request's on a replica). Only
    what is certain is refused; anything else is left to the run."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None  # the merge said so already
    known = set(dir(builtins))
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            known.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            known.update((a.asname or a.name).split(".")[0] for a in node.names)
        else:
            known.update(n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store))
    form = {f.name: f for f in FUNCTIONS[layer]}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            problem = _function_problem(node, form, known, layer, source.splitlines())
            if problem:
                return problem
            if node.name in form and not _returns(node.body):
                return (f"{node.name}() can end without a return (then it returns None): every path must return "
                        f"{form[node.name].returns}." + (" To keep a request waiting, have admit return False."
                                                          if node.name == "choose" else ""))
            if node.name in form and any(isinstance(n, ast.Return) and (n.value is None or (
                    isinstance(n.value, ast.Constant) and n.value.value is None)) for n in ast.walk(node)):
                return (f"{node.name}() returns None on a path: it must return {form[node.name].returns}."
                        + (" To keep a request waiting, have admit return False." if node.name == "choose" else ""))
    return None


def _returns(body: list[ast.stmt]) -> bool:
    """Every path through ``body`` ends in a return or a raise (as far as plain code can tell)."""
    if not body:
        return False
    last = body[-1]
    if isinstance(last, (ast.Return, ast.Raise)):
        return True
    if isinstance(last, ast.If):
        return _returns(last.body) and _returns(last.orelse)
    if isinstance(last, (ast.For, ast.While, ast.With, ast.Try, ast.Match)):
        return True  # a loop or block may return inside: left to the run (the driver names a None)
    return False


def _function_problem(fn: ast.FunctionDef, form: dict[str, Function], known: set[str], layer: str,
                      lines: list[str]) -> str | None:
    local = {a.arg for a in ast.walk(fn) if isinstance(a, ast.arg)}
    local |= {n.id for n in ast.walk(fn) if isinstance(n, ast.Name) and isinstance(n.ctx, (ast.Store, ast.Del))}
    local |= {n.name for n in ast.walk(fn) if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n is not fn}
    here = f"{fn.name}({', '.join(a.arg for a in fn.args.args)})"
    for n in ast.walk(fn):
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load) and n.id not in local | known:
            other = next((f for f in form.values() if n.id in f.args and f.name != fn.name), None)
            fix = (f"{n.id} is an argument of {signature(other)[4:-1]} only" if other else
                   f"{n.id} is defined nowhere in the file")
            hint = (" To look at each replica here, go over the list: for replica in replicas: ..., or "
                    "min(replicas, key=lambda r: ...)." if n.id == "replica" and "replicas" in local else "")
            return (f"{here} reads {n.id}, which it does not have (`{lines[n.lineno - 1].strip()}`): {fix}. A "
                    f"function sees only its own arguments, the constants and helpers of the file and the imported "
                    f"modules.{hint}")
    kinds = _object_names(fn, layer)
    for n in ast.walk(fn):
        if isinstance(n, ast.Attribute) and isinstance(n.ctx, ast.Load) and isinstance(n.value, ast.Name):
            kind = kinds.get(n.value.id)
            if kind is None or n.attr in field_names(FIELDS[layer][kind]):
                continue
            owner = owner_of(n.attr, layer, kind)
            if owner:
                what = "" if n.value.id == kind else f", but {n.value.id} is a {kind}"
                return (f"{here} reads {n.value.id}.{n.attr}{what}: {n.attr} is a field of the {owner} "
                        f"({owner}.{n.attr}), not of a {kind}. A {kind} has: "
                        f"{FIELDS[layer][kind]}.")
    return None


def _object_names(fn: ast.FunctionDef, layer: str) -> dict[str, str]:
    """The names in ``fn`` that hold one of the layer's objects: its arguments (request, replica, view), and a loop
    variable, comprehension variable or key function's argument that goes over ``replicas``."""
    kinds = {a.arg: a.arg for a in fn.args.args if a.arg in FIELDS[layer] and a.arg not in ("replicas", "now")}
    if "replicas" not in {a.arg for a in fn.args.args} or "replica" not in FIELDS[layer]:
        return kinds

    def over_replicas(node) -> bool:
        return isinstance(node, ast.Name) and node.id == "replicas"
    for n in ast.walk(fn):
        if isinstance(n, (ast.For, ast.comprehension)) and over_replicas(n.iter) and isinstance(n.target, ast.Name):
            kinds[n.target.id] = "replica"
        elif isinstance(n, ast.Call) and any(over_replicas(a) for a in n.args):
            for kw in n.keywords:
                if kw.arg == "key" and isinstance(kw.value, ast.Lambda) and len(kw.value.args.args) == 1:
                    kinds[kw.value.args.args[0].arg] = "replica"
    return kinds


def compose(layer: str, old: list, new: list) -> str:
    """A functions file from the current one's parts updated with a reply's: the docstring and the driver's import,
    other imports, constants, helpers, the layer's functions in their order, the fixed class."""
    cls, driver = CLASS_NAMES[layer]
    names = [f.name for f in FUNCTIONS[layer]]
    doc = next((t for k, _, t in old if k == "doc"), "")
    consts: dict[str, str] = {}
    helpers: dict[str, str] = {}
    functions: dict[str, str] = {}
    for part in (old, new):
        for kind, name, text in part:
            if kind == "const":
                consts[name] = text
            elif kind == "def":
                (functions if name in names else helpers)[name] = text
    used = _names_used([*consts.values(), *helpers.values(), *functions.values()])
    imports = list(dict.fromkeys([f"from glia.simulator import {driver}"] + [  # an unused import is dropped
        t for k, _, t in old + new if k == "import" and "glia" not in t and _bound(t) & used]))
    body = [doc, "\n".join(imports)] if doc else ["\n".join(imports)]
    if consts:
        body.append("\n".join(consts.values()))
    body += [*helpers.values(), *(functions[n] for n in names if n in functions)]
    footer = (f"class {cls}({driver}):  # fixed: glia's driver calls the functions above\n"
              f"    functions = ({', '.join(names)})")
    return "\n\n\n".join([*body, footer]) + "\n"


def _names_used(texts: list[str]) -> set[str]:
    return {n.id for t in texts for n in ast.walk(ast.parse(t)) if isinstance(n, ast.Name)}


def _bound(import_text: str) -> set[str]:
    """The names an import statement binds."""
    node = ast.parse(import_text).body[0]
    return {(a.asname or a.name).split(".")[0] for a in node.names}  # type: ignore[attr-defined]


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
    """When the last experiment failed in a way small models often fail, the specific fix for it (in the form's
    terms), said more firmly when the one before failed the same way."""
    if not ledger or not ledger[-1].get("error"):
        return ""
    last = _fix(ledger[-1]["error"], layer, form)
    if last is None:
        return ""
    before = ledger[-2].get("error") if len(ledger) > 1 else None
    if before and _fix(before, layer, form) == last:
        return f"The same error twice ({ledger[-1]['id']}): {last[1]}"
    return f"{ledger[-1]['id']} failed; the fix: {last[1]}"


def unchanged_decisions(ledger: list[dict]) -> str:
    """When the last experiment measured exactly what an earlier one did (every figure equal), its change altered no
    decision (a small model's edit often adds the same term to every replica's score): said, with the levers."""
    if not ledger or ledger[-1].get("error") or not ledger[-1].get("metrics"):
        return ""
    last = ledger[-1]
    twin = next((e for e in ledger[:-1] if not e.get("error") and e.get("metrics") == last["metrics"]), None)
    if twin is None:
        return ""
    return (f"{last['id']} measured exactly what {twin['id']} did, every figure equal: its change altered no decision "
            "(a term added to every replica's score, or a condition that is always true, changes nothing). Change "
            "which request goes first, which replica takes it, or when a replica may take it.")


OBJECTS = {"Request": "request", "Replica": "replica", "ClusterView": "view"}


def _fix(error: dict, layer: str, form: str) -> tuple[tuple, str] | None:
    """(what matched, the specific fix) for an experiment's error, or None."""
    text = f"{error.get('kind', '')}: {error.get('message', '')}"
    for pattern, fix in FIXES:
        m = pattern.search(text)
        if not m:
            continue
        if fix == "{owner}":
            kind, attr = OBJECTS.get(m.group(1)), m.group(2)
            owner = owner_of(attr, layer, kind or "") if kind in FIELDS[layer] else None
            if not owner:
                continue  # the general attribute fix below
            return (pattern.pattern, *m.groups()), (f"{attr} is a field of the {owner} ({owner}.{attr}), not of a "
                                                    f"{kind}. A {kind} has: {FIELDS[layer][kind]}.")
        fields = fields_text(layer) if form == "functions" else "see the API above"
        return (pattern.pattern, *m.groups()), fix.format(
            *m.groups(), fields=fields, returns="; ".join(f"{f.name} {f.returns}" for f in FUNCTIONS[layer]),
            signatures=", ".join(signature(f) for f in FUNCTIONS[layer]))
    return None


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
