"""Derive tests/data/<recording>/replay.json from a recording of a frontier-class model driving Glia
(``../shared/data/<recording>/`` for the first two, ``benchmarks/recordings/<recording>/`` for the later ones:
q/NNNN.json the requests Glia sent, a/NNNN.json the model's replies).

    python tests/data/make_replay.py /work/shared/data/frontier-routing-1 tests/data/frontier-routing-1

Kept: each reply after the endpoint probe (requests 1-8) with the role it answered (from the request's system
prompt) and the request's reply limit; each experiment's result as the run recorded it (its figures, or its error),
and the baselines' figures, so a replay can give the graph the same measurements without simulating. Not kept: the
requests themselves (what today's graph sends is what the replay test checks)."""

import json
import re
import sys
from pathlib import Path

ROLES = {"You are the Analyst": "analyst", "You are the Researcher": "researcher",
         "You are the Supervisor": "supervisor", "You compact": "summarizer"}
RESULT = re.compile(r"experiment (c1-e\d{3}) \(([^)]*)\): (.*?)\. Simulations left")
ROW = re.compile(r"^(c1-e\d{3}): (.*?) -> (?:ERROR (\w+): (.*)|mean_e2e_s ([\d.]+), restarts ([\d.]+))", re.M)
BASE = re.compile(r"Baselines: ((?:[\w-]+ mean_e2e_s [\d.]+(?:, )?)+)\n")
# since the baselines are described: "Baselines (...): llq (what it is) mean_e2e_s 49.148; hra (...) mean_e2e_s 23.575"
DESCRIBED = re.compile(r"Baselines \(built-in designs[^:]*: (.*)")
ENTRY = re.compile(r"(?:^|; )([\w-]+) \((?:[^()]|\([^()]*\))*\) (\w+) ([\d.]+)")


def main(src: str, dst: str) -> None:
    src, out = Path(src), Path(dst)
    replies, experiments, baselines = [], {}, {}
    for q in sorted((src / "q").glob("*.json")):
        n = int(q.stem)
        req = json.loads(q.read_text())
        system = (req.get("messages") or [{}])[0].get("content") or ""
        role = next((r for k, r in ROLES.items() if system.startswith(k)), None)
        text = "\n".join(str(m.get("content") or "") for m in req.get("messages", []))
        for m in ROW.finditer(text):
            e = experiments.setdefault(m.group(1), {"id": m.group(1)})
            if m.group(3):
                e["error"] = {"kind": m.group(3), "message": m.group(4)}
            else:
                e.setdefault("metrics", {}).update(mean_e2e_s=float(m.group(5)), restart_fraction=float(m.group(6)))
        for m in RESULT.finditer(text):
            e = experiments.setdefault(m.group(1), {"id": m.group(1)})
            if m.group(3).startswith("ERROR "):
                kind, _, message = m.group(3)[6:].partition(": ")
                e["error"] = {"kind": kind, "message": message}
                continue
            body, _, ci = m.group(3).partition("; 90 % CI of mean_e2e_s ")
            e.setdefault("metrics", {}).update({k: float(v) for k, v in (p.split() for p in body.split(", "))})
            if ci:
                e["mean_e2e_ci90"] = [float(x) for x in ci.split("]")[0].strip("[").split(", ")]
        for m in BASE.finditer(text):
            for part in m.group(1).split(", "):
                name, metric, value = part.split()
                baselines[name] = {metric: float(value)}
        for m in DESCRIBED.finditer(text):
            for name, metric, value in ENTRY.findall(m.group(1)):
                baselines[name] = {metric: float(value)}
        if role is None:
            continue  # the endpoint probe
        a = json.loads((src / "a" / q.name).read_text())
        replies.append({"n": n, "role": role, "max_tokens": req.get("max_tokens"),
                        "structured": bool(req.get("response_format")), "content": a.get("content"),
                        "tool_calls": a.get("tool_calls") or []})
    out.mkdir(parents=True, exist_ok=True)
    data = {"source": src.name, "replies": replies, "experiments": [experiments[k] for k in sorted(experiments)],
            "baselines": baselines}
    (out / "replay.json").write_text(json.dumps(data, indent=1) + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:3])
