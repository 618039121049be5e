"""Prompts of the LLM implementations."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import get_args

from glia.simulator.policy import guard
from glia.simulator.policy.layers import LAYERS
from glia.state.records import SupervisorChoice

RESEARCHER_SYSTEM = """You are the Researcher of Glia, designing a systems policy the way a good research team does:
measure the starting design; study the analyst's findings; state a hypothesis (what limits performance and why);
change the design to test one idea at a time; run it; keep what works and combine ideas; when more experiments are
unlikely to help, finish and propose your best measured design. Only simulation results count: never state a result
you did not measure.

{api}"""

# what the design file defines, by the layer of the serving stack the task designs (simulator/policy/*_api.md)
DESIGN_API = {"router": """The design is a Python file defining one scheduler class:
    from glia.simulator import BaseGlobalScheduler
    class Router(BaseGlobalScheduler):
        def schedule(self):  # called after every arrival and every completion
            ...              # returns [(replica_id, request), ...]; pop the requests you route from
                             # self._request_queue; requests left there wait (held) for a later call
It reads self._request_queue (waiting requests), self.sort_requests() (oldest first), self._replica_schedulers
(replica id -> replica), self.rng (a seeded random.Random). A request has id, arrived_at, num_prefill_tokens,
num_processed_tokens, num_restarts, is_prefill_complete (its output length is hidden). A replica has replica_id,
pending_queue, active_queue, num_pending_requests, num_active_requests, num_allocated_blocks, num_blocks,
block_size. Nothing else exists: no other attribute, no files, no network. To keep state between calls, define
__init__(self, config, replicas) and call super().__init__(config, replicas) first. The whole API, with what each
field means: read_file simulator/policy/policy_api.md.""",
              "batch": """The design is a Python file defining one batch policy class (one instance per replica):
    from glia.simulator import BaseBatchPolicy
    class Batch(BaseBatchPolicy):
        def next_index(self, pending, replica):  # called while the replica can admit another request
            ...  # returns the index in pending of the request to admit next, or None to admit none now
pending is a tuple of requests (id, arrived_at, num_prefill_tokens, num_processed_tokens, num_restarts,
scheduled, scheduled_at; the output length is hidden); a preempted request comes first. The replica has
replica_id, now, active_queue, num_pending_requests, num_active_requests, num_allocated_blocks, free_blocks,
num_blocks, block_size; its active_queue holds the admitted requests (the same fields, plus is_prefill_complete),
oldest first. self.rng is a seeded random.Random. Every request must be admitted eventually. To keep state, define
__init__(self, config) and call super().__init__(config) first. Nothing else exists. The whole API, with what each
field means: read_file simulator/policy/batch_policy_api.md.""",
              "autoscaler": """The design is a Python file defining one autoscaler class:
    from glia.simulator import BaseAutoscaler
    class Autoscaler(BaseAutoscaler):
        def desired_replicas(self, view):  # called at every control tick
            ...  # returns the number of replicas wanted (an int); the platform clamps it and adds cold starts
view has now, serving, starting, draining, waiting, running, in_flight, kv_utilisation, decode_tokens_per_s,
arrivals_per_s, completions_per_s, replicas (each: replica_id, pending, active, allocated_blocks, num_blocks),
min_replicas, max_replicas, interval_s, cold_start_s. self.rng is a seeded random.Random. To keep state, define
__init__(self, config) and call super().__init__(config) first. Nothing else exists. The whole API, with what each
field means: read_file simulator/policy/autoscaler_api.md."""}


def static_rules() -> str:
    """The rules every design is checked against before it runs (``simulator/policy/guard.py``), stated where the model
    writes code: a refusal by them is sent back at no cost, but a model that knows them does not need one."""
    names = ", ".join(n for n in guard.REFUSED_NAMES if not n.startswith("__"))
    private = ", ".join(sorted(n for n in guard.DOCUMENTED_PRIVATE if n in (
        "_request_queue", "_replica_schedulers", "_num_replicas", "_config")))
    return (f"Rules checked before a design runs (a design that breaks one is sent back without running): no "
            f"{names} (read the documented fields directly: request.num_prefill_tokens, not getattr); no name "
            f"starting with _ but the documented ones ({private}) and your own self._x; no str.format (use "
            f"f-strings); imports only from {guard.allowed_imports()}.")


# how to act, by the tool mode the endpoint supports (nodes/llm/modes.py)
PROTOCOL_TOOLS = """To act, call one tool. To try a new design, either reply with the whole new file in one ```python
block (it is written to the design file and run), or call write_file with the whole file and then run_simulation. Call
finish with your proposal when you are done: finishing proposes the best measured experiment (its file is kept), not
the design file as it is now."""

PROTOCOL_TEXT = """Reply with exactly one action:
- a new design: the whole file in one ```python block (it is written to {design} and run);
- a tool call: <tool_call>{{"name": "TOOL", "arguments": {{...}}}}</tool_call>, TOOL one of {tools};
- <tool_call>{{"name": "finish", "arguments": {{"summary": "..."}}}}</tool_call> to propose your best design."""

# a program task's, on the text protocol: no menu to end on (a 1.5B model echoed "a new design: the whole file ..."
# and "a tool call:" as its reply), the program first and the idea before it, as the functions form asks
PROTOCOL_PROGRAM_TEXT = """To try a change, reply with one line starting 'Idea:' (the one change you make and why), then
the whole new program in one ```python block: it is written to {design} and the evaluator runs it. To use a tool
instead, reply <tool_call>{{"name": "TOOL", "arguments": {{...}}}}</tool_call> with TOOL one of {tools}; to stop,
<tool_call>{{"name": "finish", "arguments": {{"summary": "..."}}}}</tool_call> proposes your best program."""
NEXT_PROGRAM = ("Your next action: one line starting 'Idea:' with the one change you make to the program and the "
                "finding it answers, then the whole new program in one ```python block (real code, every function "
                "the evaluator calls kept). Or a tool call.")
NEXT_PROGRAM_BLOCK = ("Your next action: one line starting 'Idea:' with the one change you make to the program and "
                      "the finding it answers, then, in one ```python block, the code between EVOLVE-BLOCK-START and "
                      "EVOLVE-BLOCK-END with that change made (only that code: it replaces the block; or the whole "
                      "file). Or a tool call.")

# the functions form (nodes/design_form.py): what a reply is, and one worked edit from another domain (an example
# of the form only: nothing in it is an idea for any task's design)
PROTOCOL_FUNCTIONS = """To change the design, reply with one ```python block holding only the function(s) you change,
each whole (from its def line to its return), with the same name and arguments; it replaces that function in the
design file, which is then run. Keep each function short. Finishing proposes the best measured experiment.
Example of an edit (another domain, a lift controller whose file has def pick(call, cars): returning one of cars):
```python
def pick(call, cars):
    return min(cars, key=lambda car: abs(car.floor - call.floor))
```
{actions}"""
FUNCTIONS_ACTIONS = {
    "tools": "Other actions: call a tool (run_simulation runs the file as it is; finish proposes your best design).",
    "text": "Other actions: <tool_call>{{\"name\": \"TOOL\", \"arguments\": {{...}}}}</tool_call> with TOOL one of "
            "{tools}; <tool_call>{{\"name\": \"finish\", \"arguments\": {{\"summary\": \"...\"}}}}</tool_call> to "
            "propose your best design."}
# the functions form's turn in one reply (text protocol): the idea first, as the two-stage protocol asks for it, so a
# small model writes code for a change it has stated rather than the file again
NEXT_FUNCTIONS = ("Your next action: first one line starting 'Idea:' with the one change you make and the finding "
                  "above it answers (in the lift example: 'Idea: send the nearest car, because calls wait 40 s for "
                  "distant cars'), then the function(s) you change in one ```python block, each whole with the same "
                  "name and arguments. Or a tool call.")
WRITE_FUNCTIONS = ("Write the function(s) you change in one ```python block: the file shown above with {idea} Each "
                   "function whole, with the same name and arguments as in the file; real code, no placeholder. "
                   "Nothing else.")

NEW_POLICY = "new_policy"  # the two-stage protocol's action "write a new design and run it"
ACTION_HELP = {NEW_POLICY: "write a new version of the design file and run it",
               "run_simulation": "run the design file as it is", "query_telemetry": "one SQL query on telemetry",
               "read_file": "read a file", "patch_file": "replace a text in a file", "write_file": "write a file",
               "shell": "run a shell command", "finish": "stop and propose your best design"}
CHOOSE_ACTION = "Choose your next action: " + "; ".join(f"{k} ({v})" for k, v in ACTION_HELP.items()) + "."
IDEA = ("the one change to the design you will test next and why, in one sentence, from the findings and the "
        "experiments, in the form 'CHANGE, because FINDING'; empty unless the action is new_policy")
WRITE_POLICY = ("Write the whole new {design} in one ```python block: the current file shown above with {idea} "
                "Keep its imports and its one scheduler class, and change schedule() (or add helper methods) so it "
                "does that; write real code, no placeholder. Nothing else.")
YOUR_IDEA = "your change made: {idea}."
ANY_IDEA = "one change made that the findings suggest."
USE_TOOL = "Now call {tool}."

ANALYST_SYSTEM = """You are the Analyst of Glia. You turn raw simulation telemetry into findings: where time goes
(queueing, execution, recomputation after preemption), memory pressure, imbalance across replicas, tail behaviour,
and what they suggest the design should change. The harness has run standard diagnostics; you may run read-only SQL
(DuckDB) on the telemetry to look further. Every number you state must come from the diagnostics or your queries."""

PROGRAM_ANALYST_SYSTEM = """You are the Analyst of Glia. The design is a program judged by the task's own evaluator;
its telemetry is what the evaluator reported: program_runs (one row per evaluation: status, whose failure),
program_metrics (metric, value), program_texts (stdout, stderr, feedback: search with LIKE), program_tables and one
case_* table per per-case artifact (per test case, trace, instance). The harness has compared each metric with the
starter and the best so far and listed the worst cases; you may run read-only SQL (DuckDB) to look further: which
cases the program loses on against the starter, what they have in common, and what that suggests the program should
change. Every number you state must come from the diagnostics or your queries."""

ANALYST_QUERY = ("If a query would tell you something the diagnostics do not, call query_telemetry (or write one "
                 "```sql block); otherwise reply DONE.")
ANALYST_FINDINGS = ("Write your findings: at most five, most important first, each one sentence with its numbers "
                    "and what it suggests for the design.")

SUPERVISOR_SYSTEM = """You are the Supervisor of Glia. You never see code and never run tools. You read the task,
the researcher's reports, the experiment results and the analyst's findings; you ask questions, recall earlier
findings, push to combine ideas, stop unproductive lines, and approve the final design or send it back. Only the
experiment table counts: a number marked [unmeasured] in the researcher's words was never measured, and a design with
no experiment behind it cannot be approved. Approving ends the run at once (nothing you write reaches the researcher
after it) and keeps the best experiment's file. Answer with one JSON object:
{"decision": """ + " | ".join(f'"{choice}"' for choice in get_args(SupervisorChoice)) + ', "message": "..."}.'

SUMMARIZER_SYSTEM = """You compact a research conversation so it can go on within the context window. Keep every
experiment's id, what it changed and its result, open hypotheses, the analyst's key findings, the supervisor's
instructions and the best design so far (the experiment the state marks BEST; give files by the paths shown, which
the researcher's read_file opens). Be concise and factual."""


def researcher_system(layer: str, api: str | None = None) -> str:
    """The researcher's system prompt for a task of ``layer``: the method, the design API (``api``, by default the
    layer's whole-class API) and the rules the design is checked against before it runs."""
    return RESEARCHER_SYSTEM.format(api=f"{api or DESIGN_API[layer]}\n{static_rules()}")


PROGRAM_API = """The design is a program, {file}, judged by the task's own evaluator ({format} format): each
run_simulation evaluates the file in a fresh copy of the evaluator's working directory, confined (no network, no
files of the evaluator: the program cannot read its test cases or expected answers), and returns the metrics the
evaluator reports, its feedback and the names of its per-case tables (query_telemetry: program_runs,
program_metrics, program_texts, case_*). The problem's own files, but the evaluator's, are in problem/: the shell
tool can run its helpers there (e.g. a quick check on one case). {blocks}Keep the functions and classes the
evaluator calls, with their signatures. Write the whole file (write_file, or one fenced python block). A program
the evaluator finds invalid is never the best; a gain within the starter's noise band is not a gain."""


def program_system(task: dict) -> str:
    """The researcher's system prompt for a program task."""
    d = task["design"]
    blocks = ("Only the code between the EVOLVE-BLOCK-START and EVOLVE-BLOCK-END markers may change: keep the "
              "markers and everything outside them exactly as they are (anything else is refused, not charged). "
              if d.get("blocks") else "")
    return RESEARCHER_SYSTEM.replace("a systems policy", "a program").replace(
        "Only simulation results count", "Only evaluation results count").format(
        api=PROGRAM_API.format(file=d["file"], format=task["evaluator"]["format"], blocks=blocks))


def task_brief(task: dict) -> str:
    obj = task["objective"]
    goal = f"{obj['goal']} {obj['metric']}"
    if obj.get("constraint"):
        goal += f" subject to {json.dumps(obj['constraint'])}"
    if task["design"].get("layer") == "program":
        return (f"Task {task['name']}: {task['background']}\nObjective: {goal}, as the evaluator reports it. Design "
                f"file: {task['design']['file']}.")
    bench = task["benchmark"]
    return (f"Task {task['name']}: {task['background']}\nObjective: {goal} on benchmark {bench['workload']} "
            f"over seeds {bench['seeds']}. Design file: {task['design']['file']} (editable: "
            f"{', '.join(task['design']['editable'])}).")


def describe_policy(name: str, layer: str, spec: str = "") -> str:
    """What a baseline is, in a few words: a built-in's first sentence, or the file it comes from."""
    builtin = LAYERS[layer].builtins.get(name) if layer in LAYERS else None
    if builtin is None:
        return f"a {layer} policy supplied with the task ({Path(spec.partition(':')[0]).name or name})"
    doc = " ".join((builtin.__doc__ or name).split())
    first = re.split(r"(?<=\.)\s", doc, maxsplit=1)[0].rstrip(".")
    return first[0].lower() + first[1:] if first[:2] != first[:2].upper() else first


KNOWN_DESIGN = "a published expert design, measured as a yardstick; how it works is not shown"


def known_designs(task: dict) -> set[str]:
    """The baselines that are the task's known expert designs (those its offline space was seeded with, routing's
    ``hra``, less textbook ones such as ``spf`` whose names describe them anyway): every role sees their figures,
    never their mechanism, so a model is measured on what it finds rather than handed the answer in a baseline's
    description (the second recorded frontier session was shown ``hra``'s one-line description, and its design
    matches it)."""
    # here, not at the top: design_spaces imports the designs that import prompts
    from glia.nodes.heuristic.spaces import SEEDS
    from glia.state.tasks.task import policy_name

    seeds = SEEDS.get((task.get("offline") or {}).get("space", "router"), ())
    return {policy_name(s.baseline) for s in seeds} - TEXTBOOK


TEXTBOOK = frozenset({"fcfs", "spf", "llq", "lor", "round_robin", "threshold", "queue"})  # their names say it all


def baselines_text(task: dict, baselines: list[dict]) -> str:
    """The baselines as every role is shown them: what each one is, and its measured figure (the harness measures
    them once per run on the task's benchmark and seeds, outside the simulation budget)."""
    metric = task["objective"]["metric"]
    layer = (task.get("design") or {}).get("layer", "router")
    if layer == "program":
        return "; ".join(f"The starter, measured {b.get('runs', 1)} times by the harness (not from your budget): "
                         f"{metric} {b['metrics'].get(metric, float('nan')):.6g}, noise band {b.get('noise', 0):.3g}"
                         for b in baselines if not b.get("error") and b.get("policy") == "starter")
    known = known_designs(task)

    def what(b: dict) -> str:
        return KNOWN_DESIGN if b["policy"] in known else describe_policy(b["policy"], layer, b.get("spec", ""))

    shown = [f"{b['policy']} ({what(b)}) {metric} {b['metrics'].get(metric, float('nan')):.3f}" for b in baselines
             if not b.get("error")]
    if not shown:
        return ""
    return ("Baselines (built-in designs the harness measured on the same benchmark and seeds, not from your "
            "budget): " + "; ".join(shown))


def workbench(task: dict, design_source: str, ledger: list[dict], baselines: list[dict], findings: list[dict],
              instruction: str | None, sims_left: int, best: dict | None, best_source: str | None = None,
              design_note: str = "") -> str:
    """What the researcher sees at every turn, whatever its history holds: the design file as it is now, every
    experiment, the baselines, the newest findings, the supervisor's latest word and the simulations left; when
    the file as it is now failed, also the best design's code, a working place to start again from; when it holds
    something other than the best experiment, what finishing proposes. ``design_note``: a line on the design form
    (e.g. a repeated error's specific fix)."""
    metric, goal = task["objective"]["metric"], task["objective"]["goal"]
    lines = [f"Simulations left: {sims_left}.",
             f"Design file {task['design']['file']} now:", "```python", design_source.rstrip() or "(empty)", "```"]
    last = max(ledger, key=lambda e: e.get("seq", 0)) if ledger else None
    if best and best_source and last and last.get("error") and best_source.strip() != design_source.strip():
        lines += [f"That file failed in {last['id']} ({last['error']['kind']}). Fix it, or start again from the best "
                  f"design so far, {best['id']}, which ran:", "```python", best_source.rstrip(), "```"]
    if design_note:
        lines.append(design_note)
    lines += [f"Experiments ({goal} {metric}):", ledger_table(ledger, metric, best)]
    if baselines:
        lines.append(baselines_text(task, baselines))
    if best:
        lines.append(f"Best so far: {best['id']} ({best.get('label', '')}), {metric} {best['value']:.3f}.")
        if best_source is not None and best_source.strip() != design_source.strip():
            lines.append(f"If you finish now, {best['id']} is proposed (its file, experiments/{best['id']}.py, is "
                         "kept), not the design file as it is now: there is no need to restore it first.")
    if findings:
        lines += ["Newest findings:", *(f"- {_finding(f)}" for f in findings[-5:])]
    if instruction:
        lines.append(f"Supervisor's latest instruction: {instruction}")
    return "\n".join(lines)


def _finding(f: dict) -> str:
    """A finding with the experiment it is about, so findings of different experiments are never read as one."""
    return f"[{f['experiment']}] {f['text']}" if f.get("experiment") else f["text"]


VERDICTS = {"improved": "improved on the best before it by more than 1 %",
            "no gain": "no gain: less than 1 % better than the best before it, and at most 5 % worse",
            "worse": "worse than the best before it", "error": "failed"}


def ledger_table(ledger: list[dict], metric: str, best: dict | None = None) -> str:
    """Every experiment: its id, what it changed (its label), its figure and how it compares; the best one says so,
    whatever its verdict was when it ran (an experiment less than 1 % better than the best before it is 'no gain'
    then, and may still be the lowest figure of all)."""
    best_id = (best or {}).get("id") or _best_id(ledger, metric)

    def row(e: dict) -> str:
        what = f"{e['id']}: {e.get('label') or e['candidate']} -> "
        if e.get("error"):
            return what + f"ERROR {e['error']['kind']}: {e['error']['message'][:200]}"
        verdict = VERDICTS.get(e.get("verdict", ""), e.get("verdict", ""))
        if e["id"] == best_id:
            verdict = ("BEST so far, by less than 1 % (no gain when it ran)" if e.get("verdict") == "no gain" else
                       "BEST so far")
        return (what + f"{metric} {e['metrics'].get(metric, float('nan')):.3f}, restarts "
                f"{e['metrics'].get('restart_fraction', float('nan')):.3f} ({verdict})")

    return "\n".join(row(e) for e in ledger) or "(no experiments yet)"


def _best_id(ledger: list[dict], metric: str) -> str | None:
    ok = [e for e in ledger if not e.get("error") and e.get("feasible", True) and "score" in e]
    return min(ok, key=lambda e: e["score"])["id"] if ok else None


def analyst_request(task: dict, new: list[dict], schema_text: str, diagnostics: list[str],
                    ledger: list[dict] | None = None, baselines: list[dict] | None = None,
                    previous: tuple[str, list[str]] | None = None) -> str:
    """The analyst's brief: the task, the experiments to analyse (by their telemetry run ids), every experiment so
    far and the baselines (to compare with), the standard diagnostics of the new experiments and of the previous one
    (``previous``: its run id and diagnostics), and the telemetry schema."""
    metric = task["objective"]["metric"]
    lines = [task_brief(task),
             "New experiments (run_id in the tables): "
             + ", ".join(e["id"] + " (" + (e.get("label") or "") + ")" for e in new)]
    if ledger:
        lines += [f"Experiments so far ({task['objective']['goal']} {metric}):", ledger_table(ledger, metric)]
    if baselines:
        lines.append(baselines_text(task, baselines))
    lines += ["Standard diagnostics of the new experiments:", *(f"- {d}" for d in diagnostics)]
    if previous:
        run_id, prev = previous
        lines += [f"Standard diagnostics of the previous experiment ({run_id}, in the same tables), to compare:",
                  *(f"- {d}" for d in prev)]
    lines.append(f"Telemetry schema:\n{schema_text}")
    return "\n".join(lines)


APPROVAL = ("Approving ends the run at once: no message reaches the researcher after it, and the design kept is the "
            "best experiment's file ({best}), whatever the design file holds now. To have anything else done, answer "
            "continue (or stop_line, combine) with the instruction.")


def supervisor_request(task: dict, reason: str, ledger: list[dict], findings: list[dict], researcher_text: str,
                       best: dict | None, baselines: list[dict] | None = None) -> str:
    metric = task["objective"]["metric"]
    best_line = (f"Best so far: {best['id']} ({best.get('label', '')}) with {metric} {best['value']:.3f}"
                 if best else "No successful design yet.")
    kept = f"{best['id']}, experiments/{best['id']}.py" if best else "none yet"
    base = baselines_text(task, baselines or [])
    return (f"{task_brief(task)}\nWhy you are consulted: {reason}\nExperiments:\n"
            f"{ledger_table(ledger, metric, best)}\n{best_line}\n" + (f"{base}\n" if base else "")
            + "Analyst findings (each with the experiment it is about):\n"
            + "\n".join(f"- {_finding(f)}" for f in findings[-8:])
            + f"\nThe researcher's recent messages (no code):\n{researcher_text}\n" + APPROVAL.format(best=kept))
