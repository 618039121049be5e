"""The Analyst: turns the newest experiments into findings with SQL on the telemetry database.

Two implementations: ``offline`` runs a fixed battery of diagnostic queries and applies thresholds; ``llm`` lets a
model explore the telemetry with the ``query_telemetry`` tool and write the findings."""

from __future__ import annotations

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, SystemMessage, ToolMessage
from langgraph.runtime import Runtime

from glia.nodes import prompts
from glia.nodes.claims import figures_in, mark_unsupported
from glia.nodes.common import from_agent, shown_figures, tool_context
from glia.nodes.llm.client import account, count, invoke_with_retries
from glia.nodes.llm.modes import adapt_messages, role_modes
from glia.nodes.llm.replies import FENCE, parse_reply
from glia.nodes.llm.structured import AnalystFindings, findings_from_text, structured_answer
from glia.nodes.progress import own_ledger
from glia.simulator.harness.telemetry import reading
from glia.state import Finding, GliaContext, GliaState, LedgerEntry
from glia.tools.telemetry_query import schema
from glia.tools.toolkit import ANALYST_TOOLS, QueryTelemetryArgs, execute, langchain_tools

MAX_QUERIES = 3  # rounds of SQL the model may run before it writes its findings

# topic -> (SQL over the experiment's rows; a finding's threshold test on the value; how to say it)
DIAGNOSTICS = {
    "time_breakdown": """
        SELECT avg(scheduled_at - arrived_at), avg(first_token_at - scheduled_at), avg(completed_at - first_token_at),
               sum(wasted_tokens) / sum(num_prefill_tokens + num_decode_tokens)
        FROM requests WHERE run_id = ?""",
    "restarts": """
        SELECT avg(CASE WHEN num_restarts > 0 THEN 1.0 ELSE 0 END), avg(e2e_s) FILTER (num_restarts > 0),
               avg(e2e_s) FILTER (num_restarts = 0)
        FROM requests WHERE run_id = ?""",
    "memory": """
        SELECT avg(allocated_blocks / num_blocks), avg(CASE WHEN allocated_blocks >= 0.95 * num_blocks THEN 1.0
               ELSE 0 END)
        FROM replica_samples WHERE run_id = ?""",
    "imbalance": """
        SELECT avg(cv) FROM (SELECT seed, t, stddev_pop(num_active + num_pending) /
               nullif(avg(num_active + num_pending), 0) AS cv
               FROM replica_samples WHERE run_id = ? GROUP BY seed, t) WHERE cv IS NOT NULL""",
    "short_prompts_wait": """
        WITH m AS (SELECT median(num_prefill_tokens) AS med FROM requests WHERE run_id = ?)
        SELECT avg(queueing_s) FILTER (num_prefill_tokens <= med), avg(queueing_s) FILTER (num_prefill_tokens > med),
               avg(slowdown) FILTER (num_prefill_tokens <= med), any_value(med)
        FROM requests, m WHERE run_id = ?""",
    # pooled over the requests of all seeds; beside it the mean of the per-seed p99s, which is the experiment's
    # p99_e2e_s (the tool's and the ledger's figure), so the two figures the agents see are never unexplained
    "tail": """
        SELECT quantile_cont(e2e_s, 0.5), quantile_cont(e2e_s, 0.99), avg(num_prefill_tokens) FILTER (e2e_s >=
               (SELECT quantile_cont(e2e_s, 0.99) FROM requests WHERE run_id = ?)),
               (SELECT avg(p99) FROM (SELECT quantile_cont(e2e_s, 0.99) AS p99 FROM requests WHERE run_id = ?
                                      GROUP BY seed)), count(DISTINCT seed)
        FROM requests WHERE run_id = ?""",
    "output_length": """
        SELECT avg(num_decode_tokens), median(num_decode_tokens), avg(num_prefill_tokens)
        FROM requests WHERE run_id = ?""",
}


def diagnose(db, run_id: str, extra: tuple[str, ...] = (), task: dict | None = None,
             experiment: str | None = None, best_run: str | None = None) -> list[Finding]:
    """The offline analyst's findings for one experiment (``run_id`` in the telemetry; ``experiment``: its ledger
    id, the run id by default): the standard battery, then the task's ``extra`` diagnostic sets
    (``EXTRA_DIAGNOSTICS``). A program task's are derived from its evaluator's metrics and artifacts
    (``programs/analyst.py``; ``best_run``: the best experiment's evaluation so far)."""
    experiment = experiment or run_id
    if task and task.get("design", {}).get("layer") == "program":
        from glia.nodes.programs.analyst import program_diagnose
        return program_diagnose(db, run_id, task, experiment, best_run)
    queries = dict(DIAGNOSTICS)
    for name in extra:
        queries.update(EXTRA_DIAGNOSTICS[name])
    vals: dict[str, tuple] = {}
    with reading(db) as con:
        for topic, sql in queries.items():
            vals[topic] = con.execute(sql, [run_id] * sql.count("?")).fetchone()
    out: list[Finding] = []

    def add(topic: str, flagged: bool, text: str, value: float | None):
        figures = [float(v) for v in vals[topic] if isinstance(v, (int, float))]
        out.append({"id": f"{experiment}:{topic}", "experiment": experiment, "topic": topic, "flagged": bool(flagged),
                    "text": text, "value": value, "sql": " ".join(queries[topic].split()), "figures": figures})

    q, prefill, decode, waste = vals["time_breakdown"]
    if q is not None:
        add("time_breakdown", q > decode, f"mean time per request: {q:.2f} s queued before admission, {prefill:.2f} s "
            f"to first token once admitted, {decode:.2f} s decoding; {100 * waste:.1f} % of processed tokens were "
            "wasted on recomputation", q)
    frac, e2e_r, e2e_n = vals["restarts"]
    if frac is not None:
        add("restarts", frac > 0.05, f"{100 * frac:.1f} % of requests were preempted and restarted"
            + (f"; they took {e2e_r:.1f} s end to end against {e2e_n:.1f} s for the others" if e2e_r else ""), frac)
    kv, full = vals["memory"]
    if kv is not None:
        add("memory", full > 0.3, f"KV cache {100 * kv:.0f} % used on average, at least 95 % full in "
            f"{100 * full:.0f} % of samples", full)
    (cv,) = vals["imbalance"]
    if cv is not None:
        add("imbalance", cv > 0.25, f"load across replicas varies by {100 * cv:.0f} % (coefficient of variation of "
            "in-flight requests at each sample)", cv)
    qs, ql, slow_s, med = vals["short_prompts_wait"]
    if qs is not None:
        add("short_prompts_wait", slow_s is not None and slow_s > 3.0, f"requests with prompts up to {med:.0f} "
            f"tokens waited {qs:.2f} s before admission (longer prompts {ql:.2f} s) and ran {slow_s:.1f}x slower than "
            + ("alone: short requests are stuck behind long ones" if ql is None or qs >= 0.5 * ql else
               "alone, though they wait far less than longer prompts: their slowdown is not queueing behind long "
               "ones"), slow_s)
    p50, p99, long_prompt, p99_seeds, seeds = vals["tail"]
    if p50 is not None:
        pooled = f"over all requests of the {seeds} seeds pooled" if seeds and seeds > 1 else "over its requests"
        per_seed = (f" (the mean of the per-seed p99s, p99_e2e_s, is {p99_seeds:.1f} s)" if seeds and seeds > 1
                    and p99_seeds is not None else "")
        add("tail", p99 > 5 * p50, f"p99 end-to-end {pooled} {p99:.1f} s{per_seed} against a median of {p50:.1f} s; "
            f"the slowest 1 % had {long_prompt:.0f}-token prompts on average", p99 / p50 if p50 else None)
    avg_d, med_d, avg_p = vals["output_length"]
    if avg_d is not None:
        add("output_length", avg_d > avg_p, f"outputs average {avg_d:.0f} tokens (median {med_d:.0f}) against "
            f"{avg_p:.0f}-token prompts: growth after admission is {avg_d / avg_p:.1f}x the prompt on average",
            avg_d)
    for name in extra:
        _EXTRA_FINDINGS[name](vals, add, task or {})
    return out


# extra diagnostic sets a task's offline rules can ask for (task [offline] diagnostics)
EXTRA_DIAGNOSTICS = {
    "scaling": {
        "slo_margin": """
            SELECT avg(p95), avg(p50) FROM (SELECT seed, quantile_cont(slowdown, 0.95) AS p95,
                   quantile_cont(slowdown, 0.5) AS p50 FROM requests WHERE run_id = ? GROUP BY seed)""",
        "per_replica_load": """
            SELECT avg(per), avg(n), stddev_pop(per) / nullif(avg(per), 0) FROM (
                SELECT seed, t, sum(num_pending + num_active) / count(*) AS per, count(*) AS n
                FROM replica_samples WHERE run_id = ? GROUP BY seed, t)""",
    },
    "ttft": {
        "ttft_tail": """
            WITH q AS (SELECT seed, quantile_cont(ttft_s, 0.9) AS p90, quantile_cont(ttft_s, 0.5) AS p50
                       FROM requests WHERE run_id = ? GROUP BY seed)
            SELECT avg(q.p90), avg(q.p50), avg(r.queueing_s) FILTER (r.ttft_s >= q.p90),
                   avg(r.first_token_at - r.scheduled_at) FILTER (r.ttft_s >= q.p90),
                   avg(r.num_prefill_tokens) FILTER (r.ttft_s >= q.p90), avg(r.num_prefill_tokens)
            FROM requests r JOIN q USING (seed) WHERE r.run_id = ?""",
        "ttft_imbalance": """
            SELECT avg(hi / nullif(lo, 0)) FROM (SELECT seed, max(m) AS hi, min(m) AS lo FROM (
                SELECT seed, replica_id, avg(ttft_s) AS m FROM requests WHERE run_id = ? GROUP BY seed, replica_id)
                GROUP BY seed)""",
    },
    "batch_cap": {
        "batch_cap": """
            WITH c AS (SELECT CAST(json_extract(config, '$.cluster.batch_size_cap') AS INTEGER) AS cap FROM runs
                       WHERE run_id = ?)
            SELECT avg(CASE WHEN num_active >= c.cap THEN 1.0 ELSE 0 END), avg(allocated_blocks / num_blocks),
                   avg(num_pending), any_value(c.cap)
            FROM replica_samples, c WHERE run_id = ?""",
    },
}


def _scaling_findings(vals: dict, add, task: dict) -> None:
    c = (task.get("objective") or {}).get("constraint") or {}
    p95, p50 = vals["slo_margin"]
    if p95 is not None:
        bound = c.get("max") if c.get("metric") == "p95_slowdown" else None
        margin = f" against a bound of {bound:g}" if bound else ""
        add("slo_margin", bound is not None and (p95 < 0.6 * bound or p95 > bound),
            f"p95 slowdown {p95:.2f}{margin} (median {p50:.2f})"
            + ("; capacity to spare" if bound and p95 < 0.6 * bound else "; the bound is broken"
               if bound and p95 > bound else ""), p95)
    per, n, cv = vals["per_replica_load"]
    if per is not None:
        add("per_replica_load", cv is not None and cv > 0.3,
            f"{per:.1f} requests in flight per replica on average over {n:.1f} replicas; it varies by "
            f"{100 * (cv or 0):.0f} % over time: the cluster's size does not follow the load", per)


def _ttft_findings(vals: dict, add, task: dict) -> None:
    c = (task.get("objective") or {}).get("constraint") or {}
    bound = c.get("max") if c.get("metric") == "p90_ttft_s" else None
    p90, p50, queued, prefill, tail_prompt, mean_prompt = vals["ttft_tail"]
    if p90 is not None:
        add("ttft_tail", (bound is not None and p90 > bound) or p90 > 2 * p50,
            f"p90 TTFT {p90:.2f} s" + (f" against a bound of {bound:g} s" if bound is not None else "")
            + f" (median {p50:.2f} s); the slowest 10 % waited {queued or 0:.2f} s for admission (the token budget "
            f"taken by other prompts' chunks) and {prefill or 0:.2f} s more to their first token; their prompts "
            f"average {tail_prompt or 0:.0f} tokens (all requests: {mean_prompt:.0f}): a first token waits for the "
            "prefill work queued ahead of it", p90)
    (ratio,) = vals["ttft_imbalance"]
    if ratio is not None:
        add("ttft_imbalance", ratio > 1.2, f"mean TTFT differs {ratio:.2f}x between the fastest and the slowest "
            "replica: the load signal does not see prefill work", ratio)


def _batch_cap_findings(vals: dict, add, task: dict) -> None:
    at_cap, kv, pending, cap = vals["batch_cap"]
    if at_cap is not None:
        add("batch_cap", at_cap > 0.2 and kv < 0.7,
            f"replicas ran at the batch-size cap ({cap}) in {100 * at_cap:.0f} % of samples with the KV cache "
            f"{100 * kv:.0f} % used and {pending:.1f} requests pending on average: batch slots, not memory, limit "
            "admission", at_cap)


_EXTRA_FINDINGS = {"scaling": _scaling_findings, "ttft": _ttft_findings, "batch_cap": _batch_cap_findings}


def _best_run(state: GliaState) -> str | None:
    """The telemetry id of the best experiment so far (program tasks compare each experiment with it)."""
    best = state.get("best")
    entry = next((e for e in state.get("ledger", []) if best and e["id"] == best["id"]), None)
    return entry.get("run_id") if entry else None


def _new_experiments(state: GliaState) -> list[LedgerEntry]:
    done = {f["experiment"] for f in state.get("findings", [])}
    return [e for e in own_ledger(state) if e["id"] not in done and not e.get("error")]


def offline_analyst(state: GliaState, runtime: Runtime[GliaContext]) -> GliaState:
    new = _new_experiments(state)
    findings = []
    task = state["task"]
    extra = tuple((task.get("offline") or {}).get("diagnostics", ()))
    for e in new:
        findings += diagnose(runtime.context.db, e.get("run_id", e["id"]), extra, task, e["id"], _best_run(state))
    flagged = [f for f in findings if f["flagged"]]
    lines = [f"- {f['text']}" for f in (flagged or findings)[:6]]
    ids = ", ".join(e["id"] for e in new)
    report = (f"Findings on {ids} (heuristic analyst, SQL on telemetry):\n" + "\n".join(lines) if new
              else "No new successful experiment to analyse.")
    return {"findings": findings, "researcher_messages": [from_agent("analyst", report)],
            "analyst_messages": [HumanMessage(content=report, name="analyst")]}


def llm_analyst(state: GliaState, runtime: Runtime[GliaContext]) -> GliaState:
    """The model starts from the harness's standard diagnostics of the new experiments, may query the telemetry
    a few times (natively or as SQL written in its reply, by its endpoint's mode), then answers with findings in
    the schema its endpoint supports best."""
    ctx = runtime.context
    new = _new_experiments(state)
    if not new:
        return {"researcher_messages": [from_agent("analyst", "No new successful experiment to analyse.")]}
    modes = role_modes(ctx.modes, "analyst")
    model = ctx.model("analyst")
    tctx = tool_context(state, ctx)
    usage: dict = {}

    def call(runnable, msgs):
        reply = invoke_with_retries(runnable, msgs, ctx.settings, "analyst")
        account(usage, "analyst", reply.get("raw") if isinstance(reply, dict) else reply, model)
        return reply

    task = state["task"]
    extra = tuple((task.get("offline") or {}).get("diagnostics", ()))
    standard = [f for e in new for f in diagnose(ctx.db, e.get("run_id", e["id"]), extra, task, e["id"],
                                                 _best_run(state))]
    # the model queries the telemetry, where an experiment is its run id
    in_telemetry = [{**e, "id": e.get("run_id", e["id"])} for e in new]
    # the experiment before the new ones, with its diagnostics: a comparison across experiments can be checked
    before = [e for e in own_ledger(state) if not e.get("error") and e["seq"] < new[0]["seq"]]
    previous = None
    if before:
        prev = before[-1]
        prev_diag = diagnose(ctx.db, prev.get("run_id", prev["id"]), extra, task, prev["id"])
        standard_prev = [x for f in prev_diag for x in f.get("figures", [])]
        previous = (prev.get("run_id", prev["id"]), [f["text"] for f in prev_diag])
    else:
        standard_prev = []
    messages: list[AnyMessage] = [
        SystemMessage(content=prompts.PROGRAM_ANALYST_SYSTEM if task["design"].get("layer") == "program" else
                      prompts.ANALYST_SYSTEM),
        HumanMessage(content=prompts.analyst_request(task, in_telemetry, schema(tctx.db),
                                                     [f["text"] for f in standard], own_ledger(state),
                                                     state.get("baselines", []), previous))]
    native = modes.tools == "native_auto"
    asking = model.bind_tools(langchain_tools(ANALYST_TOOLS), tool_choice="auto") if native else model
    for _ in range(MAX_QUERIES):
        reply = call(asking, [*adapt_messages(messages, modes), HumanMessage(content=prompts.ANALYST_QUERY)])
        queries = _queries(reply)
        if not queries:
            break
        messages.append(reply if native else AIMessage(content=str(reply.content)))
        for call_id, sql in queries:
            res = execute(tctx, "query_telemetry", {"sql": sql}, call_id, 0)
            messages.append(ToolMessage(content=res.text, tool_call_id=call_id, name="query_telemetry",
                                        status="error" if res.error else "success") if native else
                            HumanMessage(content=f"[result of {sql}]\n{res.text}"))
    answer = structured_answer(model, AnalystFindings, [*adapt_messages(messages, modes),
                                                        HumanMessage(content=prompts.ANALYST_FINDINGS)],
                               modes.structured, findings_from_text, invoke=call)
    seen = [x for f in standard for x in f.get("figures", [])] + standard_prev + [
        x for m in messages[2:] for x in figures_in(str(m.content))]
    last = new[-1]["id"]
    # what it states that neither the diagnostics, its queries nor any experiment measured is marked at once, so
    # the researcher and the supervisor do not take it for a result
    figures = shown_figures(state, [*seen, *(str(m.content) for m in messages[1:]), *(f["text"] for f in standard)])
    findings: list[Finding] = [{"id": f"{last}:llm{i}", "experiment": last, "topic": "llm", "flagged": True,
                                "text": mark_unsupported(f.text.strip(), figures, [e["id"] for e in new]),
                                "value": None, "sql": "",
                                "figures": seen}
                               for i, f in enumerate(answer.value.findings) if f.text.strip()]
    if not findings:  # the model said nothing usable: the standard diagnostics stand
        findings = standard
    count(usage, "analyst", structured_fallbacks=int(answer.method == "text_fallback"))
    ids = ", ".join(e["id"] for e in new)
    report = f"Findings on {ids}:\n" + "\n".join(f"- {f['text']}" for f in findings if f["flagged"])
    return {"findings": findings, "researcher_messages": [from_agent("analyst", report)],
            "analyst_messages": [*messages[1:], HumanMessage(content=report, name="analyst")], "usage": usage}


def _queries(reply: AIMessage) -> list[tuple[str, str]]:
    """The SQL queries a reply asks for: native or written calls of query_telemetry, or ```sql blocks."""
    parsed = parse_reply(reply, specs={"query_telemetry": QueryTelemetryArgs}, code=False)
    found = [(a.id, a.args["sql"]) for a in parsed.actions if a.args.get("sql", "").strip()]
    if not found:
        found = [(f"sql{i}", body.strip()) for i, (lang, body) in enumerate(FENCE.findall(str(reply.content)))
                 if lang.lower() == "sql" and body.strip()]
    return found[:2]
