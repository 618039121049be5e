"""What the telemetry costs on disk: the same experiments written through the current (compact) layout and through
the plain DOUBLE tables of the layout before it, one experiment per write as a run writes them; then what ``glia
gc``'s rewrite (``telemetry.compact``) leaves.

    python -m benchmarks.telemetry_size [--runs 4] [--seeds 5] [--workload paper-routing]

Each run is the llq baseline on WORKLOAD over SEEDS seeds (an experiment of the main job is the same shape: 5 seeds
of paper-routing). Prints rows and bytes per experiment for both layouts.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import duckdb

from glia.simulator.harness import telemetry
from glia.simulator.harness.runner import run_benchmark

# the requests and scheduling_events tables before the compact layout (the other tables are unchanged)
PLAIN = """
CREATE TABLE IF NOT EXISTS requests (
    run_id VARCHAR, seed INTEGER, request_id BIGINT, arrived_at DOUBLE, num_prefill_tokens BIGINT,
    num_decode_tokens BIGINT, routed_at DOUBLE, replica_id INTEGER, scheduled_at DOUBLE, first_token_at DOUBLE,
    completed_at DOUBLE, num_restarts INTEGER, wasted_tokens BIGINT, e2e_s DOUBLE, ttft_s DOUBLE, tpot_s DOUBLE,
    queueing_s DOUBLE, isolated_s DOUBLE, slowdown DOUBLE);
CREATE TABLE IF NOT EXISTS scheduling_events (
    run_id VARCHAR, seed INTEGER, t DOUBLE, kind VARCHAR, request_id BIGINT, replica_id INTEGER, value BIGINT);
CREATE TABLE IF NOT EXISTS replica_samples (
    run_id VARCHAR, seed INTEGER, t DOUBLE, replica_id INTEGER, num_pending INTEGER, num_active INTEGER,
    allocated_blocks INTEGER, num_blocks INTEGER, global_queue INTEGER);
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=4)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--workload", default="paper-routing")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="glia-telemetry-size-"))
    compact, plain = tmp / "compact.duckdb", tmp / "plain.duckdb"
    real = telemetry.insert_frame
    frames: list[tuple[str, dict]] = []

    def capture(con, table, frame, run_id=None, labels=None):
        frames.append((table, {k: v.copy() for k, v in telemetry.plain_frame(frame, run_id, labels).items()}))
        real(con, table, frame, run_id, labels)

    telemetry.insert_frame = capture
    try:
        for i in range(args.runs):
            frames.clear()
            res = run_benchmark("llq", args.workload, args.seeds, telemetry=compact, run_id=f"bench/e{i:03d}")
            if res.error:
                raise SystemExit(f"the run failed: {res.error}")
            con = duckdb.connect(str(plain))  # one connection per experiment, as the writer opens one per run
            con.execute(PLAIN)
            for table, frame in frames:
                con.register("_frame", frame)
                con.execute(f"INSERT INTO {table} ({', '.join(frame)}) SELECT * FROM _frame")
                con.unregister("_frame")
            con.close()
    finally:
        telemetry.insert_frame = real
    with telemetry.reading(compact) as con:
        rows = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in ("requests", "scheduling_events", "replica_samples")}
    n = args.runs
    print(f"{n} experiments (llq on {args.workload}, {args.seeds} seeds each): "
          + ", ".join(f"{v:,} {k}" for k, v in rows.items()) + f" ({rows['requests'] // n:,} requests per experiment)")
    p, c = plain.stat().st_size, compact.stat().st_size
    print(f"plain DOUBLE tables (before):  {p:>12,} bytes  {p / n / 1e6:6.2f} MB per experiment")
    print(f"compact layout (now):          {c:>12,} bytes  {c / n / 1e6:6.2f} MB per experiment  "
          f"({p / c:.2f}x smaller)")
    _, after = telemetry.compact(compact)
    print(f"compact layout after glia gc's rewrite: {after:>12,} bytes  {after / n / 1e6:6.2f} MB per experiment")
    print(f"(the files are in {tmp})")


if __name__ == "__main__":
    main()
