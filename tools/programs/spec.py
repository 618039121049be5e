"""How a program task's evaluator is run: the ``[evaluator]`` table of a task, typed (``state/tasks/program_task.py``
validates the TOML; ``EvaluatorSpec.from_table`` takes its normalised table)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

Format = Literal["openevolve", "shinka", "command"]
Isolation = Literal["split", "shared"]
FORMATS: tuple[str, ...] = ("openevolve", "shinka", "command")
ISOLATIONS: tuple[str, ...] = ("split", "shared")
DEFAULT_TIMEOUT_S = 60.0
DEFAULT_MEMORY_MB = 4096
# what is never copied into an evaluation's fresh working directory
COPY_IGNORE = (".git", ".hg", ".svn", "__pycache__", "*.pyc", ".glia", ".ipynb_checkpoints", "openevolve_output",
               "results_*", ".pytest_cache", ".venv", "venv")


@dataclass(frozen=True)
class Variant:
    """A way of running the evaluator on other cases: environment variables it reads, arguments appended to its
    command line (ShinkaEvolve, command), keyword arguments of ``evaluate`` (OpenEvolve's ``evaluator_args``)."""

    env: dict[str, str] = field(default_factory=dict)
    args: tuple[str, ...] = ()
    kwargs: dict = field(default_factory=dict)


@dataclass(frozen=True)
class EvaluatorSpec:
    """One evaluator and how to run it.

    ``workdir`` is copied afresh for every evaluation and is the evaluator's working directory. ``program_file`` is
    the candidate's file name there (the starter's). ``entry``: the OpenEvolve evaluator file (``evaluate(path)``,
    ``evaluate_stage1..3``) or the ShinkaEvolve ``evaluate.py``; ``command``: for the command format, the argv with
    ``{program}`` and ``{results}`` placeholders, printing a JSON object of metrics. ``timeout_s`` bounds the whole
    evaluation. ``isolation``: ``split`` runs the program in a confined process of its own that cannot reach the
    evaluator's files (``bridge.py``); ``shared`` loads it into the evaluator's process (for evaluators that read the
    program's text or hand it objects that cannot cross a pipe), where it can read what the evaluator reads.
    ``program_reads``: files of the working directory the program itself imports or reads (copied beside it).
    ``validity``: a metric and the least value a valid program reaches (ShinkaEvolve's ``correct.json`` is one
    anyway)."""

    format: Format
    workdir: Path
    program_file: str
    entry: str = ""
    command: tuple[str, ...] = ()
    timeout_s: float = DEFAULT_TIMEOUT_S
    memory_mb: int = DEFAULT_MEMORY_MB
    cascade: tuple[float, ...] | None = None
    isolation: Isolation = "split"
    program_reads: tuple[str, ...] = ()
    variants: dict[str, Variant] = field(default_factory=dict)
    validity: tuple[str, float] | None = None
    objective: str = "combined_score"
    env: dict[str, str] = field(default_factory=dict)
    args: tuple[str, ...] = ()
    kwargs: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.format not in FORMATS:
            raise ValueError(f"evaluator format {self.format!r} is not one of {', '.join(FORMATS)}")
        if self.isolation not in ISOLATIONS:
            raise ValueError(f"evaluator isolation {self.isolation!r} is not one of {', '.join(ISOLATIONS)}")
        if self.format == "command" and not self.command:
            raise ValueError("a command evaluator needs its command")
        if self.format != "command" and not self.entry:
            raise ValueError(f"an {self.format} evaluator needs its entry file")

    def copied_files(self):
        """The working directory's files an evaluation copies (``COPY_IGNORE`` left out), in a fixed order:
        (relative path, path)."""
        import fnmatch
        import os

        for top, dirs, files in os.walk(self.workdir):
            dirs[:] = sorted(d for d in dirs if not any(fnmatch.fnmatch(d, p) for p in COPY_IGNORE))
            for name in sorted(files):
                if not any(fnmatch.fnmatch(name, p) for p in COPY_IGNORE):
                    path = Path(top) / name
                    yield path.relative_to(self.workdir).as_posix(), path

    def identity(self, variant: str = "search") -> str:
        """A digest of the benchmark an evaluation measures: the working directory's files (names and contents, as
        copied), how the evaluator is run, and the variant. With the program's digest it is an evaluation's key:
        the same program on the same benchmark is one evaluation, charged once; a changed evaluator file or test
        case is another benchmark."""
        import hashlib
        import json

        h = hashlib.sha256()
        for rel, path in self.copied_files():
            if rel != self.program_file:  # that one is replaced by the candidate
                h.update(rel.encode() + b"\0")
                h.update(hashlib.sha256(path.read_bytes()).digest())
        v = self.variant(variant)
        how = {"format": self.format, "entry": self.entry, "command": list(self.command), "cascade": self.cascade,
               "isolation": self.isolation, "program_file": self.program_file, "reads": list(self.program_reads),
               "env": self.env, "args": list(self.args), "kwargs": self.kwargs, "variant": variant,
               "variant_env": v.env, "variant_args": list(v.args), "variant_kwargs": v.kwargs}
        h.update(json.dumps(how, sort_keys=True, default=str).encode())
        return h.hexdigest()[:16]

    def variant(self, name: str) -> Variant:
        """The variant called ``name``; ``search`` is the evaluator as it is."""
        if name == "search":
            return Variant()
        if name not in self.variants:
            have = ", ".join(["search", *self.variants]) or "search"
            raise ValueError(f"this evaluator has no {name!r} variant (it has: {have})")
        return self.variants[name]

    @classmethod
    def from_table(cls, table: dict, *, objective: str = "combined_score", validity: tuple[str, float] | None = None,
                   timeout_s: float | None = None) -> EvaluatorSpec:
        """From the normalised ``[evaluator]`` table of ``state.program_task.validate_program_task`` (``timeout_s``:
        the one derived from the starter when the table says "auto")."""
        variants = {name: Variant(env=dict(v.get("env", {})), args=tuple(v.get("args", ())),
                                  kwargs=dict(v.get("kwargs", {})))
                    for name, v in (table.get("variants") or {}).items()}
        return cls(format=table["format"], workdir=Path(table["workdir"]), program_file=table["program_file"],
                   entry=table.get("entry", ""), command=tuple(table.get("command", ())),
                   timeout_s=float(timeout_s or table.get("timeout_s") or DEFAULT_TIMEOUT_S),
                   memory_mb=int(table.get("memory_mb", DEFAULT_MEMORY_MB)),
                   cascade=tuple(table["cascade"]) if table.get("cascade") else None,
                   isolation=table.get("isolation", "split"), program_reads=tuple(table.get("program_reads", ())),
                   variants=variants, validity=validity, objective=objective, env=dict(table.get("env", {})),
                   args=tuple(table.get("args", ())), kwargs=dict(table.get("kwargs", {})))


def derive_timeout(starter_s: list[float] | float) -> float:
    """A timeout from the starter's measured evaluation time(s): ample for a program several times slower than the
    starter on a loaded machine, short enough that a looping program costs little."""
    times = starter_s if isinstance(starter_s, list) else [starter_s]
    worst = max(times) if times else DEFAULT_TIMEOUT_S / 10
    return float(round(max(10.0, 5.0 * worst + 5.0), 1))


def spec_for_task(task: dict, timeout_s: float | None = None) -> EvaluatorSpec:
    """The evaluator of a validated program task (``state.program_task.validate_program_task``): its objective, and
    its constraint's lower bound as the validity check (``correct`` >= 1 for ShinkaEvolve is the format's own)."""
    c = task["objective"].get("constraint")
    validity = (c["metric"], c["min"]) if c and c.get("min") is not None and c["metric"] != "correct" else None
    return EvaluatorSpec.from_table(task["evaluator"], objective=task["objective"]["metric"], validity=validity,
                                    timeout_s=timeout_s)
