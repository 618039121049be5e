"""Job placement on a heterogeneous cluster: for each batch job, the machine it runs on and its priority there.

The evaluator simulates the cluster: on each machine, whenever cores and memory free up, the waiting jobs placed
there start in priority order (smallest first; a job that does not fit yet is skipped in favour of the next one that
does). The score is the mean job completion time (finish minus release) against a first-fit FIFO baseline."""


# EVOLVE-BLOCK-START
WORK_WEIGHT = 0.0     # priority = release + WORK_WEIGHT * work (0.0: first come, first served)
SPEED_EXPONENT = 0.0  # a machine's load is divided by speed ** SPEED_EXPONENT (0.0: speed ignored)


def place(jobs: list, machines: list) -> list:
    """Return one (machine_id, priority) per job, in the order of ``jobs``.

    ``jobs``: dicts with id, release, cores, mem_gb, work (seconds at speed 1.0); ``machines``: dicts with id,
    cores, mem_gb, speed. A job must go to a machine with at least its cores and memory."""
    load = {m["id"]: 0.0 for m in machines}
    out = []
    for job in jobs:
        fits = [m for m in machines if m["cores"] >= job["cores"] and m["mem_gb"] >= job["mem_gb"]]
        target = min(fits, key=lambda m: (load[m["id"]] / m["speed"] ** SPEED_EXPONENT, m["id"]))
        load[target["id"]] += job["work"] * job["cores"] / target["cores"]
        out.append((target["id"], job["release"] + WORK_WEIGHT * job["work"]))
    return out
# EVOLVE-BLOCK-END


def run_placement(jobs: list, machines: list) -> list:
    """The harness's entry point (outside the evolve block)."""
    return place(jobs, machines)
