"""Which numbers in a model's prose were measured. Models, small ones most, write results they never measured ("the
new router cut latency by 15 %"); only figures the run showed count. The check must be right both ways: an invented
result is flagged, and a real one (quoted from a query result, rounded, or the change between two figures) is not.

A number stating a result is *supported* when

- it is a *level* ("mean e2e 22.13 s", "restarts fell to 5.4 %", "dropped to 9 s") and matches, at the precision it is
  written with (rounding allowed; "~3,600", "about 3,600": to two significant digits), a figure the run showed the
  agent: a metric of an experiment or a baseline (of the one the sentence names, when it names one), a CI, the task's
  own numbers, or a number of a tool result, a diagnostic, an error or an earlier finding (a query table's cell typed
  by its column); a number of a range ("3,600-4,096", "77-256") may be one seed's or one bucket's figure, and a
  range's lower end may be the bucket edge after a figure (77 after "up to 76"); or
- it is a *setting* the agents wrote themselves: a number of an experiment's code or the design file ("a 384-token
  reserve", "the 300 s starvation guard"), in a clause that names no measured metric; or
- it is the *product or ratio* of a number its sentence writes and another written there or one of the task's settings
  ("2,240 blocks = 35,840 tokens", from the task's 16 tokens per block), at the precision written; or
- it is a *change* ("cut latency by 55 %", "2.2x faster", "4.1 s lower", "-8.5 %") and is the difference or ratio
  of two figures the sentence itself names: numbers written in it, or the metrics of the experiments and baselines it
  names (``c1-e004``, ``e004``, ``llq``, ``the best design``). A change between two figures no sentence names (any
  pair in the ledger) does not count; nor does a change with one side unnamed ("it cut latency by 15 %").

A sentence's metric words (latency, TTFT, restarts, throughput, ...) restrict the figures it is checked against;
small integers are checked where they carry a unit ("9 s", "3 %"), not as counts ("3 experiments")."""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from langchain_core.messages import AIMessage

from glia.state import Baseline, GliaState, LedgerEntry

# a number as prose writes it: 1,234.5 / 0.45 / 15 % / 2.3x / -55 % (ids are filtered out below)
NUMBER = re.compile(r"(?<![\w.])([-+\u2212]?\d{1,3}(?:,\d{3})+(?:\.\d+)?|[-+\u2212]?\d+(?:\.\d+)?)"
                    r"(\s?%|\s?x\b|\u00d7)?")
UNMEASURED = "[unmeasured]"
# words that make a sentence a claim about a result
RESULT_WORDS = re.compile(r"\b(latency|e2e|ttft|tpot|throughput|restart|slowdown|gpu|mean|p50|p90|p95|p99|"
                          r"improv|reduc|faster|slower|better|worse|lower|higher|cut|gain|speed|drop|fell|fall|rose|"
                          r"rise|reach|took|queue|kv|util)", re.IGNORECASE)
# words that name what a sentence measures -> the part of the metric names it refers to
TOPICS = {"latenc": "e2e", "e2e": "e2e", "end-to-end": "e2e", "end to end": "e2e", "ttft": "ttft",
          "first token": "ttft", "tpot": "tpot", "per token": "tpot", "per-token": "tpot", "restart": "restart",
          "preempt": "restart", "throughput": "throughput", "req/s": "throughput", "gpu-hour": "gpu_hours",
          "gpu hour": "gpu_hours", "gpu util": "gpu_util", "kv": "kv", "memory": "kv", "cache": "kv",
          "slowdown": "slowdown", "queueing": "queueing", "queuing": "queueing", "waiting": "queueing",
          "wait": "queueing", "queue": "queueing", "tokens/s": "throughput", "tok_s": "throughput"}
QUALIFIERS = {"mean": "mean", "average": "mean", "median": "p50", "p50": "p50", "p90": "p90", "p95": "p95",
              "p99": "p99"}
# a change, as prose marks it: "by N %", "N % lower", "2.2x", "-55 %"
CHANGE_BEFORE = re.compile(r"\bby\s+(?:about\s+|roughly\s+|around\s+|~|only\s+|another\s+|a further\s+)?$",
                           re.IGNORECASE)
CHANGE_AFTER = re.compile(r"^\s*(?:s\b|ms\b|seconds?\b|pp\b|percentage points?\b|points?\b)?\s*(?:lower|higher|faster|"
                          r"slower|better|worse|less|more|fewer|reduction|improvement|drop|decrease|increase|gain|"
                          r"cut|speed-?up|lead|shorter|longer|saving|smaller|larger)\b",
                          re.IGNORECASE)
UNIT_AFTER = re.compile(r"^\s*(?:s|ms|sec|secs|seconds?|req/s|rps|tokens?/s|gpu[- ]hours?|pp)\b", re.IGNORECASE)
# a number right after these words is an id or a count, not a result ("seed 3", "experiment 12")
NOT_RESULT_BEFORE = re.compile(r"\b(?:seeds?|experiments?|exp|runs?|contexts?|versions?|steps?|iterations?|replicas?|"
                               r"turns?|calls?|round|attempts?|hypothes[ie]s)\s*#?$", re.IGNORECASE)
COUNT_AFTER = re.compile(r"^\s*(?:simulations?|experiments?|seeds?|replicas?|runs?|designs?|contexts?|calls?|turns?|"
                         r"iterations?|steps?|queries|rows|findings?|hypothes[ie]s|lines?|files?|classes?)\b",
                         re.IGNORECASE)
DETAIL = re.compile(r"seed|\bci\b|interval|confidence|\[|\bbetween\b|\branges?\b|\bfrom\b.*\bto\b", re.IGNORECASE)
RECENT = 2  # experiments a sentence naming none may speak of: the newest ones
TIME_TOPICS = frozenset({"e2e", "ttft", "tpot", "queueing"})
FINDINGS_ON = re.compile(r"^(?:\[\w+\]\s*)?findings on ([\w\-/, ]+):", re.IGNORECASE)
EXPERIMENT_ID = re.compile(r"\b(?:c\d+-)?e\d{3}\b", re.IGNORECASE)
MINUS = "\u2212"
APPROX_BEFORE = re.compile(r"(?:~|\u2248|\babout|\baround|\broughly|\bapproximately|\bnearly|\balmost)\s*$",
                           re.IGNORECASE)
RANGE_AFTER = re.compile(r"^\s*[-\u2013]\s*\d")
CODE = "code"  # the metric of a design's own numbers
RANGE_UNIT = re.compile(r"^[-\u2013]\d+(?:\.\d+)?\s*(%)")


@dataclass(frozen=True)
class Claim:
    text: str          # the number as written, with its unit
    value: float
    percent: bool
    ratio: bool
    topics: frozenset[str] = frozenset()      # what its sentence measures (parts of metric names); empty: unknown
    change: bool = False                       # a change between two figures, not a level
    qualifiers: frozenset[str] = frozenset()   # mean / p90 / ... when the sentence says which
    operands: tuple[tuple[float, str], ...] = ()  # the other numbers its sentence writes (levels), as written
    names: frozenset[str] = frozenset()        # the experiments and baselines its sentence names (normalised)
    detail: bool = False                       # its sentence speaks of seeds or CIs (their figures may be quoted)
    approx: bool = False                       # written as approximate ("~3,600", "about 40 %")
    range_start: bool = False                  # the lower end of a range ("77" of "77-256")


@dataclass(frozen=True)
class Figure:
    value: float
    metric: str = ""          # a metric name, a topic (from prose), or "" (unknown)
    owner: str = ""           # the experiment or baseline it belongs to (normalised), or "" (unknown)
    percent: bool = False     # written in percent where it was shown
    change: bool = False      # shown as a change (a violation, a signed percentage)
    decimals: int | None = None  # as shown (None: a stored float)
    bound: bool = False       # a CI bound or one seed's figure: quoted as such, never a side of a change
    soft: bool = False        # of a tool result or a finding: its metric is a column's or prose's words, a hint
    ratio: bool = False       # written as a multiple where it was shown ("ran 13.1x slower than alone")
    setting: bool = False     # a number the agents or the task set, not measured: the task's text, a design's code


@dataclass
class Figures:
    """Every figure the run showed an agent (``figures``) and the names of what they belong to (``owners``: alias
    -> normalised name); ``objective``: the task's metric, for a change whose sentence names no metric."""

    figures: list[Figure] = field(default_factory=list)
    owners: dict[str, str] = field(default_factory=dict)
    objective: str = "mean_e2e_s"
    recent: set[str] = field(default_factory=set)   # what a sentence naming nothing may speak of

    def add(self, value, metric: str = "", owner: str = "", **kw) -> None:
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            self.figures.append(Figure(float(value), metric, owner, **kw))

    def __getitem__(self, key: str) -> list[float]:  # metric -> its values (the older dict interface)
        return [f.value for f in self.figures if f.metric == key]

    def with_extra(self, extra: Iterable[float | str]) -> Figures:
        out = Figures(list(self.figures), dict(self.owners), self.objective, set(self.recent))
        for x in extra:
            if isinstance(x, str):
                out.add_text(x)
            else:
                out.add(x)
        return out

    def add_code(self, source: str) -> None:
        """The numbers a design's code sets (its constants and literals): settings, no measurement."""
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError):
            return
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and \
                    not isinstance(node.value, bool):
                self.add(abs(node.value), CODE, soft=True, setting=True)

    def add_text(self, text: str, owner: str = "", soft: bool = True, setting: bool = False) -> None:
        """The numbers of a text the agent was shown: a table's cells typed by their column and owned by the row's
        name; prose numbers typed by the metric words before them."""
        # a number another check marked unmeasured was never shown as a measurement
        lines = re.sub(NUMBER.pattern + r"\s*" + re.escape(UNMEASURED), "", str(text)).splitlines()
        header: list[str] | None = None
        for line in lines:
            about = FINDINGS_ON.match(line.strip())
            if about:  # "[analyst] Findings on c1-e004:": what the lines below are about
                owner = self._owner(about.group(1)) if "," not in about.group(1) else ""
            cells = [c.strip() for c in line.strip().strip("|").split("|")] if "|" in line else None
            if cells is not None and header is not None and len(line.split("|")) == len(header):
                cells = [c.strip() for c in line.split("|")]  # a row whose first cell is empty (" | True | 216")
            if cells is None or len(cells) < 2:
                header = None
                self._add_prose(line, owner, soft, setting)
                continue
            if set("".join(cells)) <= set("-: "):  # a Markdown rule
                continue
            numeric = [_number(c) for c in cells]
            if header is not None and (len(cells) != len(header) or all(n is None for n in numeric)):
                header = None  # another table begins (two tool results joined, or a second query's rows)
            if header is None and any(n is None for n in numeric):
                header = [c.lower() for c in cells]
                continue
            row = next((self._owner(c) for c, n in zip(cells, numeric, strict=True) if n is None and
                        self._owner(c)), "")
            for i, (c, n) in enumerate(zip(cells, numeric, strict=True)):
                if n is None:
                    self._add_prose(c, row or owner, soft, setting)
                    continue
                metric = header[i] if header and i < len(header) else ""
                column = self._owner(metric.split("_")[0]) if "_" in metric else ""  # e004_mean: e004's
                self.add(n[0], metric, column or row or owner, percent=n[1], decimals=_decimals(c), soft=soft,
                         bound=bool(header) and "seed" in header, setting=setting)

    def _add_prose(self, text: str, owner: str = "", soft: bool = True, setting: bool = False) -> None:
        for sentence in _sentences(text):
            for m in NUMBER.finditer(sentence):
                raw, unit = m.group(1), (m.group(2) or "").strip()
                before = sentence[:m.start()].lower()
                clause = _clause(sentence, m.start(), m.end()).lower()
                metric = _last_topic(clause[:max(0, clause.find(m.group(0)))]) or _last_topic(clause)
                signed = raw[0] in "+-" + MINUS
                value = _value(raw)
                named = self._owner_near(before) or owner
                self.add(value, metric, named, percent=unit == "%",
                         change=signed or bool(CHANGE_BEFORE.search(sentence[:m.start()])),
                         decimals=_decimals(raw), soft=soft, ratio=unit in ("x", "\u00d7"), setting=setting)
                if signed:
                    self.add(abs(value), metric, named, percent=unit == "%", change=True, decimals=_decimals(raw),
                             soft=soft)

    def _owner(self, text: str) -> str:
        key = text.strip().lower().strip("`*'\"")
        return self.owners.get(key) or self.owners.get(key.split("/")[-1], "")  # THREAD/c1-e004: a run id

    def _owner_near(self, before: str) -> str:
        """The experiment or baseline named last before a number in its sentence, if any."""
        best, at = "", -1
        for alias, name in self.owners.items():
            i = before.rfind(alias)
            if i > at and _word_at(before, i, alias):
                best, at = name, i
        return best


def _word_at(text: str, i: int, alias: str) -> bool:
    a = i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")
    j = i + len(alias)
    return a and (j >= len(text) or not (text[j].isalnum() or text[j] == "_"))


def _sentences(text: str) -> list[str]:
    return re.split(r"(?<=[.!?;\n])\s+|\n", text)


def _value(raw: str) -> float:
    return float(raw.replace(",", "").replace(MINUS, "-"))


def _number(cell: str) -> tuple[float, bool] | None:
    m = re.fullmatch(r"\s*([-+]?\d[\d,]*(?:\.\d+)?(?:[eE][-+]?\d+)?)\s*(%?)\s*(?:s)?\s*", cell)
    if not m:
        return None
    try:
        return float(m.group(1).replace(",", "")), bool(m.group(2))
    except ValueError:
        return None


def _decimals(raw: str) -> int:
    digits = raw.replace(",", "").strip().rstrip("%xs ")
    return len(digits.split(".")[1]) if "." in digits else 0


def _last_topic(before: str) -> str:
    """The metric the words before a number name (the nearest metric word), or ""."""
    best, at = "", -1
    for word, topic in TOPICS.items():
        i = before.rfind(word)
        if i > at:
            best, at = topic, i
    for word in ("mean_e2e_s", "p90_ttft_s", "restart_fraction", "throughput_rps", "gpu_hours"):
        i = before.rfind(word)
        if i >= at and i >= 0:
            best, at = word, i
    return best


def _topics(sentence: str) -> tuple[frozenset[str], frozenset[str]]:
    lowered = sentence.lower()
    topics = frozenset(v for k, v in TOPICS.items() if k in lowered)
    quals = frozenset(v for k, v in QUALIFIERS.items() if re.search(rf"\b{k}", lowered))
    return topics, quals


def _clause(sentence: str, start: int, end: int) -> str:
    """The part of a sentence a number belongs to: from the last break before it (a comma, a semicolon, a bracket,
    a dash between words, "while", "and", "but") to the next one."""
    breaks = re.compile(r"[,;()\[\]]| - | \u2014 |\bwhile\b|\bbut\b|\band\b|\bwhereas\b")
    left = max((m.end() for m in breaks.finditer(sentence[:start])), default=0)
    right = next((m.start() + end for m in breaks.finditer(sentence[end:])), len(sentence))
    return sentence[left:right]


def _names(sentence: str, owners: dict[str, str]) -> frozenset[str]:
    lowered = sentence.lower()
    found = {owners.get(m.group(0).lower(), m.group(0).lower()) for m in EXPERIMENT_ID.finditer(lowered)}
    for alias, name in owners.items():
        i = lowered.find(alias)
        while i >= 0:
            if _word_at(lowered, i, alias):
                found.add(name)
                break
            i = lowered.find(alias, i + 1)
    return frozenset(found)


def claims_in(text: str, owners: dict[str, str] | None = None, about: Iterable[str] = ()) -> list[Claim]:
    """Numbers in ``text`` that state a result: in a sentence with a result word, not part of an identifier
    (``c1-e003``, ``H-spf``) or a setting (``growth=0.3``), not a count (``3 experiments``, ``seed 3``), and a
    small integer only with a unit (``9 s``, ``3 %``). ``about``: the experiments the whole text is about (an
    analyst's findings on one), as if every sentence named them."""
    out = []
    context = frozenset((owners or {}).get(a.lower(), a.lower()) for a in about)
    for sentence in _sentences(text):
        if not RESULT_WORDS.search(sentence):
            continue
        names = _names(sentence, owners or {}) | context
        detail = bool(DETAIL.search(sentence))
        found = []
        for m in NUMBER.finditer(sentence):
            raw, unit = m.group(1), (m.group(2) or "").strip()
            start = m.start()
            before, after = sentence[:start], sentence[m.end():]
            span = RANGE_UNIT.match(after)
            if not unit and span:
                unit = span.group(1)  # "97-98.5 %": both ends of a range are in its unit
            if start > 0 and sentence[start - 1] in "_/:#=":
                continue  # part of an id, a path or a setting (growth=0.3), not a result
            ranged = start > 1 and sentence[start - 1] in "-\u2013" and sentence[start - 2].isdigit()
            if start > 0 and sentence[start - 1] == "-" and not ranged:
                continue  # c1-e003, H-2: an id
            if NOT_RESULT_BEFORE.search(before) or (not unit and COUNT_AFTER.match(after)):
                continue
            value = abs(_value(raw)) if ranged else _value(raw)
            has_unit = bool(unit) or bool(UNIT_AFTER.match(after))
            if not has_unit and "." not in raw and abs(value) <= 10:
                continue  # a count ("3 experiments"), not a result
            signed = raw[0] in "+-" + MINUS and not ranged
            topics, quals = _topics(_clause(sentence, start, m.end()))
            if UNIT_AFTER.match(after) and re.match(r"^\s*(?:s|ms|sec|secs|seconds?)\b", after, re.IGNORECASE) \
                    and topics and not topics & TIME_TOPICS:
                topics_here = frozenset()  # "(a smaller KV reserve) is best at 23.46 s": seconds are no KV share
            else:
                topics_here = topics
            change = (unit == "x" or unit == "\u00d7" or signed or bool(CHANGE_BEFORE.search(before))
                      or bool(CHANGE_AFTER.match(after)) or bool(re.match(r"^\s*times\b", after)))
            starts = bool(RANGE_AFTER.match(after)) and not ranged
            found.append((m.group(0).strip(), value, unit == "%", unit in ("x", "\u00d7"), change, topics_here, quals,
                          bool(APPROX_BEFORE.search(before)), starts, ranged or starts))
        for text_, value, percent, ratio, change, topics_here, quals, approx, starts, in_range in found:
            operands = tuple((v, t) for t, v, p, r, c, *_ in found if t != text_ and not c)
            out.append(Claim(text_, value, percent, ratio, topics_here, change, quals, operands, names,
                             detail or in_range, approx, starts))
    return out


def figures_in(text: str) -> list[float]:
    """Every number in ``text`` (e.g. a query result the model was shown), as figures it may quote."""
    return [_value(m.group(1)) for m in NUMBER.finditer(text)]


def _record(out: Figures, r: LedgerEntry | Baseline, owner: str, objective: str) -> None:
    for k, v in (r.get("metrics") or {}).items():
        out.add(v, k, owner)
    for v in r.get("mean_e2e_ci90") or []:
        out.add(v, "mean_e2e_s", owner, bound=True)
    for k, ci in (r.get("ci90") or {}).items():
        for v in ci or []:
            out.add(v, k, owner, bound=True)
    for k, values in (r.get("per_seed") or {}).items():
        for v in values or []:
            out.add(v, k, owner, bound=True)
    v = r.get("violation")
    if isinstance(v, (int, float)) and 0 < v < math.inf:  # by how much it broke the task's constraint
        out.add(v, "", owner, change=True)


def known_figures(state: GliaState, extra: Iterable[float | str] = (), designs: Iterable[str] = ()) -> Figures:
    """Every figure the run showed its agents: experiments' and baselines' metrics (owned by their ids and names),
    their CIs and how far each broke the task's constraint, the task's own numbers, and what the researcher was
    shown in its conversation (tool results: query tables, diagnostics, errors; the analyst's and supervisor's
    words) and the findings; plus ``extra`` (figures or texts the agent was shown, such as its query results) and
    the numbers of ``designs`` (the code of the experiments and of the design file: settings the agents chose)."""
    task = state.get("task") or {}
    out = Figures(objective=((task.get("objective") or {}).get("metric")) or "mean_e2e_s")
    ledger: list[LedgerEntry] = list(state.get("ledger", []))
    for e in ledger:
        name = str(e.get("id", "")).lower()
        if not name:
            continue
        out.owners[name] = name
        out.owners.setdefault(name.split("-")[-1], name)  # e004 for c1-e004 (the newest context's, when several)
        label = str(e.get("label") or "").split(": ", 1)[-1].strip().lower()
        if label and (re.search(r"[-_=0-9]", label) or label in ("starter", "baseline")) and len(label) >= 4:
            out.owners.setdefault(label, name)
    if ledger:
        out.owners.setdefault("starter", str(ledger[0].get("id", "")).lower())
    for b in state.get("baselines", []):
        for alias in {str(b.get("policy", "")), str(b.get("policy", "")).replace("_", "-"),
                      str(b.get("policy", "")).replace("_", " ")}:
            if alias:
                out.owners[alias.lower()] = str(b.get("policy", "")).lower()
    best = state.get("best")
    if best:
        for alias in ("best design", "the best", "best so far"):
            out.owners[alias] = str(best.get("id", "")).lower()
    # a sentence that names no experiment speaks of the newest ones, the best or a baseline
    out.recent = {str(e.get("id", "")).lower() for e in ledger[-RECENT:]} | {
        str(b.get("policy", "")).lower() for b in state.get("baselines", [])} | (
        {str(best.get("id", "")).lower()} if best else set())
    for e in ledger:
        _record(out, e, str(e.get("id", "")).lower(), out.objective)
    for b in state.get("baselines", []):
        _record(out, b, str(b.get("policy", "")).lower(), out.objective)
    constraint = (task.get("objective") or {}).get("constraint") or {}
    for k in ("max", "min"):
        out.add(constraint.get(k), constraint.get("metric", ""))
    for part in (task.get("background"), task.get("description")):
        if isinstance(part, str):  # the task's settings: figures for a sentence naming no metric
            out.add_text(part, soft=False, setting=True)
    for f in state.get("findings", []):
        about = out.owners.get(str(f.get("experiment", "")).lower(), "")
        out.add_text(str(f.get("text", "")), about)
        out.add(f.get("value"), str(f.get("topic", "")), about)
    for m in state.get("researcher_messages", []):
        if not isinstance(m, AIMessage):  # tool results and the other agents' words; never its own
            out.add_text(str(m.content))
    for source in designs:
        out.add_code(source)
    return out.with_extra(extra)


def _matches(value: float, figure: float, written: str, shown: int | None = None, approx: bool = False) -> bool:
    """``value`` is ``figure`` rounded to the precision it is written with (an integer written with trailing zeros,
    ``2,290``, to its last non-zero digit; ``approx``, written "~3,600", to two significant digits); a figure shown
    with fewer decimals than written does not match."""
    decimals = _decimals(written)
    step = 10.0 ** -decimals
    if decimals == 0:
        digits = written.replace(",", "").strip().lstrip("+-" + MINUS).rstrip("%x\u00d7 ")
        zeros = len(digits) - len(digits.rstrip("0")) if digits.strip("0") else 0
        step = 10.0 ** min(zeros, max(1, len(digits) - 2) if approx else 1) if abs(value) >= 100 else 1.0
    if shown is not None and shown < decimals:
        digits = written.replace(",", "").strip().rstrip("%x\u00d7 ")
        if digits.split(".")[1][shown:].strip("0"):
            return False  # more digits written than were shown ("25.70" from a shown "25.7" is the same figure)
    return abs(figure - value) <= 0.5 * step + 1e-9 * max(1.0, abs(value))


def _compatible(f: Figure, topics: frozenset[str], quals: frozenset[str]) -> bool:
    """Whether a figure is of a metric the claim's clause names: a metric name containing the topic, or (a column or
    the words before a number in a text the agent was shown) any word that names it (``replica_wait``: queueing). A
    figure of no known metric supports only a claim that names none either."""
    if not topics:
        return True
    m = f.metric.lower()
    if f.soft:  # a column's or prose's words: only a figure that names another metric is ruled out
        named = {t for w, t in TOPICS.items() if w.replace(" ", "_") in m} | {t for t in TOPICS.values() if t in m}
        return not named or bool(named & topics)
    if not f.metric:
        return False
    words = [w.replace(" ", "_") for w, t in TOPICS.items() if t in topics] if f.decimals is not None else []
    if not any(t in m for t in topics) and not any(w in m for w in words):
        return False
    named = [q for q in QUALIFIERS.values() if m.startswith(q + "_")]
    return not quals or not named or any(q in named for q in quals)


def _level(claim: Claim, shown: Figures, anyone: bool = False, owned: bool = False) -> bool:
    """A figure shown; in a sentence naming experiments or baselines, one of theirs (or of no one: a number of a
    text), unless ``anyone``; only theirs with ``owned``."""
    for f in shown.figures:
        if f.change or not _compatible(f, claim.topics, claim.qualifiers) or (owned and f.owner not in claim.names):
            continue
        if f.bound and not claim.detail:
            continue  # a CI bound or one seed's figure, quoted where the sentence does not speak of either
        if f.metric == CODE and (claim.topics or claim.change):
            continue  # a design's setting is no measured figure of a metric
        if claim.names and f.owner and f.owner not in claim.names and not anyone:
            continue  # a figure of another experiment than the one the sentence names
        if not claim.names and f.owner and shown.recent and f.owner not in shown.recent and not anyone:
            continue  # naming nothing, a sentence speaks of the newest experiments, the best or the baselines
        candidates = [f.value]
        if claim.percent and not f.percent and abs(f.value) <= 1.5:
            candidates.append(100.0 * f.value)      # a share stored as a fraction, written in percent
        if not claim.percent and f.percent:
            candidates = [f.value]
        if any(_matches(claim.value, c, claim.text, f.decimals if c == f.value else None, claim.approx)
               for c in candidates):
            return True
    return False


def _operands(claim: Claim, shown: Figures) -> list[float]:
    """The figures a change may be between: numbers its sentence writes, and the figures of the experiments and
    baselines it names, of the metric it names (or the task's objective)."""
    out = [v for v, _ in claim.operands]
    if claim.names:
        topics = claim.topics or frozenset({shown.objective})
        for f in shown.figures:
            if f.owner in claim.names and not f.change and not f.bound and f.decimals is None and f.metric and \
                    _compatible(f, topics, claim.qualifiers) and (claim.topics or f.metric == shown.objective):
                out.append(f.value)
    return out


def _change(claim: Claim, shown: Figures) -> bool:
    v = abs(claim.value)
    # a change copied as shown ("diff -1.785" in a query result): a figure of a text, at the precision written (two
    # decimals at least: "36 %" is not a copy of whichever 36 a table holds)
    decimals = _decimals(claim.text)
    if decimals >= 2 and any(not f.change and f.decimals == decimals and _compatible(f, claim.topics, claim.qualifiers)
                             and (not claim.names or not f.owner or f.owner in claim.names)
                             and (claim.detail or not f.bound) and _matches(claim.value, f.value, claim.text)
                             for f in shown.figures):
        return True
    # a change the agent was shown as such (a violation, a signed percentage) of the metric the sentence names
    for f in shown.figures:
        if f.change and _compatible(f, claim.topics, claim.qualifiers):
            if claim.percent and (f.percent and _matches(v, abs(f.value), claim.text, f.decimals) or
                                  not f.percent and _matches(v, 100.0 * abs(f.value), claim.text)):
                return True
            if not claim.percent and _matches(v, abs(f.value), claim.text, f.decimals):
                return True
    written = _operands(claim, shown)
    # a number written rounded stands for the figure shown (the change is of the figures, "25.70 - 27.48": -1.785)
    precise = [f.value for v, t in claim.operands for f in shown.figures
               if not f.change and f.decimals is not None and f.value != v and _matches(v, f.value, t)]
    values = sorted({x for x in written + precise[:50] if x})
    written_pct = [v for v, t in claim.operands if "%" in t]
    pct_pairs = {(a, b) for a in written_pct for b in written_pct} | {(b, a) for a in written_pct for b in written_pct}
    for i, a in enumerate(values):
        for b in values[i + 1:]:
            if claim.ratio or (not claim.percent and re.search(r"x|\u00d7", claim.text)):
                cands = [a / b, b / a] if a > 0 and b > 0 else []
            elif claim.percent:
                cands = [100.0 * abs(a / b - 1.0), 100.0 * abs(b / a - 1.0)]
                if max(abs(a), abs(b)) <= 1.0:   # shares: percentage points
                    cands.append(100.0 * abs(a - b))
                elif (a, b) in pct_pairs:        # two percentages written: points
                    cands.append(abs(a - b))
            else:
                cands = [abs(a - b)] + ([a / b, b / a] if a > 0 and b > 0 else [])
            if any(_matches(v, c, claim.text) for c in cands):
                return True
    return False


def supported(claim: Claim, figures: Figures) -> bool:
    """Whether a claim is a figure the run showed (a level) or the change between two figures its sentence names."""
    if not isinstance(figures, Figures):  # the older interface: metric -> values
        shown = Figures()
        for k, values in figures.items():
            for v in values:
                shown.add(v, k)
        figures = shown
    if claim.change:
        # "13.1x slowdown": a multiple that is itself a figure of the metric its clause names, or a multiple quoted
        # as it was shown as one (a diagnostic's "ran 13.1x slower than alone"), at the precision written
        return _change(claim, figures) or (claim.ratio and bool(claim.topics) and _level(claim, figures)) or (
            claim.ratio and any(f.ratio and _matches(claim.value, f.value, claim.text, f.decimals)
                                for f in figures.figures))
    if _level(claim, figures) or _change(claim, figures) or _derived(claim, figures):
        return True
    if claim.names and claim.topics and _level(Claim(claim.text, claim.value, claim.percent, False, frozenset(),
                                                     False, frozenset(), (), claim.names), figures, owned=True):
        return True  # a figure of what the sentence names, whatever metric words stand around it
    # a comparison anchored on what the sentence names ("c1-e004 cut it from 49.15 to 22.81"): the other side may be
    # any figure shown, once one number of the sentence is a figure of what it names
    return bool(claim.names) and _level(claim, figures, anyone=True) and any(
        _level(Claim(t, v, "%" in t, False, claim.topics, False, claim.qualifiers, (), claim.names), figures)
        for v, t in claim.operands)


def _derived(claim: Claim, shown: Figures) -> bool:
    """A level its sentence derives: the product or ratio of a number it writes and another it writes or a setting
    of the task ("2,240 blocks = 35,840 tokens": 16 tokens a block), or the lower end of a range that is the bucket
    edge after a figure shown or written ("77-256" after "up to 76")."""
    if claim.range_start and _decimals(claim.text) == 0 and not claim.percent:
        edge = claim.value - 1
        if any(v == edge for v, _ in claim.operands) or any(not f.change and f.value == edge for f in shown.figures):
            return True
    written = [v for v, _ in claim.operands if v]
    settings = {f.value for f in shown.figures if f.setting and f.metric != CODE and f.value}
    for i, a in enumerate(written):
        for b in [*written[:i], *written[i + 1:], *settings]:
            if any(_matches(claim.value, c, claim.text) for c in (a * b, a / b, b / a)):
                return True
    return False


def unsupported(text: str, figures: Figures, about: Iterable[str] = ()) -> list[str]:
    """The numbers ``text`` states as results that nothing the run showed supports, as written (``about``: the
    experiments the text is about, see ``claims_in``)."""
    owners = figures.owners if isinstance(figures, Figures) else {}
    return [c.text for c in claims_in(text, owners, about) if not supported(c, figures)]


def mark_unsupported(text: str, figures: Figures, about: Iterable[str] = ()) -> str:
    """``text`` with each unsupported result marked ``[unmeasured]`` (once, however often it is quoted)."""
    bad = set(unsupported(text, figures, about))
    if not bad:
        return text

    def mark(m: re.Match) -> str:
        marked = m.string.startswith(f" {UNMEASURED}", m.end())
        return m.group(0) + (f" {UNMEASURED}" if m.group(0).strip() in bad and not marked else "")

    return NUMBER.sub(mark, text)
