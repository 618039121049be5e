"""Program evaluations in the telemetry database (the simulator's DuckDB file), for the Analyst's SQL.

Tables (one row per ...):
  program_runs      evaluation: run_id (its key: ``prog-PROGRAM-BENCHMARK``), experiment (the experiment that asked
                    for it), context, variant, status, who (program, evaluator, sandbox: whose failure),
                    failure_kind, failure_message, failure_detail, program_sha256, valid, objective, wall_s,
                    evaluator_s, program_s, program_calls, created_at
  program_metrics   metric of an evaluation: run_id, metric, value (the finite numbers the evaluator reported)
  program_scalars   other scalar it reported: run_id, name, value (text)
  program_texts     text: run_id, name (stdout, stderr, traceback, feedback, ...), text: searchable with LIKE
  program_tables    table artifact of an evaluation: run_id, name, table_name, rows
  case_NAME         one per table artifact NAME (lists of records: per-test-case results, per-config costs):
                    run_id, then the records' own columns (numbers as DOUBLE, anything else as text)

ShinkaEvolve's ``private`` metrics are never written to these tables (the researcher and the Analyst query them):
they go to ``_program_private`` (run_id, metric, value), which the harness reads back with the evaluation (a reused
or resumed evaluation keeps them for the report) and the SQL tool never shows (it reads views of the tables whose
names do not start with ``_``). Held-out and shifted evaluations are not written either: the cases a final design
is judged on are never shown.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

from glia.simulator.harness.telemetry import reading, writing
from glia.tools.programs.record import Artifacts, Failure, ProgramEvaluation

SCHEMA = """
CREATE TABLE IF NOT EXISTS program_runs (
    run_id VARCHAR PRIMARY KEY, experiment VARCHAR, context VARCHAR, variant VARCHAR, status VARCHAR, who VARCHAR,
    failure_kind VARCHAR, failure_message VARCHAR, failure_detail VARCHAR, program_sha256 VARCHAR, valid BOOLEAN,
    objective DOUBLE, wall_s DOUBLE, evaluator_s DOUBLE, program_s DOUBLE, program_calls INTEGER,
    created_at TIMESTAMP DEFAULT current_timestamp);
CREATE TABLE IF NOT EXISTS program_metrics (run_id VARCHAR, metric VARCHAR, value DOUBLE);
CREATE TABLE IF NOT EXISTS program_scalars (run_id VARCHAR, name VARCHAR, value VARCHAR);
CREATE TABLE IF NOT EXISTS program_texts (run_id VARCHAR, name VARCHAR, text VARCHAR);
CREATE TABLE IF NOT EXISTS program_tables (run_id VARCHAR, name VARCHAR, table_name VARCHAR, rows INTEGER);
CREATE TABLE IF NOT EXISTS _program_private (run_id VARCHAR, metric VARCHAR, value DOUBLE);
"""
CASE_PREFIX = "case_"


def table_name(artifact: str) -> str:
    """The DuckDB table of a table artifact: ``case_`` + its name in lower-case letters, digits and underscores."""
    stem = re.sub(r"\.(csv|json|jsonl)$", "", artifact.lower())
    return CASE_PREFIX + (re.sub(r"[^a-z0-9_]+", "_", stem).strip("_") or "table")


def _column(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]+", "_", name).strip("_").lower() or "col"


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def record_evaluation(db: str | Path, run_id: str, ev: ProgramEvaluation, *, experiment: str = "",
                      context: str = "", objective: str = "combined_score") -> None:
    """Write one evaluation (replacing an earlier write of the same ``run_id``: a step re-executed after a crash)."""
    f = ev.failure
    with writing(db) as con:
        con.execute(SCHEMA)
        con.execute("BEGIN")
        tables = [r[0] for r in con.execute("SELECT DISTINCT table_name FROM program_tables WHERE run_id = ?",
                                            [run_id]).fetchall()]
        for t in ("program_runs", "program_metrics", "program_scalars", "program_texts", "program_tables",
                  "_program_private", *tables):
            con.execute(f'DELETE FROM "{t}" WHERE run_id = ?', [run_id])
        con.execute("INSERT INTO program_runs (run_id, experiment, context, variant, status, who, failure_kind, "
                    "failure_message, failure_detail, program_sha256, valid, objective, wall_s, evaluator_s, "
                    "program_s, program_calls) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [run_id, experiment, context, ev.variant, ev.status, f.who if f else None, f.kind if f else None,
                     f.message if f else None, f.detail if f else None, ev.program_sha256, ev.valid,
                     ev.metrics.get(objective), ev.wall_s, ev.evaluator_s, ev.program_s, ev.program_calls])
        if ev.metrics:
            con.executemany("INSERT INTO program_metrics VALUES (?, ?, ?)",
                            [[run_id, k, v] for k, v in ev.metrics.items()])
        if ev.private:
            con.executemany("INSERT INTO _program_private VALUES (?, ?, ?)",
                            [[run_id, k, v] for k, v in ev.private.items()])
        art = ev.artifacts
        if art.scalars:
            con.executemany("INSERT INTO program_scalars VALUES (?, ?, ?)",
                            [[run_id, k, str(v)] for k, v in art.scalars.items()])
        if art.texts:
            con.executemany("INSERT INTO program_texts VALUES (?, ?, ?)",
                            [[run_id, k, v] for k, v in art.texts.items()])
        for name, rows in art.tables.items():
            _write_table(con, run_id, name, rows)
        con.execute("COMMIT")


def _coerce(v):
    """A number written as text (a CSV file's cells) as the number."""
    if isinstance(v, str):
        try:
            x = float(v)
        except ValueError:
            return v
        return x if math.isfinite(x) else v
    return v


def _write_table(con, run_id: str, name: str, rows: list[dict]) -> None:
    table = table_name(name)
    rows = [{k: _coerce(v) for k, v in r.items()} for r in rows]
    columns: dict[str, str] = {}
    for r in rows:
        for k, v in r.items():
            c = _column(k)
            if c == "run_id":
                c = "case_run_id"
            kind = "DOUBLE" if _number(v) or v is None else "VARCHAR"
            columns[c] = "VARCHAR" if columns.get(c) == "VARCHAR" else kind
    con.execute(f'CREATE TABLE IF NOT EXISTS "{table}" (run_id VARCHAR)')
    have = dict(con.execute("SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ? "
                            "AND table_schema = 'main'", [table]).fetchall())
    for c, kind in columns.items():
        if c not in have:
            con.execute(f'ALTER TABLE "{table}" ADD COLUMN "{c}" {kind}')
            have[c] = kind
    cols = list(columns)
    data = []
    for r in rows:
        values = {("case_run_id" if _column(k) == "run_id" else _column(k)): v for k, v in r.items()}
        row = [run_id]
        for c in cols:
            v = values.get(c)
            if have[c] == "DOUBLE":
                v = float(v) if _number(v) else None
            elif v is not None:
                v = v if isinstance(v, str) else json.dumps(v) if not _number(v) else repr(v)
            row.append(v)
        data.append(row)
    if data:
        names = ", ".join(f'"{c}"' for c in ["run_id", *cols])
        con.executemany(f'INSERT INTO "{table}" ({names}) VALUES ({", ".join("?" * (len(cols) + 1))})', data)
    con.execute("INSERT INTO program_tables VALUES (?, ?, ?, ?)", [run_id, name, table, len(rows)])


def stored_evaluation(db: str | Path, run_id: str) -> ProgramEvaluation | None:
    """An evaluation recorded under ``run_id``, read back (metrics, private metrics, scalars, texts; tables stay in
    their tables), or None."""
    if not Path(db).exists():
        return None
    with reading(db) as con:
        try:
            row = con.execute("SELECT status, who, failure_kind, failure_message, failure_detail, program_sha256, "
                              "valid, wall_s, evaluator_s, program_s, program_calls, variant FROM program_runs "
                              "WHERE run_id = ?", [run_id]).fetchone()
        except Exception:  # no program tables yet
            return None
        if row is None:
            return None
        metrics = dict(con.execute("SELECT metric, value FROM program_metrics WHERE run_id = ?", [run_id]).fetchall())
        scalars = dict(con.execute("SELECT name, value FROM program_scalars WHERE run_id = ?", [run_id]).fetchall())
        texts = dict(con.execute("SELECT name, text FROM program_texts WHERE run_id = ?", [run_id]).fetchall())
        tables = dict(con.execute("SELECT name, rows FROM program_tables WHERE run_id = ?", [run_id]).fetchall())
        try:
            private = dict(con.execute("SELECT metric, value FROM _program_private WHERE run_id = ?",
                                       [run_id]).fetchall())
        except Exception:  # a database written before private metrics were kept
            private = {}
    failure = Failure(row[1], row[2], row[3] or "", row[4] or "") if row[2] else None
    art = Artifacts(scalars=scalars, texts=texts)
    art.tables = {name: [] for name in tables}  # their rows are in the case_ tables
    return ProgramEvaluation(status=row[0], metrics=metrics, artifacts=art, program_sha256=row[5] or "",
                             format="", variant=row[11] or "search", failure=failure, valid=row[6], private=private,
                             wall_s=row[7] or 0.0, evaluator_s=row[8], program_s=row[9], program_calls=row[10])
