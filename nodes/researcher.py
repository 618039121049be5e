"""The LLM Researcher: one action per turn, however its endpoint takes tools.

Every turn the model sees the task, its recent conversation and the workbench (the design file as it is now, every
experiment, the newest findings, the supervisor's latest word, the simulations left), and is asked for one action
in the way its endpoint supports (``nodes/llm/modes.py``): native calls under ``auto`` or ``required``, a two-stage
choice (pick an action from a fixed list, then carry it out with that tool forced, or write the new design), or
plain text. Whatever comes back is parsed (``nodes/llm/replies.py``): native calls, calls written as text, a fenced
Python block (a new design, written to the design file and run), a finish. A reply with nothing runnable gets a
specific error back, at most ``MAX_REPAIRS`` times in a row; running an unchanged design again (or one changed only
in its comments) is refused; results claimed in prose that nothing measured are answered with the real ledger."""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import re
from pathlib import Path

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, SystemMessage, ToolMessage
from langgraph.runtime import Runtime

from glia.nodes import design_form, prompts
from glia.nodes.claims import mark_unsupported, unsupported
from glia.nodes.common import shown_figures
from glia.nodes.llm.client import account, count, invoke_with_retries
from glia.nodes.llm.modes import RoleModes, adapt_messages, choose_action_tool, role_modes
from glia.nodes.llm.replies import (
    FENCE,
    MAX_REPAIRS,
    POLICY,
    ParsedReply,
    as_tool_calls,
    change_summary,
    clipped_idea,
    idea_of,
    parse_reply,
    policy_problem,
)
from glia.nodes.progress import budget_exhausted, own_ledger, sims_left
from glia.simulator.policy.guard import ForbiddenCode, check_source
from glia.state import GliaContext, GliaState
from glia.state.tasks.task import layer_of
from glia.tools.evaluator import program_key
from glia.tools.toolkit import RESEARCHER_TOOLS, langchain_tools

HISTORY = 8  # recent messages the model sees beside the workbench
# in the functions form (small models), only the last exchange: the workbench holds the rest, and every token of a
# prompt costs a local model's prefill (~13 tokens/s on a loaded 2-core machine), while its unchanged start is cached
HISTORY_FUNCTIONS = 3
RETRY_TEMPERATURE = 0.7  # after a reply was sent back: at temperature 0 a small model repeats it word for word
# where a small model, having written its functions, goes on to echo the workbench with results it invented: its
# reply ends there (in the functions form, written as text, the only form whose replies are this short)
ECHOES = ("\nExperiments (", "\nWhat is your next action?", "\nSimulations left:", "\nNewest findings:",
          "\nYour next action:")
ACTIONS = (prompts.NEW_POLICY, *(t for t in RESEARCHER_TOOLS if t != "finish"), "finish")


def llm_researcher(state: GliaState, runtime: Runtime[GliaContext]) -> GliaState:
    ctx = runtime.context
    stop = budget_exhausted(state)
    if stop:
        msg = AIMessage(content=f"Budget reached ({stop}); proposing the best design so far.", name="researcher")
        return {"researcher_messages": [msg], "phase": "done"}
    configured = role_modes(ctx.modes, "researcher")
    form = _form(state, configured)
    if not own_ledger(state) and _design_source(state) == state["task"]["design"]["starter_source"]:
        # the protocol's first step, taken for the model: it designs from measured figures, not from nothing
        return _measure_starter(state, form)
    switch = _switch(state, form)
    if switch:
        return switch
    usage: dict = {}
    corrections = _corrections(state.get("researcher_messages", []))
    retrying = bool(corrections)
    # a reply the harness could not read (not a refused design) is a matter of the tool-call format
    modes = _modes(state, configured, retrying and bool(corrections[0].additional_kwargs.get("unusable", True)), usage)
    reply = _ask(ctx, modes, _conversation(state, modes, form), usage, RETRY_TEMPERATURE if retrying else None,
                 form)
    design = state["task"]["design"]["file"]
    parsed = (design_form.functions_reply(reply, _design_source(state), layer_of(state["task"]), design)
              if form == "functions" else parse_reply(reply, program=layer_of(state["task"]) == "program"))
    if layer_of(state["task"]) == "program":
        parsed = _block_only(parsed, state)
    problem = parsed.error() or _design_problem(parsed, design, state) or _repeat(state, parsed, design)
    # each reply is counted once: run as a native call, run after reading it from text, or sent back
    count(usage, "researcher", replies=1, repairs=int(bool(problem)),
          parsed_from_text=int(not problem and parsed.shape != "native"))
    if problem:  # a reply that could not be read at all is a matter of form; a refused design, of content
        return _repair(state, reply, problem, usage, form_problem=bool(parsed.error()))
    calls = as_tool_calls(parsed.actions, design, _label(state, parsed, reply))
    said = AIMessage(content=reply.content, tool_calls=calls, name="researcher", id=reply.id)
    finish = next((c for c in calls if c["name"] == "finish"), None)
    if finish is None:
        return {"researcher_messages": [said], "usage": usage, "phase": "experiment"}
    summary = mark_unsupported(_proposal(finish["args"].get("summary", "")), shown_figures(state))
    note = AIMessage(content=f"Proposal: {summary}" if summary else "I propose the best design so far.",
                     name="researcher")
    # a finish is answered here, so every call in the conversation has its result
    acks = [ToolMessage(content="noted: the supervisor will review", tool_call_id=c["id"]) for c in calls]
    return {"researcher_messages": [said, *acks, note], "usage": usage, "phase": "done"}


def _modes(state: GliaState, modes: RoleModes, unusable: bool, usage: dict) -> RoleModes:
    """The role's modes, or its fallback for the rest of the context once a native reply could not be read
    (``unusable``): a model that wrote one unusable native call tends to write the next one the same way. A reply that
    was read but whose design was refused (a static rule, a repeat) says nothing about the tool-call format, so it
    keeps the mode (a frontier model's refused patch once cost two more turns in the fallback's two-stage form)."""
    if not modes.fallback:
        return modes
    fell_back = (state.get("usage", {}).get("researcher") or {}).get("mode_fallbacks", 0)
    if not (fell_back or unusable):
        return modes
    if not fell_back:
        count(usage, "researcher", mode_fallbacks=1)
    return modes.model_copy(update={"tools": modes.fallback})


def _form(state: GliaState, modes: RoleModes) -> str:
    """The design form the researcher works in now (``nodes/design_form.py``); a program is written whole."""
    if layer_of(state["task"]) == "program":
        return "class"
    return design_form.form_of(_design_source(state), modes.design_form, bool(own_ledger(state)))


def _measure_starter(state: GliaState, form: str) -> GliaState:
    """Measure the starting design (in the functions form: the layer's functions starter, which does what the
    layer's standard design does, written to the design file first)."""
    calls = [{"name": "run_simulation", "args": {"label": "starter"}, "id": "starter", "type": "tool_call"}]
    text = "[harness] Measuring the starting design first."
    if form == "functions":
        layer = layer_of(state["task"])
        calls.insert(0, {"name": "write_file", "args": {"path": state["task"]["design"]["file"],
                                                        "content": design_form.starter(layer)},
                         "id": "starter-form", "type": "tool_call"})
        calls[1]["args"]["label"] = "starter (functions form)"
        text = ("[harness] The design is written as small functions called by a fixed driver (the functions form); "
                "measuring its starting version first.")
    return {"researcher_messages": [AIMessage(content=text, tool_calls=calls, name="harness")],
            "phase": "experiment"}


def _switch(state: GliaState, form: str) -> GliaState | None:
    """After ``SWITCH_AFTER`` designs in a row failed in one form, the design file is put in the other: the
    functions form's starter, or the task's whole-class starter; the researcher is told why."""
    ledger = own_ledger(state)
    if layer_of(state["task"]) == "program":  # no other form to switch to
        return None
    streak = design_form.failing_streak(ledger, state["workspace"], form)
    if streak < design_form.SWITCH_AFTER:
        return None
    other = "class" if form == "functions" else "functions"
    layer = layer_of(state["task"])
    content = design_form.starter(layer) if other == "functions" else state["task"]["design"]["starter_source"]
    if not content:
        return None
    call = {"name": "write_file", "args": {"path": state["task"]["design"]["file"], "content": content},
            "id": f"form-{len(ledger)}", "type": "tool_call"}
    what = ("small functions called by a fixed driver" if other == "functions" else "the whole policy class")
    text = (f"[harness] {streak} designs in a row failed in the {form} form; the design file is now written as {what} "
            f"(the {other} form), starting from its working version.")
    return {"researcher_messages": [AIMessage(content=text, tool_calls=[call], name="harness")],
            "phase": "experiment"}


def _conversation(state: GliaState, modes: RoleModes, form: str = "class") -> list[AnyMessage]:
    """System prompt and protocol, the task, the recent conversation (as this endpoint can take it) and, last,
    the workbench."""
    task = state["task"]
    design = task["design"]["file"]
    layer = layer_of(task)
    text = prompts.PROTOCOL_PROGRAM_TEXT if layer == "program" else prompts.PROTOCOL_TEXT
    protocol = (text.format(design=design, tools=", ".join(RESEARCHER_TOOLS))
                if modes.tools == "text" else prompts.PROTOCOL_TOOLS)
    system = prompts.program_system(task) if layer == "program" else prompts.researcher_system(layer)
    if form == "functions" and layer != "program":
        system = prompts.researcher_system(layer, design_form.api_text(layer))
        actions = prompts.FUNCTIONS_ACTIONS["text" if modes.tools == "text" else "tools"]
        protocol = prompts.PROTOCOL_FUNCTIONS.format(actions=actions.format(tools=", ".join(RESEARCHER_TOOLS)))
    head: list[AnyMessage] = [SystemMessage(content=f"{system}\n\n{protocol}"),
                              HumanMessage(content=prompts.task_brief(task))]
    if state.get("summary"):
        head.append(HumanMessage(content=f"Summary of the earlier conversation:\n{state['summary']}"))
    flat = modes if modes.tools in ("native_auto", "required") else modes.model_copy(
        update={"tool_results": "user_messages"})  # tools are not bound on every call: history as plain text
    recent = _recent(state.get("researcher_messages", []), HISTORY if form == "class" else HISTORY_FUNCTIONS)
    if form == "functions":  # the workbench lists the newest findings: a small model's prompt holds them once;
        # the harness's own steps (as the assistant's turns) are left out: a small model continued them as its reply
        recent = [m for m in recent if getattr(m, "name", None) != "analyst"
                  and not (isinstance(m, AIMessage) and getattr(m, "name", None) == "harness")]
    return head + adapt_messages(recent, flat) + [
        HumanMessage(content=_workbench(state, form) + "\n" + _next_action(layer, form, modes, _one_block(state)))]


def _one_block(state: GliaState) -> int:
    """How many EVOLVE-BLOCK regions a program task's design file has (0: none, or not a program task)."""
    from glia.tools.programs import blocks
    if layer_of(state["task"]) != "program" or not state["task"]["design"].get("blocks"):
        return 0
    try:
        return len(blocks.regions(_design_source(state) or state["task"]["design"]["starter_source"])[1])
    except blocks.BlockError:
        return 0


def _next_action(layer: str, form: str, modes: RoleModes, blocks: int = 0) -> str:
    """The workbench's last line: on the text protocol, the shape of the reply wanted (a small model answers the
    last thing it read; a menu there came back as the reply)."""
    if modes.tools != "text":
        return "What is your next action?"
    if layer == "program":
        return prompts.NEXT_PROGRAM_BLOCK if blocks == 1 else prompts.NEXT_PROGRAM
    return prompts.NEXT_FUNCTIONS if form == "functions" else "What is your next action?"


def _recent(messages: list[AnyMessage], keep: int = HISTORY) -> list[AnyMessage]:
    """The last ``keep`` messages, starting after a tool result's call never, with old code replaced by a note
    (the workbench shows the design as it is; each version that ran is in experiments/)."""
    cut = max(0, len(messages) - keep)
    while cut > 0 and isinstance(messages[cut], ToolMessage):
        cut -= 1
    out: list[AnyMessage] = []
    for m in messages[cut:]:
        if isinstance(m, AIMessage) and m.tool_calls:
            calls = [{**c, "args": {**c["args"], "content": f"({len(str(c['args']['content']))} characters)"}}
                     if c["name"] == "write_file" else c for c in m.tool_calls]
            m = m.model_copy(update={"tool_calls": calls})
        out.append(m)
    return out


def _design_source(state: GliaState) -> str:
    path = Path(state["workspace"]) / state["task"]["design"]["file"]
    return path.read_text(errors="replace") if path.is_file() else ""


def _workbench(state: GliaState, form: str = "class") -> str:
    task = state["task"]
    source = _design_source(state)
    mine = [i for i in state.get("interventions", []) if i.get("context") == state.get("context_id")]
    findings = [f for f in state.get("findings", []) if f.get("flagged")]
    best = state.get("best")
    best_source = Path(best["snapshot"]).read_text(errors="replace") if best and Path(
        best.get("snapshot", "")).is_file() else None
    note = "" if layer_of(task) == "program" else (design_form.repeated_error(own_ledger(state), layer_of(task), form)
                                                   or design_form.unchanged_decisions(own_ledger(state)))
    return prompts.workbench(task, source, own_ledger(state), state.get("baselines", []), findings,
                             mine[-1]["text"] if mine else None, sims_left(state), best, best_source, note)


def _ask(ctx: GliaContext, modes: RoleModes, messages: list[AnyMessage], usage: dict,
         temperature: float | None = None, form: str = "class") -> AIMessage:
    """One action from the model, asked the way its endpoint supports (at ``temperature`` when given)."""
    model = _at(ctx.model("researcher"), temperature)
    tools = langchain_tools(RESEARCHER_TOOLS)

    def call(runnable, msgs) -> AIMessage:
        reply = invoke_with_retries(runnable, msgs, ctx.settings, "researcher")
        account(usage, "researcher", reply, model)
        return reply

    if modes.tools == "native_auto":
        return call(model.bind_tools(tools, tool_choice="auto"), messages)
    if modes.tools == "required":
        return call(model.bind_tools(tools, tool_choice="required"), messages)
    if modes.tools == "text":
        return call(model.bind(stop=list(ECHOES)) if form == "functions" else model, messages)
    # named_router: choose an action from a fixed list, then carry it out
    choice = call(model.bind_tools([choose_action_tool(ACTIONS, prompts.IDEA)], tool_choice="choose_action"),
                  [*messages, HumanMessage(content=prompts.CHOOSE_ACTION)])
    action, idea = _chosen(choice)
    if action is None:  # no valid choice: the reply is parsed as it is
        return choice
    said = f"Next: {action}." + (f" Idea: {idea}" if idea and action == prompts.NEW_POLICY else "")
    change = prompts.YOUR_IDEA.format(idea=idea.rstrip(".")) if idea else prompts.ANY_IDEA
    asked = [*messages, AIMessage(content=said), HumanMessage(
        content=(prompts.WRITE_FUNCTIONS.format(idea=change) if form == "functions" else
                 prompts.WRITE_POLICY.format(design="the design file", idea=change)) if action == prompts.NEW_POLICY
        else prompts.USE_TOOL.format(tool=action))]
    if action == prompts.NEW_POLICY:
        reply = call(model, asked)
        # the idea stays with the code it explains: it is the experiment's label and the history's record of it
        return reply.model_copy(update={"content": f"Idea: {idea}\n{reply.content}"}) if idea else reply
    return call(model.bind_tools([t for t in tools if t.name == action], tool_choice=action), asked)


def _at(model, temperature: float | None):
    """The model sampling at ``temperature``, where it has one to set (scripted test models have none)."""
    if temperature is None or "temperature" not in getattr(type(model), "model_fields", {}):
        return model
    return model.model_copy(update={"temperature": temperature})


def _chosen(reply: AIMessage) -> tuple[str | None, str]:
    """The action chosen in the first stage, and the idea stated with it."""
    for tc in reply.tool_calls or []:
        args = tc.get("args") or {}
        action = str(args.get("action", "")).strip()
        if action in ACTIONS:
            return action, str(args.get("idea") or "").strip()
    text = str(reply.content or "")
    return next((a for a in ACTIONS if a in text), None), ""


def _design_problem(parsed: ParsedReply, design: str, state: GliaState | None = None) -> str | None:
    """A new design that cannot run as meant, or that breaks the rules every design is checked against before it
    runs (``guard.check_source``), is sent back before it costs a simulation. A program (a program task's) must
    parse and keep the starter's code outside its EVOLVE-BLOCK regions."""
    if state is not None and layer_of(state["task"]) == "program":
        return _program_problem(parsed, design, state)
    for a in parsed.actions:
        code = a.args["code"] if a.name == POLICY else a.args.get("content") if (
            a.name == "write_file" and a.args.get("path") == design) else None
        if a.name == "patch_file" and a.args.get("path") == design and state is not None:
            code = _patched(state, design, a.args)  # the file as the patch would leave it, checked before it runs
        problem = policy_problem(code) if code is not None else None
        if problem:
            return f"[harness] {problem}"
        if code is not None and (refused := _refused(code, design)):
            return refused
    if state is not None and any(a.name == "run_simulation" for a in parsed.actions) and not any(
            a.name in (POLICY, "write_file", "patch_file") for a in parsed.actions):
        run = next(a for a in parsed.actions if a.name == "run_simulation")
        candidate = run.args.get("candidate") or design
        path = Path(state["workspace"]) / candidate
        if str(candidate).endswith(".py") and path.is_file():
            return _refused(path.read_text(errors="replace"), candidate)
    return None


def _block_only(parsed: ParsedReply, state: GliaState) -> ParsedReply:
    """A program whose starter has one EVOLVE-BLOCK: a Python block without the markers is that block's new code
    (a small model asked for the code it changes writes only that), spliced into the design file as it is."""
    from glia.tools.programs import blocks
    if _one_block(state) != 1:
        return parsed
    current = _design_source(state) or state["task"]["design"]["starter_source"]
    actions = [dataclasses.replace(a, args={**a.args, "code": blocks.splice(current, ["\n" + a.args["code"].strip("\n")
                                                                                        + "\n"])})
               if a.name == POLICY and blocks.START not in a.args["code"] else a for a in parsed.actions]
    return dataclasses.replace(parsed, actions=actions)


def _program_problem(parsed: ParsedReply, design: str, state: GliaState) -> str | None:
    from glia.tools.programs import blocks
    task = state["task"]
    for a in parsed.actions:
        code = a.args["code"] if a.name == POLICY else a.args.get("content") if (
            a.name == "write_file" and a.args.get("path") == design) else None
        if a.name == "patch_file" and a.args.get("path") == design:
            code = _patched(state, design, a.args)
        if code is None:
            continue
        if design.endswith(".py"):
            try:
                compile(code, design, "exec")
            except SyntaxError as exc:
                return f"[harness] Your program does not parse: line {exc.lineno}: {exc.msg}. Not run, not charged."
        if task["design"].get("blocks"):
            try:
                blocks.check(task["design"]["starter_source"], code)
            except blocks.BlockError as exc:
                return f"[harness] Not run, not charged: {exc}."
            if broken := _called_signature(task["design"]["starter_source"], code):
                return f"[harness] Not run, not charged: {broken}"
    return None


def _called_signature(starter: str, code: str) -> str | None:
    """A function of the starter's EVOLVE-BLOCKs that the code outside them calls (the harness's entry point calls
    ``place(jobs, machines)``) must still take those calls: the same leading arguments, any new one with a default.
    The 1.5B model added an argument to ``place`` and the evaluation was spent on a TypeError."""
    from glia.tools.programs import blocks
    try:
        outside, inside = blocks.regions(starter)
        old, new = ast.parse(starter), ast.parse(code)
    except (SyntaxError, blocks.BlockError):
        return None
    outside_text = "\n".join(outside)
    defs = {n.name: n for n in new.body if isinstance(n, ast.FunctionDef)}
    for f in old.body:
        if not (isinstance(f, ast.FunctionDef) and f.name in defs and re.search(rf"\b{f.name}\s*\(", outside_text)
                and any(f"def {f.name}(" in block for block in inside)):
            continue
        want = [a.arg for a in f.args.posonlyargs + f.args.args]
        g = defs[f.name].args
        got = g.posonlyargs + g.args
        required = len(got) - len(g.defaults)
        if (len(got) < len(want) and not g.vararg) or required > len(want) or None in g.kw_defaults:
            return (f"{f.name} must keep its arguments: def {f.name}({', '.join(want)}), as the code outside the "
                    f"EVOLVE-BLOCK calls it (yours takes {', '.join(a.arg for a in got) or 'none'}; a new argument "
                    "needs a default value).")
    return None


def _refused(code: str, file: str) -> str | None:
    """The static check's refusal of ``code``, as sent back (nothing ran, nothing was charged), or None."""
    try:
        check_source(code, file)
    except ForbiddenCode as exc:
        return (f"[harness] Not run, and no simulation charged: the design breaks a rule checked before any design "
                f"runs.\n{exc}")
    return None


def _patched(state: GliaState, design: str, args: dict) -> str | None:
    """The design file as a patch would leave it (None when the patch would not apply: the tool says why)."""
    path = Path(state["workspace"]) / design
    text = path.read_text(errors="replace") if path.is_file() else ""
    old = str(args.get("old", ""))
    return text.replace(old, str(args.get("new", ""))) if old and text.count(old) == 1 else None


def _label(state: GliaState, parsed: ParsedReply, reply: AIMessage) -> str:
    """What an experiment changes, for a run the model did not name: the hypothesis or idea its reply states
    (a whole sentence, ``idea_of``), else (or beside a few words such as "A new design" or the name the reply gives
    it, "E3 reserve 192") a summary of the code's changes against the last experiment that ran; a sentence cut
    short only when neither exists."""
    idea = idea_of(str(reply.content or ""))
    if len(idea.split()) >= 4:
        return idea
    design = state["task"]["design"]["file"]
    new = next((a.args["code"] for a in parsed.actions if a.name == POLICY), None)
    new = next((a.args["content"] for a in parsed.actions
                if a.name == "write_file" and a.args.get("path") == design), new)
    ledger = own_ledger(state)
    last = Path(state["workspace"]) / ledger[-1]["snapshot"] if ledger and ledger[-1].get("snapshot") else None
    change = change_summary(last.read_text(errors="replace"), new) if new is not None and last is not None and \
        last.is_file() else ""
    return f"{idea}: {change}" if idea and change else idea or change or clipped_idea(str(reply.content or ""))


def _proposal(summary) -> str:
    """The finish summary without a leading 'Proposal:' (the note adds its own: "Proposal: Proposal: ...")."""
    text = str(summary or "").strip()
    while text.lower().startswith("proposal:"):
        text = text[len("proposal:"):].strip()
    return text


def _repeat(state: GliaState, parsed: ParsedReply, design: str) -> str | None:
    """Refuse to run a design that does what one already measured does (the same code, or the same but for comments,
    docstrings and layout): nothing new would be learned, and it costs."""
    if not any(a.name in ("run_simulation", POLICY) for a in parsed.actions):
        return None
    source = next((a.args["code"] for a in parsed.actions if a.name == POLICY), None)
    source = next((a.args["content"] for a in parsed.actions
                   if a.name == "write_file" and a.args.get("path") == design), source)
    if source is None:
        source = _design_source(state)
    digest, program, ledger = hashlib.sha256(source.encode()).hexdigest()[:16], program_key(source), own_ledger(state)
    same = (next((e for e in ledger if e.get("hash") == digest), None)
            or next((e for e in ledger if e.get("program") == program), None))
    if same is None:
        return None
    metric = state["task"]["objective"]["metric"]
    what = (f"identical to experiment {same['id']}" if same.get("hash") == digest else
            f"experiment {same['id']} with only its comments, docstrings or layout changed: it does the same")
    if same.get("error"):
        return (f"[harness] This design is {what}, which failed: {same['error']['kind']}: "
                f"{same['error']['message'][:400]}. Fix that and send the whole file again.")
    if same.get("hash") == digest and "workspace" in state and source == _design_source(state):
        return (f"[harness] Not run, not charged: this design is identical to experiment {same['id']}, the design "
                "file as it is; unchanged, it cannot test a change. Write the code again with your change made in it: "
                "edit the lines that decide what you want to change (a constant's value, a sort key, a condition).")
    return (f"[harness] This design is {what} ({metric} {same['metrics'].get(metric, float('nan')):.3f}); running "
            "it again would measure nothing new and cost a simulation. Change what the code does, or finish.")


def _repair(state: GliaState, reply: AIMessage, problem: str, usage: dict, form_problem: bool = True) -> GliaState:
    """The reply goes back with what was wrong; after ``MAX_REPAIRS`` failures in a row the researcher stops. The
    model's own reply stays in its conversation as it was sent (its tool calls named when it wrote no text), and the
    harness's answer says whether the reply could not be read (``form_problem``) or its design was refused."""
    claimed = unsupported(str(reply.content), shown_figures(state, code=reply_code(reply)))
    if claimed:
        metric = state["task"]["objective"]["metric"]
        problem += (f"\nNo experiment measured {', '.join(claimed)}: only run_simulation results count. The "
                    f"experiments so far:\n{prompts.ledger_table(own_ledger(state), metric)}")
    said = AIMessage(content=reply.content or _calls_text(reply) or "(empty reply)", name="researcher", id=reply.id)
    failures = len(_corrections(state.get("researcher_messages", []))) + 1
    if failures >= MAX_REPAIRS:
        note = AIMessage(content=f"I gave no usable action in {failures} replies in a row; proposing the best "
                                 "design measured so far.", name="researcher")
        return {"researcher_messages": [said, note], "usage": usage, "phase": "done"}
    answer = HumanMessage(content=problem, name="harness", additional_kwargs={"unusable": form_problem})
    return {"researcher_messages": [said, answer], "usage": usage, "phase": "nudged"}


def reply_code(reply: AIMessage) -> list[str]:
    """The code a reply writes (its Python blocks, the files its calls write): its own numbers are settings."""
    blocks = [body for _, body in FENCE.findall(str(reply.content or ""))]
    return blocks + [str(c["args"].get("content") or c["args"].get("code") or "")
                     for c in getattr(reply, "tool_calls", None) or [] if isinstance(c.get("args"), dict)]


def _calls_text(reply: AIMessage) -> str:
    """A reply that was only tool calls, as the model sees it again: which calls it made (not "(empty reply)")."""
    calls = getattr(reply, "tool_calls", None) or []
    return "; ".join(f"[called {c['name']}" + (f" on {c['args']['path']}" if isinstance(c.get("args"), dict)
                                                and c["args"].get("path") else "") + "]" for c in calls)


def _corrections(messages: list[AnyMessage]) -> list[AnyMessage]:
    """The harness's corrections since the researcher last ran something or heard from another agent, newest first
    (each says in ``additional_kwargs["unusable"]`` whether the reply could not be read at all)."""
    out = []
    for m in reversed(messages):
        if isinstance(m, ToolMessage) or getattr(m, "name", None) in ("analyst", "supervisor"):
            break
        if isinstance(m, HumanMessage) and getattr(m, "name", None) == "harness":
            out.append(m)
    return out
