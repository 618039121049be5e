"""The budget ledger: every evaluation a search makes, charged once, in one SQLite file shared by processes.

A search (a *unit*: one method's run on a task) has a cap in simulations. ``reserve`` charges an evaluation by its
key before it runs: a key already charged is not charged again (a retried tool step, a library that evaluates the
same program twice), and a unit at its cap gets nothing (the evaluation is refused, not run). The unchanged
starter of a program task, already measured for the baseline, is a row of its unit that is never charged
(``note_baseline``). Libraries count
their own way (OpenEvolve's checkpoints, llm4ad's sample counters); this ledger is the count that is reported.
Rows hold what each evaluation measured and when, so curves of the best design so far are read from here, and
what it was a measurement of (``program`` and ``benchmark`` digests, ``identity.py``): a key is read back as a
repeat only for the same program on the same benchmark (``Evaluator.evaluate``).
"""

from __future__ import annotations

import json
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS units (
    unit TEXT PRIMARY KEY, cap INTEGER NOT NULL, started_at REAL NOT NULL, tokens INTEGER DEFAULT 0,
    calls INTEGER DEFAULT 0, usd REAL DEFAULT 0.0);
CREATE TABLE IF NOT EXISTS evaluations (
    unit TEXT NOT NULL, key TEXT NOT NULL, seq INTEGER NOT NULL, status TEXT NOT NULL, score REAL, value REAL,
    metrics TEXT, error_kind TEXT, error_message TEXT, code_hash TEXT, snapshot TEXT, label TEXT, sim_s REAL,
    wall_s REAL, charged_at REAL NOT NULL, finished_at REAL, tokens INTEGER, feasible INTEGER, violation REAL,
    program TEXT, benchmark TEXT, PRIMARY KEY (unit, key));
"""
# columns older ledger files lack
ADDED_COLUMNS = {"feasible": "INTEGER", "violation": "REAL", "program": "TEXT", "benchmark": "TEXT"}


# the rows that were charged: all but the unchanged starter answered by its baseline measurement (``note_baseline``)
CHARGED = "status != 'baseline'"


def charged(rows: list[dict]) -> list[dict]:
    """The charged ones of a unit's rows."""
    return [r for r in rows if r.get("status") != "baseline"]


@dataclass(frozen=True)
class Charge:
    """A reservation: the evaluation's place in its unit (1, 2, ...) and whether an earlier one holds the key."""

    seq: int
    repeat: bool


class BudgetLedger:
    """Evaluations per unit, capped; safe across threads and processes (SQLite in WAL mode, short transactions)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(str(self.path), timeout=60)
        try:
            con.execute("PRAGMA journal_mode=WAL")
            con.executescript(SCHEMA)
            have = {r[1] for r in con.execute("PRAGMA table_info(evaluations)")}
            for name, kind in ADDED_COLUMNS.items():
                if name not in have:
                    con.execute(f"ALTER TABLE evaluations ADD COLUMN {name} {kind}")
        finally:
            con.close()

    @contextmanager
    def _tx(self):
        con = sqlite3.connect(str(self.path), timeout=60, isolation_level=None)
        try:
            con.execute("BEGIN IMMEDIATE")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")
        finally:
            con.close()

    def open_unit(self, unit: str, cap: int) -> None:
        """Create the unit (idempotent: a resumed unit keeps its start time and what it charged)."""
        with self._tx() as con:
            con.execute("INSERT OR IGNORE INTO units (unit, cap, started_at) VALUES (?, ?, ?)",
                        (unit, cap, time.time()))

    def reset_unit(self, unit: str) -> None:
        """Forget a unit's evaluations (a search restarted from scratch)."""
        with self._tx() as con:
            con.execute("DELETE FROM evaluations WHERE unit = ?", (unit,))
            con.execute("UPDATE units SET started_at = ?, tokens = 0, calls = 0, usd = 0.0 WHERE unit = ?",
                        (time.time(), unit))

    def reserve(self, unit: str, key: str, label: str = "", identity: dict | None = None) -> Charge | None:
        """Charge one simulation for ``key`` (a measurement of ``identity``: program and benchmark); None when the
        unit's cap is reached (nothing may run)."""
        ident = identity or {}
        with self._tx() as con:
            row = con.execute("SELECT seq FROM evaluations WHERE unit = ? AND key = ?", (unit, key)).fetchone()
            if row:
                return Charge(row[0], True)
            cap = con.execute("SELECT cap FROM units WHERE unit = ?", (unit,)).fetchone()
            if cap is None:
                raise KeyError(f"unknown ledger unit {unit!r}")
            used = con.execute(f"SELECT count(*) FROM evaluations WHERE unit = ? AND {CHARGED}", (unit,)).fetchone()[0]
            if used >= cap[0]:
                return None
            tokens = con.execute("SELECT tokens FROM units WHERE unit = ?", (unit,)).fetchone()[0]
            con.execute("INSERT INTO evaluations (unit, key, seq, status, label, charged_at, tokens, program, "
                        "benchmark) VALUES (?, ?, ?, 'running', ?, ?, ?, ?, ?)",
                        (unit, key, used + 1, label, time.time(), tokens, ident.get("program"),
                         ident.get("benchmark")))
            return Charge(used + 1, False)

    def release(self, unit: str, key: str) -> None:
        """Give back a reservation whose evaluation never ran to its end (the user stopped it)."""
        with self._tx() as con:
            con.execute("DELETE FROM evaluations WHERE unit = ? AND key = ? AND status = 'running'", (unit, key))

    def record(self, unit: str, key: str, result: dict) -> None:
        """What an evaluation measured (``Evaluator.evaluate``'s result)."""
        err = result.get("error") or {}
        with self._tx() as con:
            con.execute("UPDATE evaluations SET status = ?, score = ?, value = ?, metrics = ?, error_kind = ?, "
                        "error_message = ?, code_hash = ?, snapshot = ?, sim_s = ?, wall_s = ?, finished_at = ?, "
                        "feasible = ?, violation = ? WHERE unit = ? AND key = ?",
                        (result.get("status", "ok"), _finite(result.get("score")), _finite(result.get("value")),
                         json.dumps(_finite_dict(result.get("metrics") or {})), err.get("kind"),
                         err.get("message"), result.get("hash"), result.get("snapshot"), result.get("sim_s"),
                         result.get("wall_s"), time.time(), int(bool(result.get("feasible", True))),
                         _finite(result.get("violation")), unit, key))

    def add_usage(self, unit: str, tokens: int = 0, calls: int = 0, usd: float = 0.0) -> None:
        with self._tx() as con:
            con.execute("UPDATE units SET tokens = tokens + ?, calls = calls + ?, usd = usd + ? WHERE unit = ?",
                        (tokens, calls, usd, unit))

    def used(self, unit: str) -> int:
        """The unit's charged evaluations."""
        with self._tx() as con:
            return con.execute(f"SELECT count(*) FROM evaluations WHERE unit = ? AND {CHARGED}",
                               (unit,)).fetchone()[0]

    def note_baseline(self, unit: str, key: str, label: str, result: dict) -> None:
        """An evaluation of the unchanged starter answered by its baseline measurement: a row of the unit (its
        search's best may be the starter), in first place, never charged nor counted."""
        with self._tx() as con:
            con.execute("INSERT OR IGNORE INTO evaluations (unit, key, seq, status, label, charged_at) "
                        "VALUES (?, ?, 0, 'baseline', ?, ?)", (unit, key, label, time.time()))
        self.record(unit, key, {**result, "status": "baseline"})

    def unit(self, unit: str) -> dict | None:
        with self._tx() as con:
            con.row_factory = sqlite3.Row
            row = con.execute("SELECT * FROM units WHERE unit = ?", (unit,)).fetchone()
            return dict(row) if row else None

    def row(self, unit: str, key: str) -> dict | None:
        """One evaluation of the unit by its key (``metrics`` decoded), or None."""
        with self._tx() as con:
            con.row_factory = sqlite3.Row
            row = con.execute("SELECT * FROM evaluations WHERE unit = ? AND key = ?", (unit, key)).fetchone()
        if row is None:
            return None
        out = dict(row)
        out["metrics"] = json.loads(out["metrics"]) if out["metrics"] else {}
        return out

    def rows(self, unit: str) -> list[dict]:
        """The unit's evaluations in the order they were charged (``metrics`` decoded; None score = failed)."""
        with self._tx() as con:
            con.row_factory = sqlite3.Row
            rows = [dict(r) for r in con.execute("SELECT * FROM evaluations WHERE unit = ? ORDER BY seq", (unit,))]
        for r in rows:
            r["metrics"] = json.loads(r["metrics"]) if r["metrics"] else {}
        return rows


def _finite(v):
    return v if isinstance(v, (int, float)) and v == v and abs(v) != float("inf") else None


def _finite_dict(d: dict) -> dict:
    return {k: _finite(v) for k, v in d.items()}
