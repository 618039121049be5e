"""The offline researcher of a program task: with no model there are no design ideas, so it does the one thing that
can be done without one, honestly named: a seeded search over the starter's numeric constants.

The constants are the assignments marked ``# glia: tune`` anywhere in the starter, else the top-level ones
(``NAME = 0.5`` at module level; inside the EVOLVE-BLOCK regions when the task has them, since nothing else may
change). The plan, a function of the ledger (a resumed run continues where it was): the starter as it is; then each
constant alone around the best assignment so far (x0.5, x2, x0.25, x4, x0.1; from 0: 0.1, 0.5, 1, 2, 5; whole
numbers stay whole); then random log-scale perturbations of all of them together, from a generator seeded by the
task's ``[offline] seed``, the run's seed and the number of experiments. The run's seed is a comparison unit's (run N
of ``glia compare`` has seed N - 1, as the routing researcher's): seed 0 walks the plan as written, another seed
walks the one-at-a-time moves in an order of its own and draws other perturbations, so repeated runs are distinct
runs, and a run repeated with its seed is the same run. Every experiment's label holds its assignment; the report
says that this is all it did.
"""

from __future__ import annotations

import ast
import math
import random
from dataclasses import dataclass

from langchain_core.messages import AIMessage
from langgraph.runtime import Runtime

from glia.nodes.progress import budget_exhausted, own_ledger
from glia.state import GliaContext, GliaState

NAME = "offline program-constants search (no model: tunes the starter's numeric constants only)"
MARK = "glia: tune"
FACTORS = (0.5, 2.0, 0.25, 4.0, 0.1)
FROM_ZERO = (0.1, 0.5, 1.0, 2.0, 5.0)
RANDOM_TRIES = 200
LABEL = "constants: "


@dataclass(frozen=True)
class Constant:
    name: str
    line: int        # 1-based
    col: int         # the value's span on that line
    end_col: int
    value: float
    whole: bool      # an int in the starter: kept whole


def _number(node: ast.expr) -> float | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return float(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        inner = _number(node.operand)
        return None if inner is None else (-inner if isinstance(node.op, ast.USub) else inner)
    return None


def _block_lines(source: str) -> list[tuple[int, int]]:
    spans, start = [], None
    for i, line in enumerate(source.splitlines(), 1):
        if "EVOLVE-BLOCK-START" in line:
            start = i
        elif "EVOLVE-BLOCK-END" in line and start is not None:
            spans.append((start, i))
            start = None
    return spans


def tunable(source: str, blocks: bool = False) -> list[Constant]:
    """The starter's constants to tune: the marked ones, else the top-level ones (inside the blocks if ``blocks``)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    lines = source.splitlines()
    spans = _block_lines(source) if blocks else []

    def const(node) -> Constant | None:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
                or isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None):
            return None
        value = _number(node.value)
        if value is None or node.value.lineno != node.value.end_lineno:
            return None
        if spans and not any(a < node.lineno < b for a, b in spans):
            return None
        name = node.targets[0].id if isinstance(node, ast.Assign) else node.target.id
        whole = isinstance(getattr(node.value, "value", getattr(getattr(node.value, "operand", None), "value", 0.0)),
                           int)
        return Constant(name, node.value.lineno, node.value.col_offset, node.value.end_col_offset, value, whole)

    marked = [c for n in ast.walk(tree) if (c := const(n)) and MARK in lines[c.line - 1]]
    if marked:
        return sorted(marked, key=lambda c: c.line)
    return [c for n in tree.body if (c := const(n))]


def apply(source: str, constants: list[Constant], values: dict[str, float]) -> str:
    """The source with each constant set to ``values[name]`` (others unchanged)."""
    lines = source.splitlines(keepends=True)
    for c in sorted(constants, key=lambda c: (c.line, -c.col)):
        if c.name in values:
            text = lines[c.line - 1]
            lines[c.line - 1] = text[:c.col] + _literal(values[c.name], c.whole) + text[c.end_col:]
    return "".join(lines)


def _literal(v: float, whole: bool) -> str:
    return str(int(round(v))) if whole else repr(float(f"{v:.6g}"))


def label_of(values: dict[str, float], constants: list[Constant]) -> str:
    return LABEL + ", ".join(f"{c.name}={_literal(values[c.name], c.whole)}" for c in constants)


def parse_label(label: str) -> dict[str, float] | None:
    text = label.split("baseline: ", 1)[-1]
    if not text.startswith(LABEL):
        return None
    out = {}
    for part in text[len(LABEL):].split(", "):
        name, _, value = part.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            return None
    return out


def _key(values: dict[str, float], constants: list[Constant]) -> str:
    return label_of(values, constants)


def plan(state: GliaState, constants: list[Constant], seed: int = 0) -> list[tuple[dict[str, float], str]]:
    """Assignments worth measuring next, in order, with why; the starter's first. ``seed``: the run's (0: the
    order as written)."""
    start = {c.name: c.value for c in constants}
    ledger = own_ledger(state)
    measured = [(v, e) for e in ledger if (v := parse_label(e.get("label", ""))) is not None]
    if not measured:
        return [(start, "measure the starter as it is")]
    good = [(v, e) for v, e in measured if not e.get("error") and e.get("feasible", True)]
    best = min(good, key=lambda ve: ve[1]["score"])[0] if good else start
    best = {**start, **best}
    out: list[tuple[dict[str, float], str]] = []
    for c in constants:
        v = best[c.name]
        for f in (FROM_ZERO if v == 0 else FACTORS):
            new = f if v == 0 else v * f
            if c.whole:
                new = float(round(new))
                if new == v or (v > 0 and new < 1):
                    continue
            out.append(({**best, c.name: new}, f"{c.name} alone: {_literal(v, c.whole)} -> {_literal(new, c.whole)}"))
    task_seed = int((state["task"].get("offline") or {}).get("seed", 0))
    if seed:  # another run: the one-at-a-time moves in its own order, its own perturbations
        random.Random(f"{task_seed}-{seed}").shuffle(out)
        rng = random.Random(f"{task_seed}-{seed}-{len(ledger)}")
    else:
        rng = random.Random(task_seed * 100_003 + len(ledger))
    for _ in range(RANDOM_TRIES):
        new = {}
        for c in constants:
            v = best[c.name]
            new[c.name] = v * math.exp(rng.gauss(0.0, 0.5)) if v else rng.choice(FROM_ZERO) * rng.choice((1, -1))
            if c.whole:
                new[c.name] = float(max(1, round(new[c.name])) if v > 0 else round(new[c.name]))
        out.append((new, "random perturbation of every constant around the best"))
    return out


def program_constants_researcher(state: GliaState, runtime: Runtime[GliaContext]) -> GliaState:
    task = state["task"]
    source = task["design"]["starter_source"]
    constants = tunable(source, bool(task["design"].get("blocks")))
    ledger = own_ledger(state)
    stop = budget_exhausted(state)
    evaluation = getattr(runtime.context, "evaluation", None)
    seed = evaluation.seed if evaluation else 0
    tried = {_key({**{c.name: c.value for c in constants}, **v}, constants) for e in ledger
             if (v := parse_label(e.get("label", ""))) is not None}
    nxt = None
    if not stop and (constants or not ledger):
        nxt = next(((v, why) for v, why in plan(state, constants, seed) if _key(v, constants) not in tried), None)
    if nxt is None:
        best = state.get("best")
        why = stop or ("the starter has no numeric constant to tune (none marked `# glia: tune`, none top-level)"
                       if not constants else "no untested assignment left")
        text = (f"I am the {NAME}. I stop here ({why}). "
                + (f"Proposed design: {best['id']} ({best.get('label', '')})." if best else "No valid design."))
        return {"researcher_messages": [AIMessage(content=text, name="researcher")], "phase": "done"}
    values, why = nxt
    n = len(ledger) + 1
    label = ("baseline: " if not ledger else "") + label_of(values, constants)
    calls = []
    if ledger:
        calls.append({"name": "write_file", "id": f"e{n:03d}w", "type": "tool_call",
                      "args": {"path": task["design"]["file"], "content": apply(source, constants, values)}})
    calls.append({"name": "run_simulation", "id": f"e{n:03d}", "type": "tool_call",
                  "args": {"candidate": task["design"]["file"], "label": label, "hypothesis": "constants"}})
    text = f"Experiment {n}: {why} (a seeded search over the starter's constants; no model, no new idea)."
    return {"researcher_messages": [AIMessage(content=text, tool_calls=calls, name="researcher")],
            "phase": "experiment"}


def constant_names(task: dict) -> list[str]:
    return [c.name for c in tunable(task["design"]["starter_source"], bool(task["design"].get("blocks")))]

