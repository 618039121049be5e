"""What one evaluation of a candidate program produced: metrics, artifacts, and whose failure it was.

Metrics are the finite numbers the evaluator reported (booleans as 0/1); everything else it reported is an
artifact: a scalar (a string, a non-finite number), a table (a list of records: per-case results, per-config
costs), or a text (stdout, stderr, tracebacks, feedback). ShinkaEvolve's ``private`` metrics are kept apart: they
are for the report, never for the researcher.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Literal

Who = Literal["program", "evaluator", "sandbox", "unknown"]
TEXT_MAX = 64_000     # characters kept of one text artifact
TABLE_MAX = 10_000    # rows kept of one table artifact
# the status of an evaluation: ok, the program's failures, the evaluator's, the sandbox's
PROGRAM_KINDS = ("invalid", "program_error", "program_timeout", "program_crashed", "program_load_error")
EVALUATOR_KINDS = ("evaluator_error", "evaluator_timeout", "no_metrics", "bad_metrics")
OTHER_KINDS = ("sandbox", "timeout")


@dataclass
class Failure:
    """Why an evaluation did not give a valid measurement, and whose fault it was."""

    who: Who
    kind: str
    message: str
    detail: str = ""  # a traceback, or the tail of an output

    def text(self) -> str:
        return f"{self.kind} ({self.who}): {self.message}"


@dataclass
class Artifacts:
    scalars: dict[str, float | str | bool] = field(default_factory=dict)
    tables: dict[str, list[dict]] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, value) -> None:
        """File ``value`` under ``name`` by its shape."""
        if isinstance(value, bytes):
            value = value.decode(errors="replace")
        if isinstance(value, str):
            if "\n" in value or len(value) > 200:
                self.texts[name] = cap(value)
            else:
                self.scalars[name] = value
        elif isinstance(value, bool) or isinstance(value, (int, float)):
            self.scalars[name] = value
        elif value is None:
            self.scalars[name] = "None"
        elif isinstance(value, list) and value and all(isinstance(r, dict) for r in value):
            self.tables[name] = [{str(k): _cell(v) for k, v in r.items()} for r in value[:TABLE_MAX]]
        elif isinstance(value, dict) and value and all(_is_scalar(v) for v in value.values()):
            for k, v in value.items():
                self.add(f"{name}.{k}", v)
        else:
            self.texts[name] = cap(json.dumps(value, default=str, indent=1))

    def to_dict(self) -> dict:
        return asdict(self)


def _is_scalar(v) -> bool:
    return v is None or isinstance(v, (str, bytes, bool, int, float))


def _cell(v):
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    return json.dumps(v, default=str)


def cap(text: str, limit: int = TEXT_MAX) -> str:
    if len(text) <= limit:
        return text
    half = limit // 2
    return text[:half] + f"\n... ({len(text) - limit} characters cut) ...\n" + text[-half:]


def split_metrics(raw: dict, artifacts: Artifacts, prefix: str = "") -> dict[str, float]:
    """The finite numbers of ``raw`` (booleans as 0/1, nested dicts flattened as ``a.b``); the rest into
    ``artifacts``."""
    out: dict[str, float] = {}
    for key, value in raw.items():
        name = f"{prefix}{key}"
        if isinstance(value, bool):
            out[name] = 1.0 if value else 0.0
        elif isinstance(value, (int, float)) and math.isfinite(value):
            out[name] = float(value)
        elif isinstance(value, (int, float)):
            artifacts.scalars[name] = str(value)  # nan, inf: not a measurement
        elif isinstance(value, dict) and value and all(_is_scalar(v) or isinstance(v, dict) for v in value.values()):
            out.update(split_metrics(value, artifacts, prefix=f"{name}."))
        else:
            artifacts.add(name, value)
    return out


@dataclass
class ProgramEvaluation:
    """One evaluation of one program by one evaluator (one variant), in a fresh copy of the working directory.

    ``status`` is ``ok``, ``invalid`` (the evaluator ran and found the program invalid), or the kind of the
    ``failure``. ``evaluator_s`` is the evaluator's own time as measured in its process (OpenEvolve format: around
    ``evaluate``), ``program_s`` the time the program's process spent answering (split isolation), ``wall_s`` the
    whole evaluation as the caller waited for it (copy, sandbox, interpreter start-ups included)."""

    status: str
    metrics: dict[str, float]
    artifacts: Artifacts
    program_sha256: str
    format: str
    variant: str = "search"
    failure: Failure | None = None
    valid: bool | None = None
    private: dict[str, float] = field(default_factory=dict)
    isolation: str = ""
    wall_s: float = 0.0
    evaluator_s: float | None = None
    program_s: float | None = None
    program_calls: int | None = None
    events: list[dict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        """One line: the status, the objective-like figures, the failure."""
        head = ", ".join(f"{k}={v:.4g}" for k, v in list(self.metrics.items())[:6])
        text = f"{self.status} [{self.variant}] {head}"
        if self.failure:
            text += f" - {self.failure.text()}"
        return text
