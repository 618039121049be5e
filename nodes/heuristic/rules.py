"""What the heuristic researcher's design spaces share: designs known by their keys, where the search stands (the
best design, the anchor of its sweeps), the flagged findings per topic, and the composition of the best value of
every parameter tried."""

from __future__ import annotations

import textwrap
from collections.abc import Iterable
from dataclasses import asdict, fields, replace
from typing import Any, Self

from glia.state import Finding, LedgerEntry

_PARSE = {"str": str, "float": float, "int": int, "bool": lambda raw: {"True": True, "False": False}[raw]}


class KeyedDesign:
    """A design dataclass's key, ``field=value,...`` (written into its policy file, so a run's designs are known
    again by their files), read back by each field's type; ``with_`` is a changed copy."""

    def key(self) -> str:
        return ",".join(f"{k}={v}" for k, v in asdict(self).items())  # type: ignore[call-overload]

    @classmethod
    def from_key(cls, key: str) -> Self | None:
        try:
            kv = dict(p.split("=", 1) for p in key.split(","))
            return cls(**{f.name: _PARSE[str(f.type)](kv[f.name]) for f in fields(cls)})  # type: ignore[arg-type]
        except (KeyError, ValueError):
            return None

    def with_(self, **changes) -> Self:
        return replace(self, **changes)  # type: ignore[type-var]


def anchor_and_best(designs: list[tuple[Any, LedgerEntry]]) -> tuple[Any, Any]:
    """(anchor, best): the best design by score (penalised, so designs breaking a constraint compare too), and the
    last design that improved clearly, which sweeps centre on rather than on one that won by noise."""
    best, _ = min(designs, key=lambda de: de[1]["score"])
    anchor = min((de for de in designs if de[1].get("verdict") == "improved"), key=lambda de: de[1]["score"],
                 default=(best, None))[0]
    return anchor, best


def flagged_topics(findings: list[Finding], topics: Iterable[str]) -> dict[str, Finding]:
    """The first flagged finding of each of ``topics``."""
    wanted = set(topics)
    out: dict[str, Finding] = {}
    for f in findings:
        if f.get("flagged") and f["topic"] in wanted:
            out.setdefault(f["topic"], f)
    return out


def latest_value(findings: list[Finding], topic: str) -> float | None:
    """The value of the newest finding of ``topic`` (flagged or not)."""
    vals = [f["value"] for f in findings if f["topic"] == topic and f.get("value") is not None]
    return vals[-1] if vals else None


def compose(best: Any, designs: list[tuple[Any, LedgerEntry]], names: tuple[str, ...] = ()) -> Any:
    """Start from the best design; take, for each parameter (``names``, default: every field, in order), the value
    that did best among designs that differ from it only there."""
    names = names or tuple(f.name for f in fields(best))
    score = {d.key(): e["score"] for d, e in designs}
    out = best
    for f in names:
        variants = [(score[d.key()], getattr(d, f)) for d, _ in designs
                    if all(getattr(d, g) == getattr(best, g) for g in names if g != f)]
        if variants:
            out = out.with_(**{f: min(variants)[1]})
    return out


def header(kind: str, describe: str, key: str) -> list[str]:
    """The opening lines of a policy file the researcher writes: what it does (wrapped), and its design key."""
    return [*textwrap.wrap(f'"""{kind}: {describe}.', 116), "", f"Design key: {key}", '"""', ""]
