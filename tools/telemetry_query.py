"""The ``query_telemetry`` tool: read-only SQL on the DuckDB telemetry, with schema discovery and size caps."""

from __future__ import annotations

from pathlib import Path

import duckdb

from glia.simulator.telemetry import reading

MAX_ROWS = 50
MAX_CHARS = 6000


def schema(db: Path) -> str:
    """The tables and their columns, one line per table."""
    if not db.exists():
        return "the telemetry database is empty: run a simulation first"
    with reading(db) as con:
        rows = con.execute("SELECT table_name, string_agg(column_name || ' ' || data_type, ', ' ORDER BY "
                           "ordinal_position) FROM information_schema.columns GROUP BY 1 ORDER BY 1").fetchall()
    return "\n".join(f"{t}({cols})" for t, cols in rows)


def query_telemetry(db: Path, sql: str, max_rows: int = MAX_ROWS, max_chars: int = MAX_CHARS) -> str:
    """Run one read-only query; the answer is a small text table, capped in rows and characters. An empty query
    or ``SCHEMA`` returns the schema."""
    sql = (sql or "").strip().rstrip(";")
    if not sql or sql.upper() == "SCHEMA":
        return schema(db)
    first = sql.split(None, 1)[0].upper()
    if first not in ("SELECT", "WITH", "DESCRIBE", "SHOW", "SUMMARIZE", "EXPLAIN", "PRAGMA"):
        raise ValueError(f"only read-only queries are allowed (SELECT/WITH/DESCRIBE...), got {first}")
    if not db.exists():
        raise ValueError("the telemetry database is empty: run a simulation first")
    with reading(db) as con:
        try:
            cur = con.execute(sql)
        except duckdb.Error as exc:
            raise ValueError(f"SQL error: {exc}") from None
        names = [d[0] for d in cur.description or []]
        rows = cur.fetchmany(max_rows + 1)
    more = len(rows) > max_rows
    rows = rows[:max_rows]
    lines = [" | ".join(names)] + [" | ".join(_cell(v) for v in r) for r in rows]
    text = "\n".join(lines)
    if len(text) > max_chars:
        text = text[:max_chars] + f"\n... (cut at {max_chars} characters)"
    elif more:
        text += f"\n... (more than {max_rows} rows; aggregate or add LIMIT)"
    return text


def _cell(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)
