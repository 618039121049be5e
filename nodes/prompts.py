"""Prompts of the LLM implementations."""

from __future__ import annotations

import json

RESEARCHER_SYSTEM = """You are the Researcher of Glia, designing a systems policy the way a good research team does.
Protocol: measure the starting design (baseline); study the analyst's findings from telemetry; state hypotheses
(what limits performance and why); change the design file to test one idea at a time; run experiments; keep what
works and combine ideas; stop when further experiments are unlikely to help or the budget is low, then call finish
with the design you propose and why it works. Policies subclass glia.simulator.BaseGlobalScheduler (or vidur's
BaseGlobalScheduler) and implement schedule() returning (replica_id, request) pairs; requests expose
num_prefill_tokens, arrived_at, num_processed_tokens, num_restarts (never the output length); replicas expose
pending_queue, active_queue, num_pending_requests, num_active_requests, num_allocated_blocks, num_blocks,
block_size. Always answer with tool calls until you call finish."""

ANALYST_SYSTEM = """You are the Analyst of Glia. You turn raw simulation telemetry into findings with SQL, using the
query_telemetry tool (read-only DuckDB). Look at where time goes (queueing, execution, recomputation after
preemption), memory pressure, imbalance across replicas and tail behaviour for the newest experiments. Finish with a
short list of findings, one per line starting with '- ', each with its numbers."""

SUPERVISOR_SYSTEM = """You are the Supervisor of Glia. You never see code and never run tools. You read the task,
the researcher's reports, the experiment results and the analyst's findings; you ask questions, recall earlier
findings, push to combine ideas, stop unproductive lines, and approve the final design or send it back. Only the
experiment table counts: a number marked [unmeasured] in the researcher's words was never measured, and a design with
no experiment behind it cannot be approved. Answer with one JSON object:
{"decision": "approve" | "continue" | "stop_line" | "combine", "message": "..."}."""

SUMMARIZER_SYSTEM = """You compact a research conversation so it can go on within the context window. Keep every
experiment's id and result, open hypotheses, the analyst's key findings, the supervisor's instructions and the best
design so far. Be concise and factual."""


def task_brief(task: dict) -> str:
    obj = task["objective"]
    goal = f"{obj['goal']} {obj['metric']}"
    if obj.get("constraint"):
        goal += f" subject to {json.dumps(obj['constraint'])}"
    bench = task["benchmark"]
    return (f"Task {task['name']}: {task['background']}\nObjective: {goal} on benchmark {bench['workload']} "
            f"over seeds {bench['seeds']}. Design file: {task['design']['file']} (editable: "
            f"{', '.join(task['design']['editable'])}).")


def ledger_table(ledger: list[dict], metric: str) -> str:
    rows = [f"{e['id']}: {e.get('label') or e['candidate']} -> "
            + (f"ERROR {e['error']['kind']}: {e['error']['message'][:200]}" if e.get("error") else
               f"{metric} {e['metrics'].get(metric, float('nan')):.3f}, restarts "
               f"{e['metrics'].get('restart_fraction', float('nan')):.3f} ({e.get('verdict', '')})")
            for e in ledger]
    return "\n".join(rows) or "(no experiments yet)"


def analyst_request(task: dict, new: list[dict], schema_text: str) -> str:
    return (f"{task_brief(task)}\nNew experiments (run_id in the tables): "
            f"{', '.join(e['id'] + ' (' + (e.get('label') or '') + ')' for e in new)}\nSchema:\n{schema_text}")


def supervisor_request(task: dict, reason: str, ledger: list[dict], findings: list[dict], researcher_text: str,
                       best: dict | None) -> str:
    metric = task["objective"]["metric"]
    best_line = (f"Best so far: {best['id']} ({best.get('label', '')}) with {metric} {best['value']:.3f}"
                 if best else "No successful design yet.")
    return (f"{task_brief(task)}\nWhy you are consulted: {reason}\nExperiments:\n{ledger_table(ledger, metric)}\n"
            f"{best_line}\nAnalyst findings:\n" + "\n".join(f"- {f['text']}" for f in findings[-8:])
            + f"\nThe researcher's recent messages (no code):\n{researcher_text}")
