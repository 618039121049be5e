"""A program task's function form (``[design] function = "NAME"``): the one top-level function of the starter that
EoH and FunSearch evolve (llm4ad's template holds a preface and exactly one function), and the candidate program
that a function of theirs stands for: the starter with that function replaced, every other line kept, so that the
evaluator judges a whole program and the EVOLVE-BLOCK check sees only the function change."""

from __future__ import annotations

import ast


class FunctionFormError(ValueError):
    """The starter has no such function, or a library's text holds no function to put in its place."""


def _span(node: ast.FunctionDef | ast.AsyncFunctionDef) -> tuple[int, int]:
    """The function's lines (1-based, inclusive), its decorators included."""
    start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
    return start, node.end_lineno or node.lineno


def _functions(source: str) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    return [n for n in ast.parse(source).body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]


def find(source: str, name: str) -> ast.FunctionDef | ast.AsyncFunctionDef:
    """The top-level function ``name`` of ``source``."""
    fn = next((f for f in _functions(source) if f.name == name), None)
    if fn is None:
        raise FunctionFormError(f"the starter defines no top-level function {name!r} (top-level functions: "
                                f"{', '.join(f.name for f in _functions(source)) or 'none'})")
    return fn


def function_form(starter: str, name: str) -> tuple[str, str]:
    """(template, docstring): the starter's lines before its first top-level function (imports, constants: what
    the function may use) and the function ``name``, as llm4ad takes a template."""
    fn = find(starter, name)
    first = min(_span(f)[0] for f in _functions(starter))
    lines = starter.splitlines(keepends=True)
    start, end = _span(fn)
    preface = "".join(lines[:first - 1])
    return preface + "".join(lines[start - 1:end]), ast.get_docstring(fn) or ""


def splice_function(starter: str, name: str, code: str) -> str:
    """The starter with its function ``name`` replaced by the function of that name in ``code`` (else its last
    top-level function: a library that renamed it); the rest of ``code`` (its copy of the preface) is dropped."""
    try:
        fns = _functions(code)
    except SyntaxError as exc:
        raise FunctionFormError(f"the program does not parse: {exc}") from None
    new = next((f for f in fns if f.name == name), fns[-1] if fns else None)
    if new is None:
        raise FunctionFormError(f"the program defines no top-level function (expected {name!r})")
    a, b = _span(new)
    text = "".join(code.splitlines(keepends=True)[a - 1:b])
    if new.name != name:
        text = text.replace(f"def {new.name}(", f"def {name}(", 1)
    lines = starter.splitlines(keepends=True)
    start, end = _span(find(starter, name))
    return "".join(lines[:start - 1]) + text.rstrip("\n") + "\n" + "".join(lines[end:])
