"""A short design session with a real model behind an OpenAI-compatible endpoint, and what it did: the modes the
probe chose, how many experiments ran code the model wrote, how many of its replies needed parsing or a retry, the
best design against llq, tokens and wall clock. Starts the local model first when asked to and it is not up.

    python -m benchmarks.real_model [--base-url http://127.0.0.1:8765/v1] [--model qwen-coder] [--task routing]
                                    [--budget-sims 6] [--workspace DIR] [--start SCRIPT] [--endpoint ROLE.KEY=VALUE]
                                    [--wall-clock-s S] [--design-form class|functions]
                                    [--llm-roles researcher,analyst,supervisor,summarizer]

The share of model-written experiments that ran without error counts every experiment but the harness's measurement
of the starting design (in the functions form, its functions starter); the best design and llq are also given on the
held-out seeds. ``--llm-roles`` names the roles the model plays (default: all four); the others run their offline
implementation (a 1.5B model's findings and supervision are slow and add little: the harness's diagnostics are the
offline analyst's findings). The output says which implementation ran each role.

``--start`` names a script that serves the model (e.g. the workplace's ``local-llm.sh``, run as ``SCRIPT start
PORT``); default: ``$GLIA_LOCAL_LLM`` if set.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

from glia.graph.config import RunConfig
from glia.graph.runs import start_run
from glia.nodes.roles import ROLES
from glia.state import load_task


def answering(base_url: str, wait_s: float = 0.0) -> bool:
    """The server answers its model list, within ``wait_s`` seconds (a local server busy with a long reply, e.g.
    one a stopped client left behind, answers nothing else until it is done)."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            with urllib.request.urlopen(base_url.rstrip("/") + "/models", timeout=max(5.0, min(wait_s, 60.0))) as r:
                return r.status == 200
        except OSError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(5)


def session(base_url: str, model: str, task: str, budget: int, workspace: str, endpoint: list[str],
            wall_clock_s: float | None = None, llm_roles: tuple[str, ...] = tuple(ROLES)) -> dict:
    """Run a session and measure it (the opt-in end-to-end test calls this too); ``llm_roles`` are played by the
    model, the others offline."""
    unknown = set(llm_roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown role(s) {', '.join(sorted(unknown))}; roles: {', '.join(ROLES)}")
    config = RunConfig.build(task, budget_sims=budget, model=model, base_url=base_url, workspace=workspace,
                             endpoint=endpoint, wall_clock_s=wall_clock_s,
                             implementations={r: "llm" if r in llm_roles else "offline" for r in ROLES})
    started = time.perf_counter()
    out = start_run(config)
    wall = time.perf_counter() - started
    state = out.state
    starter = hashlib.sha256(load_task(task)["design"]["starter_source"].encode()).hexdigest()[:16]
    ledger = sorted(state.get("ledger", []), key=lambda e: e["seq"])
    written = [e for e in ledger if e.get("hash") != starter and not str(e.get("label", "")).startswith("starter")]
    usage = state.get("usage", {})
    r = usage.get("researcher", {})
    llq = next((b["metrics"].get("mean_e2e_s") for b in state.get("baselines", []) if b["policy"] == "llq"), None)
    best = state.get("best")
    held = {name: (h.get("heldout") or {}).get("value") for name, h in (state.get("heldout") or {}).items()}
    return {"design_form": config.modes.get("researcher", {}).get("design_form"), "heldout": held,
            "thread": out.thread_id, "status": out.status, "message": out.message, "wall_s": wall,
            "modes": {role: m.get("tools") + "/" + m.get("structured") for role, m in config.modes.items()
                      if config.implementations.get(role) == "llm"},
            "implementations": dict(config.implementations),
            "experiments": len(ledger), "model_written": len(written),
            "model_written_ok": sum(1 for e in written if not e.get("error")),
            "errors": [f"{e['id']}: {e['error']['kind']}" for e in ledger if e.get("error")],
            "replies": r.get("replies", 0), "parsed_from_text": r.get("parsed_from_text", 0),
            "repairs": r.get("repairs", 0), "tokens": usage.get("tokens", 0), "llq": llq,
            "best": (best["label"], best["value"]) if best else None, "report": out.to_json()["report"]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base-url", default="http://127.0.0.1:8765/v1")
    ap.add_argument("--model", default="qwen-coder")
    ap.add_argument("--task", default="routing")
    ap.add_argument("--budget-sims", type=int, default=6)
    ap.add_argument("--workspace", default=None)
    ap.add_argument("--start", default=os.environ.get("GLIA_LOCAL_LLM"))
    ap.add_argument("--endpoint", action="append", default=[])
    ap.add_argument("--wall-clock-s", type=float, default=None, help="default: the task's budget")
    ap.add_argument("--wait-s", type=float, default=600.0,
                    help="how long a busy server may take to answer before it counts as down (default 600)")
    ap.add_argument("--llm-roles", default=",".join(ROLES),
                    help="the roles the model plays, comma-separated; the others run offline (default: all)")
    ap.add_argument("--design-form", choices=("class", "functions"), default=None,
                    help="the researcher's design form (default: by the endpoint's profile)")
    args = ap.parse_args()
    if args.design_form:
        args.endpoint.append(f"researcher.design_form={args.design_form}")
    if not answering(args.base_url, args.wait_s):
        if not args.start:
            raise SystemExit(f"no model answers at {args.base_url}; start one or pass --start SCRIPT")
        port = str(urlparse(args.base_url).port or 8765)
        subprocess.run([args.start, "start", port], check=True)
    workspace = args.workspace or tempfile.mkdtemp(prefix="glia-real-")
    m = session(args.base_url, args.model, args.task, args.budget_sims, workspace, args.endpoint, args.wall_clock_s,
                tuple(r.strip() for r in args.llm_roles.split(",") if r.strip()))
    share = (m["parsed_from_text"] + m["repairs"]) / m["replies"] if m["replies"] else float("nan")
    print(f"{args.model} at {args.base_url}, task {args.task}, budget {args.budget_sims}: {m['status']} "
          f"{m['message']}".rstrip())
    print("roles: " + ", ".join(f"{r} {i}" + (f" ({args.model})" if i == "llm" else "")
                                for r, i in m["implementations"].items()))
    print(f"modes: {m['modes']}; design form {m['design_form']}")
    print(f"wall clock {m['wall_s']:.0f} s; experiments {m['experiments']}, of code the model wrote "
          f"{m['model_written']} ({m['model_written_ok']} ran without error); errors: {m['errors'] or 'none'}")
    print(f"researcher replies {m['replies']}: read from text {m['parsed_from_text']}, sent back {m['repairs']} "
          f"({100 * share:.0f} % needed parsing or a retry); tokens {m['tokens']}")
    if m["best"] and m["llq"]:
        print(f"best {m['best'][0]}: mean e2e {m['best'][1]:.2f} s against llq {m['llq']:.2f} s "
              f"({100 * (m['best'][1] / m['llq'] - 1):+.1f} %)")
    held = m["heldout"]
    if held.get("best") and held.get("llq"):
        print(f"held-out seeds: best {held['best']:.2f} s against llq {held['llq']:.2f} s "
              f"({100 * (held['best'] / held['llq'] - 1):+.1f} %)")
    print(f"report: {m['report']} (workspace {Path(workspace).resolve()}); load average at the end "
          f"{' '.join(Path('/proc/loadavg').read_text().split()[:3]) if Path('/proc/loadavg').exists() else '?'}")


if __name__ == "__main__":
    main()
