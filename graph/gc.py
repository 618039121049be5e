"""``glia gc``: drop the per-request telemetry of old runs, keep everything that summarises them.

A run's per-request rows (requests, scheduling events, replica samples) are what the telemetry database is made of
(most of a run's bytes) and are read only while the run is designing: its Analyst's SQL and diagnostics look at the
experiments of that run. Afterwards what a user reads is the run's report, ledger and checkpoints (files and
``checkpoints.sqlite``, untouched) and its figures (the ``runs`` and ``run_seeds`` rows, kept). ``glia gc`` drops the
rows of the runs named, or of the finished runs beyond the newest N or older than some days, records them in
``pruned_runs`` (so a later query on them says so instead of answering with nothing), and rewrites the file so the
space is given back. Without a selection it lists what each run holds.

Importing this module loads nothing of Glia but the workspace's layout; the handler imports DuckDB when it runs.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from pathlib import Path

from glia.graph.workspace import list_runs
from glia.simulator.harness.workspace import DEFAULT_WORKSPACE, Paths


def add_command(sub: argparse._SubParsersAction) -> None:
    g = sub.add_parser("gc", help="drop the per-request telemetry of old runs (their reports and figures stay) "
                                  "and give the space back; alone: what each run holds")
    g.add_argument("runs", nargs="*", metavar="THREAD",
                   help="runs whose per-request rows to drop (a thread id, or a telemetry run id, e.g. of glia "
                        "simulate)")
    g.add_argument("--keep", type=int, metavar="N",
                   help="drop the rows of every finished run but the N newest")
    g.add_argument("--older-than", type=float, metavar="DAYS",
                   help="drop the rows of the finished runs started more than DAYS days ago")
    g.add_argument("--compact", action="store_true",
                   help="rewrite the database even if no rows are dropped (gives back space freed earlier, and "
                        "converts a database written before the compact layout)")
    g.add_argument("--dry-run", action="store_true", help="say what would be dropped, change nothing")
    g.add_argument("--workspace", default=DEFAULT_WORKSPACE)
    g.set_defaults(func=cmd_gc)


def cmd_gc(args) -> int:
    from glia.simulator.harness import telemetry

    paths = Paths(Path(args.workspace).resolve())
    if not paths.db.exists():
        print(f"no telemetry in {args.workspace}: nothing to drop")
        return 0
    if args.keep is not None and args.keep < 0:
        raise ValueError(f"--keep {args.keep}: give the number of newest runs to keep (0 or more)")
    runs = sorted(list_runs(paths.workspace), key=lambda r: r["created_at"])
    threads = [r["thread_id"] for r in runs]
    with telemetry.reading(paths.db) as con:
        known = {r for (r,) in con.execute("SELECT run_id FROM runs").fetchall()}
        pruned = _pruned(con)
        owned = {t: _own_run_ids(con, t, threads) for t in threads}
        chosen = _choose(args, runs, owned, known)
        if not chosen and not args.compact:
            if args.runs or args.keep is not None or args.older_than is not None:
                print("nothing to drop (no finished run matches; `glia gc` alone lists what each run holds)")
            else:
                _list(con, paths.db, runs, owned, pruned)
            return 0
        counts = {t: telemetry.row_counts(con, ids) for t, ids in chosen.items()}
    for thread, ids in chosen.items():
        c = counts[thread]
        print(f"{'would drop' if args.dry_run else 'dropping'} {thread}: {len(ids)} telemetry run(s), "
              f"{c['requests']:,} requests, {c['events']:,} events, {c['samples']:,} samples")
    if args.dry_run:
        print(f"(dry run: nothing changed; {paths.db} is {paths.db.stat().st_size:,} bytes)")
        return 0
    before = paths.db.stat().st_size
    if chosen:
        telemetry.prune(paths.db, chosen)
    _, after = telemetry.compact(paths.db)
    if chosen:
        print("kept: their reports, ledgers and checkpoints, and their figures (runs, run_seeds); `glia runs` and "
              "`glia report THREAD` show them as before")
    print(f"{paths.db}: {before:,} -> {after:,} bytes")
    return 0


def _own_run_ids(con, thread: str, threads: list[str]) -> list[str]:
    """The telemetry runs of ``thread``, less those of another thread whose id starts with this one's."""
    from glia.simulator.harness.telemetry import thread_run_ids
    longer = [t for t in threads if t != thread and t.startswith(thread)]
    ids = thread_run_ids(con, thread)
    return [r for r in ids if not any(r == t or r.startswith((t + "-", t + "/")) for t in longer)]


def _pruned(con) -> set[str]:
    has = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_catalog = current_database() AND "
                      "table_name = 'pruned_runs'").fetchone()[0]
    return {r for (r,) in con.execute("SELECT run_id FROM pruned_runs").fetchall()} if has else set()


def _choose(args, runs: list[dict], owned: dict[str, list[str]], known: set[str]) -> dict[str, list[str]]:
    """Thread (or telemetry run) -> the telemetry run ids whose rows to drop."""
    chosen: dict[str, list[str]] = {}
    for name in args.runs:
        if name in owned:
            chosen[name] = owned[name]
        elif name in known:
            chosen[name] = [name]
        else:
            raise ValueError(f"no run {name!r} in {args.workspace} (`glia runs` lists the runs, `glia gc` what each "
                             "holds)")
    finished = [r for r in runs if r["finished"]]
    if args.keep is not None:
        for r in finished[:max(len(finished) - args.keep, 0)]:
            chosen.setdefault(r["thread_id"], owned[r["thread_id"]])
    if args.older_than is not None:
        limit = datetime.now(UTC) - timedelta(days=args.older_than)
        for r in finished:
            if datetime.fromisoformat(r["created_at"]) < limit:
                chosen.setdefault(r["thread_id"], owned[r["thread_id"]])
    return {t: ids for t, ids in chosen.items() if ids}


def _list(con, db: Path, runs: list[dict], owned: dict[str, list[str]], pruned: set[str]) -> None:
    from glia.simulator.harness.telemetry import row_counts
    print(f"{db}: {db.stat().st_size:,} bytes")
    print(f"{'run':<34}{'started':<27}{'status':<12}{'requests':>12}{'events':>12}{'samples':>11}")
    mine: set[str] = set()
    for r in runs:
        ids = owned[r["thread_id"]]
        mine.update(ids)
        c = row_counts(con, ids)
        status = ("pruned" if ids and set(ids) <= pruned else "finished" if r["finished"] else "unfinished")
        print(f"{r['thread_id']:<34}{r['created_at']:<27}{status:<12}{c['requests']:>12,}{c['events']:>12,}"
              f"{c['samples']:>11,}")
    other = [rid for (rid,) in con.execute("SELECT run_id FROM runs").fetchall() if rid not in mine]
    if other:
        c = row_counts(con, other)
        label = f"{len(other)} runs"
        print(f"{'(other: simulate, serving)':<34}{label:<27}{'':<12}{c['requests']:>12,}{c['events']:>12,}"
              f"{c['samples']:>11,}")
    print("`glia gc THREAD...`, `glia gc --keep N` or `glia gc --older-than DAYS` drops a finished run's per-request "
          "rows and keeps its report and figures")
