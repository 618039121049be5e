"""ShinkaEvolve evaluator of the job-placement problem: ``python evaluate.py --program_path P --results_dir R
[--split train|heldout|shifted]`` (or ``PLACEMENT_SPLIT``), writing ``R/metrics.json`` and ``R/correct.json``.

The candidate's ``run_placement(jobs, machines)`` returns one (machine_id, priority) per job. Everything else is
computed here: the cluster is simulated (on each machine, waiting jobs start in priority order as cores and memory
free up, a job that does not fit yet letting the next one that does go first), and the completion times, the
makespan and the baseline's figures come from that simulation, never from the program. A placement that names an
unknown machine, a machine too small for the job, a non-finite priority or the wrong number of jobs is incorrect.

Score: the geometric mean over the split's instances of (baseline mean completion time / the program's), the
baseline being round-robin over the machines that fit, first come first served. Per-instance figures go to
``R/instances.csv``, the jobs that waited longest to ``R/worst_jobs.csv``.
"""

from __future__ import annotations

import argparse
import csv
import heapq
import importlib.util
import json
import math
import os
import time
import traceback

from instances import split_instances


class InvalidPlacement(Exception):
    """The placement breaks the rules."""


def _check(instance: dict, placement) -> list[tuple[int, float]]:
    jobs, machines = instance["jobs"], {m["id"]: m for m in instance["machines"]}
    if not isinstance(placement, (list, tuple)) or len(placement) != len(jobs):
        got = len(placement) if isinstance(placement, (list, tuple)) else type(placement).__name__
        raise InvalidPlacement(f"{instance['name']}: expected {len(jobs)} (machine_id, priority) pairs, got {got}")
    out = []
    for job, item in zip(jobs, placement, strict=True):
        if not isinstance(item, (list, tuple)) or len(item) != 2:
            raise InvalidPlacement(f"{instance['name']}: job {job['id']}: {item!r} is not a (machine_id, priority) "
                                   "pair")
        mid, prio = item
        if isinstance(mid, bool) or not isinstance(mid, int) or mid not in machines:
            raise InvalidPlacement(f"{instance['name']}: job {job['id']}: no machine {mid!r}")
        if isinstance(prio, bool) or not isinstance(prio, (int, float)) or not math.isfinite(prio):
            raise InvalidPlacement(f"{instance['name']}: job {job['id']}: priority {prio!r} is not a finite number")
        m = machines[mid]
        if job["cores"] > m["cores"] or job["mem_gb"] > m["mem_gb"]:
            raise InvalidPlacement(f"{instance['name']}: job {job['id']} needs {job['cores']} cores and "
                                   f"{job['mem_gb']} GB; machine {mid} has {m['cores']} and {m['mem_gb']}")
        out.append((mid, float(prio)))
    return out


def simulate(instance: dict, placement: list[tuple[int, float]]) -> list[dict]:
    """Start and finish times of every job under ``placement`` (checked)."""
    machines = {m["id"]: m for m in instance["machines"]}
    per_machine: dict[int, list[tuple[dict, float]]] = {mid: [] for mid in machines}
    for job, (mid, prio) in zip(instance["jobs"], placement, strict=True):
        per_machine[mid].append((job, prio))
    out = []
    for mid, assigned in per_machine.items():
        m = machines[mid]
        arrivals = sorted(assigned, key=lambda jp: (jp[0]["release"], jp[0]["id"]))
        waiting: list[tuple[float, float, int, dict]] = []
        running: list[tuple[float, int, dict]] = []
        free_c, free_m = m["cores"], m["mem_gb"]
        i, now = 0, 0.0
        while i < len(arrivals) or waiting or running:
            nxt = min(arrivals[i][0]["release"] if i < len(arrivals) else math.inf,
                      running[0][0] if running else math.inf)
            now = max(now, nxt)
            while running and running[0][0] <= now:
                _, _, job = heapq.heappop(running)
                free_c += job["cores"]
                free_m += job["mem_gb"]
            while i < len(arrivals) and arrivals[i][0]["release"] <= now:
                job, prio = arrivals[i]
                waiting.append((prio, job["release"], job["id"], job))
                i += 1
            waiting.sort(key=lambda w: w[:3])
            kept = []
            for w in waiting:
                job = w[3]
                if job["cores"] <= free_c and job["mem_gb"] <= free_m:
                    free_c -= job["cores"]
                    free_m -= job["mem_gb"]
                    finish = now + job["work"] / m["speed"]
                    heapq.heappush(running, (finish, job["id"], job))
                    out.append({"job": job["id"], "machine": mid, "release": job["release"], "start": now,
                                "finish": finish, "cores": job["cores"], "mem_gb": job["mem_gb"],
                                "work": job["work"]})
                else:
                    kept.append(w)
            waiting = kept
    return out


def baseline(instance: dict) -> list[tuple[int, float]]:
    """Round-robin over the machines that fit, first come first served."""
    out, turn = [], 0
    for job in instance["jobs"]:
        fits = [m["id"] for m in instance["machines"] if m["cores"] >= job["cores"] and m["mem_gb"] >= job["mem_gb"]]
        out.append((fits[turn % len(fits)], job["release"]))
        turn += 1
    return out


def figures(instance: dict, runs: list[dict]) -> dict:
    jct = sorted(r["finish"] - r["release"] for r in runs)
    makespan = max(r["finish"] for r in runs)
    busy = sum((r["finish"] - r["start"]) * r["cores"] for r in runs)
    cores = sum(m["cores"] for m in instance["machines"])
    return {"mean_jct": sum(jct) / len(jct), "p95_jct": jct[int(0.95 * (len(jct) - 1))], "makespan": makespan,
            "utilization": busy / (makespan * cores)}


def _load(program_path: str):
    spec = importlib.util.spec_from_file_location("candidate", program_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(program_path: str, results_dir: str, split: str | None = None) -> dict:
    split = split or os.environ.get("PLACEMENT_SPLIT", "train")
    os.makedirs(results_dir, exist_ok=True)
    start = time.perf_counter()
    rows, worst, error = [], [], None
    try:
        module = _load(program_path)
        for inst in split_instances(split):
            t0 = time.perf_counter()
            placement = _check(inst, module.run_placement(inst["jobs"], inst["machines"]))
            program_s = time.perf_counter() - t0
            mine = figures(inst, runs := simulate(inst, placement))
            base = figures(inst, simulate(inst, baseline(inst)))
            rows.append({"instance": inst["name"], "jobs": len(inst["jobs"]), "mean_jct": round(mine["mean_jct"], 3),
                         "p95_jct": round(mine["p95_jct"], 3), "makespan": round(mine["makespan"], 3),
                         "utilization": round(mine["utilization"], 4),
                         "baseline_mean_jct": round(base["mean_jct"], 3),
                         "ratio": round(base["mean_jct"] / mine["mean_jct"], 5), "program_s": round(program_s, 4)})
            for r in runs:
                wait = r["start"] - r["release"]
                worst.append({"instance": inst["name"], **{k: round(v, 3) if isinstance(v, float) else v
                                                           for k, v in r.items()}, "wait": round(wait, 3)})
    except InvalidPlacement as exc:
        error = f"invalid placement: {exc}"
    except Exception as exc:  # the program raised
        error = f"the program raised {type(exc).__name__}: {exc}\n{traceback.format_exc()}"
    if error:
        metrics = {"combined_score": 0.0, "public": {"eval_time": time.perf_counter() - start},
                   "text_feedback": error}
    else:
        gm = math.exp(sum(math.log(r["ratio"]) for r in rows) / len(rows))
        mean = lambda k: sum(r[k] for r in rows) / len(rows)  # noqa: E731
        bad = min(rows, key=lambda r: r["ratio"])
        metrics = {
            "combined_score": gm,
            "public": {"mean_jct": mean("mean_jct"), "p95_jct": mean("p95_jct"), "makespan": mean("makespan"),
                       "utilization": mean("utilization"), "baseline_mean_jct": mean("baseline_mean_jct"),
                       "eval_time": time.perf_counter() - start},
            "private": {"split": split, "instances": len(rows)},
            "text_feedback": (f"split {split}: mean completion time {mean('mean_jct'):.1f} s against the baseline's "
                              f"{mean('baseline_mean_jct'):.1f} s; weakest instance {bad['instance']} (ratio "
                              f"{bad['ratio']:.3f})"),
        }
        with open(os.path.join(results_dir, "instances.csv"), "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
        worst.sort(key=lambda r: -r["wait"])
        with open(os.path.join(results_dir, "worst_jobs.csv"), "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(worst[0]))
            w.writeheader()
            w.writerows(worst[:25])
    with open(os.path.join(results_dir, "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=1)
    with open(os.path.join(results_dir, "correct.json"), "w") as f:
        json.dump({"correct": error is None, "error": error}, f)
    return metrics


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--program_path", default="initial.py")
    parser.add_argument("--results_dir", default="results")
    parser.add_argument("--split", default=None, choices=["train", "heldout", "shifted"])
    args = parser.parse_args()
    main(args.program_path, args.results_dir, args.split)
