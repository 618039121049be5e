"""The Analyst: turns the newest experiments into findings with SQL on the telemetry database.

Two implementations: ``offline`` runs a fixed battery of diagnostic queries and applies thresholds; ``llm`` lets a
model explore the telemetry with the ``query_telemetry`` tool and write the findings."""

from __future__ import annotations

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, SystemMessage, ToolMessage
from langgraph.runtime import Runtime

from glia.simulator.telemetry import reading
from glia.state import Finding, GliaContext, GliaState, LedgerEntry
from glia.tools.telemetry_query import schema
from glia.tools.toolkit import ANALYST_TOOLS, QueryTelemetryArgs, execute, langchain_tools

from . import prompts
from .claims import figures_in, known_figures, mark_unsupported
from .common import from_agent, tool_context
from .llm import account, count, invoke_with_retries
from .modes import adapt_messages, role_modes
from .progress import own_ledger
from .replies import FENCE, parse_reply
from .structured import AnalystFindings, findings_from_text, structured_answer

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
    "tail": """
        SELECT quantile_cont(e2e_s, 0.5), quantile_cont(e2e_s, 0.99), avg(num_prefill_tokens) FILTER (e2e_s >=
               (SELECT quantile_cont(e2e_s, 0.99) FROM requests WHERE run_id = ?))
        FROM requests WHERE run_id = ?""",
    "output_length": """
        SELECT avg(num_decode_tokens), median(num_decode_tokens), avg(num_prefill_tokens)
        FROM requests WHERE run_id = ?""",
}


def diagnose(db, run_id: str) -> list[Finding]:
    """The offline analyst's findings for one experiment."""
    vals: dict[str, tuple] = {}
    with reading(db) as con:
        for topic, sql in DIAGNOSTICS.items():
            vals[topic] = con.execute(sql, [run_id] * sql.count("?")).fetchone()
    out: list[Finding] = []

    def add(topic: str, flagged: bool, text: str, value: float | None):
        figures = [float(v) for v in vals[topic] if isinstance(v, (int, float))]
        out.append({"id": f"{run_id}:{topic}", "experiment": run_id, "topic": topic, "flagged": bool(flagged),
                    "text": text, "value": value, "sql": " ".join(DIAGNOSTICS[topic].split()), "figures": figures})

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
            "alone: short requests are stuck behind long ones", slow_s)
    p50, p99, long_prompt = vals["tail"]
    if p50 is not None:
        add("tail", p99 > 5 * p50, f"p99 end-to-end {p99:.1f} s against a median of {p50:.1f} s; the slowest 1 % "
            f"had {long_prompt:.0f}-token prompts on average", p99 / p50 if p50 else None)
    avg_d, med_d, avg_p = vals["output_length"]
    if avg_d is not None:
        add("output_length", avg_d > avg_p, f"outputs average {avg_d:.0f} tokens (median {med_d:.0f}) against "
            f"{avg_p:.0f}-token prompts: growth after admission is {avg_d / avg_p:.1f}x the prompt on average",
            avg_d)
    return out


def _new_experiments(state: GliaState) -> list[LedgerEntry]:
    done = {f["experiment"] for f in state.get("findings", [])}
    return [e for e in own_ledger(state) if e["id"] not in done and not e.get("error")]


def offline_analyst(state: GliaState, runtime: Runtime[GliaContext]) -> GliaState:
    new = _new_experiments(state)
    findings = []
    for e in new:
        findings += diagnose(runtime.context.db, e["id"])
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

    standard = [f for e in new for f in diagnose(ctx.db, e["id"])]
    messages: list[AnyMessage] = [
        SystemMessage(content=prompts.ANALYST_SYSTEM),
        HumanMessage(content=prompts.analyst_request(state["task"], new, schema(tctx.db),
                                                     [f["text"] for f in standard]))]
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
    seen = [x for f in standard for x in f.get("figures", [])] + [
        x for m in messages[2:] for x in figures_in(str(m.content))]
    last = new[-1]["id"]
    # what it states that neither the diagnostics, its queries nor any experiment measured is marked at once, so
    # the researcher and the supervisor do not take it for a result
    figures = known_figures(state, seen)
    findings: list[Finding] = [{"id": f"{last}:llm{i}", "experiment": last, "topic": "llm", "flagged": True,
                                "text": mark_unsupported(f.text.strip(), figures), "value": None, "sql": "",
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
