"""What the query tool's restrictions cost: a query through ``query_telemetry`` (read-only with external access off
and the configuration locked, the views created, the parse tree checked, the deadline armed) against the same query
on a plain read-only DuckDB connection, on a telemetry database of paper-routing runs.

    python -m benchmarks.query_cost [--runs 3] [--repeats 20]

Prints, per query, the median milliseconds of each and the difference.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import duckdb

from glia.simulator.harness.runner import run_benchmark
from glia.tools.telemetry_query import query_telemetry

QUERIES = {
    "count": "SELECT count(*) FROM requests",
    "aggregate by run": "SELECT run_id, avg(e2e_s), quantile_cont(ttft_s, 0.9) FROM requests GROUP BY 1",
    "per-request rows": "SELECT request_id, e2e_s, replica_id FROM requests ORDER BY e2e_s DESC LIMIT 20",
    "join": "SELECT r.policy, avg(q.e2e_s) FROM runs r JOIN requests q USING (run_id) GROUP BY 1",
    "events": "SELECT kind, count(*) FROM scheduling_events GROUP BY 1",
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args()
    db = Path(tempfile.mkdtemp(prefix="glia-query-")) / "telemetry.duckdb"
    for i in range(args.runs):
        run_benchmark("llq", "paper-routing", 5, telemetry=db, run_id=f"r{i}")
    con = duckdb.connect(str(db), read_only=True)
    rows = con.execute("SELECT count(*) FROM requests").fetchone()[0]
    con.close()
    print(f"telemetry: {args.runs} runs of paper-routing x 5 seeds, {rows} request rows; medians of {args.repeats}")

    def plain(sql: str) -> None:
        con = duckdb.connect(str(db), read_only=True)
        try:
            con.execute(sql).fetchmany(51)
        finally:
            con.close()

    for name, sql in QUERIES.items():
        times = {"plain": [], "tool": []}
        for _ in range(args.repeats):
            for key, fn in (("plain", lambda s=sql: plain(s)), ("tool", lambda s=sql: query_telemetry(db, s))):
                t = time.perf_counter()
                fn()
                times[key].append(1e3 * (time.perf_counter() - t))
        p, q = statistics.median(times["plain"]), statistics.median(times["tool"])
        print(f"{name:<18} plain read-only {p:7.2f} ms   query_telemetry {q:7.2f} ms   restrictions {q - p:+7.2f} ms")


if __name__ == "__main__":
    main()
