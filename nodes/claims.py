"""Which numbers in a model's prose were measured. Models, small ones most, write results they never measured ("the
new router cut latency by 15 %"); only figures the harness recorded count. A number in prose is *supported* when it
matches a recorded figure (a metric of an experiment or a baseline, a figure the model was shown) or a change
between two of them (a ratio or a percentage), at the precision it is written with."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

from glia.state import Baseline, GliaState, LedgerEntry

# a number as prose writes it: 1,234.5 / 0.45 / 15 % / 2.3x; ids and years are filtered out below
NUMBER = re.compile(r"(?<![\w.])(-?\d{1,3}(?:,\d{3})+(?:\.\d+)?|-?\d+(?:\.\d+)?)(\s?%|x\b)?")
UNMEASURED = "[unmeasured]"
# words that make a sentence a claim about a result
RESULT_WORDS = re.compile(r"\b(latency|e2e|ttft|tpot|throughput|restart|slowdown|gpu|mean|p50|p90|p95|p99|"
                          r"improv|reduc|faster|slower|better|worse|lower|higher|cut|gain|speed)", re.IGNORECASE)


# words that name what a sentence measures -> the part of the metric names it refers to
TOPICS = {"latenc": "e2e", "e2e": "e2e", "end-to-end": "e2e", "end to end": "e2e", "ttft": "ttft",
          "first token": "ttft", "tpot": "tpot", "restart": "restart", "preempt": "preempt", "throughput": "throughput",
          "gpu": "gpu", "kv": "kv", "memory": "kv", "cache": "kv", "slowdown": "slowdown", "queue": "queueing"}


@dataclass(frozen=True)
class Claim:
    text: str          # the number as written, with its unit
    value: float
    percent: bool
    ratio: bool
    topics: frozenset[str] = frozenset()  # what its sentence measures (parts of metric names); empty: unknown


def claims_in(text: str) -> list[Claim]:
    """Numbers in ``text`` that state a result: in a sentence with a result word, not part of an identifier
    (``c1-e003``, ``H-spf``), not a small count (0-10 without a unit or decimals)."""
    out = []
    for sentence in re.split(r"(?<=[.!?;\n])\s+", text):
        if not RESULT_WORDS.search(sentence):
            continue
        lowered = sentence.lower()
        topics = frozenset(v for k, v in TOPICS.items() if k in lowered)
        for m in NUMBER.finditer(sentence):
            raw, unit = m.group(1), (m.group(2) or "").strip()
            start = m.start()
            if start > 0 and sentence[start - 1] in "-_/:#=":
                continue  # part of an id, a path or a setting (growth=0.3), not a result
            value = float(raw.replace(",", ""))
            if not unit and "." not in raw and abs(value) <= 10:
                continue  # a count ("3 experiments"), not a result
            out.append(Claim(m.group(0).strip(), value, unit == "%", unit == "x", topics))
    return out


def figures_in(text: str) -> list[float]:
    """Every number in ``text`` (e.g. a query result the model was shown), as figures it may quote."""
    return [float(m.group(1).replace(",", "")) for m in NUMBER.finditer(text)]


Figures = dict[str, list[float]]  # metric (or "" for figures of no named metric) -> recorded values


def known_figures(state: GliaState, extra: Iterable[float] = ()) -> Figures:
    """Every figure the harness recorded for this run, by metric: experiments' and baselines' metrics, the CI of
    the mean and how far each broke the task's constraint, plus ``extra`` (figures the model was shown, such as
    query results)."""
    out: Figures = {"": list(extra)}
    records: list[LedgerEntry | Baseline] = [*state.get("ledger", []), *state.get("baselines", [])]
    for r in records:
        for k, v in (r.get("metrics") or {}).items():
            if isinstance(v, (int, float)) and math.isfinite(v):
                out.setdefault(k, []).append(float(v))
        out["mean_e2e_s"] = out.get("mean_e2e_s", []) + [
            float(v) for v in (r.get("mean_e2e_ci90") or []) if isinstance(v, (int, float)) and math.isfinite(v)]
        v = r.get("violation")
        if isinstance(v, (int, float)) and 0 < v < math.inf:  # by how much it broke the task's constraint
            out[""].append(float(v))
    constraint = ((state.get("task") or {}).get("objective") or {}).get("constraint") or {}
    out[""] += [float(constraint[k]) for k in ("max", "min") if isinstance(constraint.get(k), (int, float))]
    return out


def _matches(value: float, figure: float, written: str) -> bool:
    """``value`` is ``figure`` rounded to the precision it is written with."""
    decimals = len(written.split(".")[1].rstrip("%x ").strip()) if "." in written else 0
    return abs(round(figure, decimals) - value) <= 0.5 * 10 ** -decimals + 1e-9


def supported(claim: Claim, figures: Figures) -> bool:
    """Whether a claim is a recorded figure (a percentage: a share written in percent), or, for a percentage or a
    ratio, the change between two recorded values of the same metric."""
    if claim.topics:  # a sentence about latency is checked against latency figures (and what the model was shown)
        figures = {k: v for k, v in figures.items() if not k or any(t in k for t in claim.topics)}
    scale = 100.0 if claim.percent else 1.0  # figures are stored as fractions; prose writes them in percent
    if any(_matches(claim.value, f * scale, claim.text) for values in figures.values() for f in values):
        return True
    if not (claim.percent or claim.ratio):
        return False
    for values in figures.values():
        positive = sorted({f for f in values if f > 0})
        for a in positive:
            for b in positive:
                change = a / b if claim.ratio else 100.0 * abs(a / b - 1.0)
                if a != b and _matches(abs(claim.value), change, claim.text):
                    return True
    return False


def unsupported(text: str, figures: Figures) -> list[str]:
    """The numbers ``text`` states as results that no recorded figure supports, as written."""
    return [c.text for c in claims_in(text) if not supported(c, figures)]


def mark_unsupported(text: str, figures: Figures) -> str:
    """``text`` with each unsupported result marked ``[unmeasured]`` (once, however often it is quoted)."""
    bad = set(unsupported(text, figures))
    if not bad:
        return text

    def mark(m: re.Match) -> str:
        marked = m.string.startswith(f" {UNMEASURED}", m.end())
        return m.group(0) + (f" {UNMEASURED}" if m.group(0).strip() in bad and not marked else "")

    return NUMBER.sub(mark, text)
