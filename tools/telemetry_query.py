"""The ``query_telemetry`` tool: SQL that can only read the telemetry, through views, with schema discovery and caps.

A model writes the query, so it is treated as hostile:

- the database is opened read-only with DuckDB's ``enable_external_access = false`` (no file, no URL, no
  ``COPY ... TO``, no ``ATTACH``, no extension installed or loaded) and ``lock_configuration`` (a query cannot turn
  either back on), a memory cap, no spilling to disk, and a deadline (the query is interrupted);
- the text must be exactly one statement, a ``SELECT`` (``WITH``, ``FROM``-first, ``DESCRIBE``, ``SUMMARIZE`` and
  ``SHOW`` are SELECTs to DuckDB's parser); its parse tree (``json_serialize_sql``) may name only the views below
  and its own CTEs, unqualified (no catalog or schema: those would reach the tables behind the views), and no table
  function but ``range``, ``generate_series`` and ``unnest``;
- what it reads are views: every table of the database, less the runs of the held-out evaluation (the seeds a final
  design is judged on are never shown, so no policy can memorise them), and on the task's seeds the hidden decode
  lengths only as aggregates: ``requests`` has no ``num_decode_tokens`` column, a ``complete`` event's ``value``
  (processed tokens, which include it) is NULL, and ``decode_lengths`` gives per run and seed their count, mean,
  quantiles and maximum. Per-request times stay (they are what is analysed), so a determined model can still
  estimate a request's length from ``completed_at - first_token_at`` and ``tpot_s``: memorising it pays only on the
  task's seeds, which is why a design's final figures come from held-out seeds (and its best from a hardened run);
- a query that names a run whose per-request rows ``glia gc`` dropped is answered with an error saying so (its
  answer would be empty and look like data), and one that reads per-request rows while some runs have none left
  gets a note saying how many (``pruned_runs`` lists them; ``runs`` and ``run_seeds`` keep their figures).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import duckdb

from glia.simulator.harness.telemetry import reading

MAX_ROWS = 50
MAX_CHARS = 6000
DEADLINE_S = 30.0
MEMORY_LIMIT = "1GB"
CONFIG = {"enable_external_access": False, "lock_configuration": True, "memory_limit": MEMORY_LIMIT, "threads": 2,
          "temp_directory": "", "autoinstall_known_extensions": False, "autoload_known_extensions": False}
TABLE_FUNCTIONS = ("range", "generate_series", "unnest")
HELDOUT_CONTEXT = "heldout"
AGGREGATE_VIEW = "decode_lengths"
PRUNED_VIEW = "pruned_runs"
# the views of per-request rows (what ``glia gc`` drops for old runs)
ROW_VIEWS = frozenset({"requests", "scheduling_events", "replica_samples", AGGREGATE_VIEW, "served_requests",
                       "backend_samples"})


class QueryRefused(ValueError):
    """The query does something the tool does not allow; the message says what."""


def _views(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Create the views this connection reads (temporary: the database itself is read-only); their names."""
    catalog = con.execute("SELECT current_database()").fetchone()[0]
    tables = con.execute("SELECT table_name, list(column_name ORDER BY ordinal_position) FROM "
                         "information_schema.columns WHERE table_catalog = ? AND table_schema = 'main' "
                         "GROUP BY 1 ORDER BY 1", [catalog]).fetchall()
    names = {t for t, _ in tables}
    src = f'"{catalog.replace(chr(34), chr(34) * 2)}".main'
    heldout = (f"run_id NOT IN (SELECT run_id FROM {src}.runs WHERE context = '{HELDOUT_CONTEXT}')"
               if "runs" in names else "TRUE")
    out = []
    for table, cols in tables:
        if table.startswith(("_", "duckdb")):
            continue
        select = []
        for c in cols:
            q = '"' + c.replace('"', '""') + '"'
            if table == "requests" and c == "num_decode_tokens":
                continue
            if table == "scheduling_events" and c == "value":
                select.append(f"CASE WHEN kind = 'complete' THEN NULL ELSE {q} END AS {q}")
            else:
                select.append(q)
        where = heldout if "run_id" in cols else "TRUE"
        con.execute(f'CREATE TEMP VIEW "{table}" AS SELECT {", ".join(select)} FROM {src}."{table}" WHERE {where}')
        out.append(table)
    if "requests" in names:
        con.execute(f"CREATE TEMP VIEW {AGGREGATE_VIEW} AS SELECT run_id, seed, count(*) AS requests, "
                    "avg(num_decode_tokens) AS mean, quantile_cont(num_decode_tokens, 0.5) AS p50, "
                    "quantile_cont(num_decode_tokens, 0.9) AS p90, quantile_cont(num_decode_tokens, 0.99) AS p99, "
                    f"max(num_decode_tokens) AS max FROM {src}.requests WHERE {heldout} GROUP BY run_id, seed")
        out.append(AGGREGATE_VIEW)
    return out


def _check(con: duckdb.DuckDBPyConnection, sql: str, views: list[str]) -> set[str]:
    """Refuse anything but one SELECT over the views (see the module docstring); the views it reads."""
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise ValueError(f"SQL error: {exc}") from None
    if len(statements) != 1:
        raise QueryRefused(f"only one statement per query ({len(statements)} given)")
    if statements[0].type != duckdb.StatementType.SELECT:
        raise QueryRefused(f"only read-only queries are allowed (SELECT/WITH/DESCRIBE/SUMMARIZE...), got "
                           f"{statements[0].type.name}")
    tree = json.loads(con.execute("SELECT json_serialize_sql(?)", [sql]).fetchone()[0])
    if tree.get("error"):
        raise QueryRefused(f"the query cannot be checked: {tree.get('error_message', 'not a plain SELECT')}")
    ctes: set[str] = set()
    refs: list[dict] = []

    def walk(node) -> None:
        if isinstance(node, dict):
            for entry in (node.get("cte_map") or {}).get("map") or []:
                if isinstance(entry, dict) and isinstance(entry.get("key"), str):
                    ctes.add(entry["key"].lower())
            if node.get("type") in ("BASE_TABLE", "TABLE_FUNCTION") or node.get("class") == "FUNCTION":
                refs.append(node)
            for key in ("catalog_name", "schema_name", "catalog", "schema"):
                if node.get(key):
                    raise QueryRefused(f"names are unqualified here (no catalog or schema: {node[key]!r}); the "
                                       f"tables are {', '.join(views)}")
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(tree["statements"])
    allowed = {v.lower() for v in views} | ctes
    for ref in refs:
        if ref.get("type") == "BASE_TABLE" and str(ref.get("table_name", "")).lower() not in allowed:
            raise QueryRefused(f"no table {ref.get('table_name')!r}; the tables are {', '.join(views)}")
        if ref.get("type") == "TABLE_FUNCTION":
            name = str((ref.get("function") or {}).get("function_name", "")).lower()
            if name not in TABLE_FUNCTIONS:
                raise QueryRefused(f"the table function {name}() is not available (files, the network and the "
                                   f"database's internals are out of reach); only {', '.join(TABLE_FUNCTIONS)}")
    return {str(ref.get("table_name", "")).lower() for ref in refs if ref.get("type") == "BASE_TABLE"} - ctes


def _pruned(con: duckdb.DuckDBPyConnection, sql: str, views: list[str], read: set[str]) -> str:
    """What ``glia gc`` took from this query's answer: an error naming the runs if the query names a run whose
    per-request rows were dropped (its answer would be empty, or partial, and look like data), else a note to append
    when it reads per-request rows while some runs have none left; "" when nothing was dropped."""
    if PRUNED_VIEW not in views or not read & ROW_VIEWS:
        return ""
    pruned = [r for (r,) in con.execute(f"SELECT run_id FROM {PRUNED_VIEW} ORDER BY run_id").fetchall()]
    if not pruned:
        return ""
    named = [r for r in pruned if r in sql]
    if named:
        raise ValueError(f"the per-request rows (requests, events, samples) of {', '.join(named)} were dropped by "
                         f"`glia gc`; its figures remain in runs and run_seeds ({PRUNED_VIEW} lists the runs gc "
                         "pruned)")
    return (f"\n(the per-request rows of {len(pruned)} run(s) were dropped by `glia gc` and are not in this "
            f"answer; {PRUNED_VIEW} lists them, runs and run_seeds keep their figures)")


def schema(db: Path) -> str:
    """The tables (views) a query may read and their columns, one line per table."""
    if not db.exists():
        return "the telemetry database is empty: run a simulation first"
    with reading(db, config=CONFIG) as con:
        views = _views(con)
        rows = con.execute("SELECT table_name, string_agg(column_name || ' ' || data_type, ', ' ORDER BY "
                           "ordinal_position) FROM information_schema.columns WHERE table_catalog = 'temp' GROUP BY "
                           "1 ORDER BY 1").fetchall()
    note = (f"\n(requests has no num_decode_tokens: the hidden decode lengths are shown as aggregates only, in "
            f"{AGGREGATE_VIEW}; held-out runs are not shown)") if AGGREGATE_VIEW in views else ""
    return "\n".join(f"{t}({cols})" for t, cols in rows) + note


def query_telemetry(db: Path, sql: str, max_rows: int = MAX_ROWS, max_chars: int = MAX_CHARS,
                    deadline_s: float = DEADLINE_S) -> str:
    """Run one read-only query; the answer is a small text table, capped in rows and characters. An empty query
    or ``SCHEMA`` returns the schema."""
    sql = (sql or "").strip().rstrip(";").strip()
    if not sql or sql.upper() == "SCHEMA":
        return schema(db)
    if not db.exists():
        raise ValueError("the telemetry database is empty: run a simulation first")
    with reading(db, config=CONFIG) as con:
        views = _views(con)
        note = _pruned(con, sql, views, _check(con, sql, views))
        timer = threading.Timer(deadline_s, con.interrupt)
        timer.start()
        try:
            cur = con.execute(sql)
            names = [d[0] for d in cur.description or []]
            rows = cur.fetchmany(max_rows + 1)
        except duckdb.InterruptException:
            raise ValueError(f"the query ran longer than {deadline_s:g} s and was stopped; aggregate more, or add "
                             "LIMIT") from None
        except duckdb.Error as exc:
            raise ValueError(f"SQL error: {exc}") from None
        finally:
            timer.cancel()
    more = len(rows) > max_rows
    rows = rows[:max_rows]
    lines = [" | ".join(names)] + [" | ".join(_cell(v) for v in r) for r in rows]
    text = "\n".join(lines)
    if len(text) > max_chars:
        text = text[:max_chars] + f"\n... (cut at {max_chars} characters)"
    elif more:
        text += f"\n... (more than {max_rows} rows; aggregate or add LIMIT)"
    return text + note


def _cell(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    s = str(v)
    return s if len(s) <= 500 else s[:500] + "..."
