"""The Glia TUI: watch the graph move, step it, resume and fork checkpointed runs, swap node implementations.

Long work runs in a thread worker (``Stepper``) that posts messages; only the message handlers touch widgets."""

from __future__ import annotations

import math
from pathlib import Path

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import (DataTable, Footer, Header, ProgressBar, RichLog, Static, TabbedContent, TabPane,
                             Tree)

from glia.graph.builder import build_graph
from glia.graph.config import DEFAULT_WORKSPACE, RunConfig
from glia.graph.runs import list_runs, prepare_run
from glia.graph.session import RunSession
from glia.nodes.registry import ROLES, choose_implementations

from .screens import ImplementationsScreen
from .stepper import Stepper
from .widgets import BestPlot, GraphView


class StepMessage(Message):
    """Something happened in the run (posted from the worker thread)."""

    def __init__(self, kind: str, data: dict):
        super().__init__()
        self.kind, self.data = kind, data


class GliaApp(App):
    """Keyboard-driven: see the footer. Works in 80 x 24 and over SSH."""

    TITLE = "Glia"
    CSS = """
    Screen { overflow: hidden; }
    TabbedContent { height: 1fr; }
    TabPane { padding: 0; }
    #status { height: 1; padding: 0 1; background: $boost; }
    #meters { height: 1; padding: 0 1; }
    #meters ProgressBar { width: 30; }
    #meters Static { width: 1fr; }
    #graph { height: auto; max-height: 13; border: round $accent; padding: 0 1; }
    #transitions { width: 38; height: 1fr; }
    #details { height: 1fr; border: round $accent; }
    #experiments { height: 1fr; }
    #plot { height: 12; border: round $accent; }
    #dialog { width: 60; height: auto; border: thick $accent; background: $surface; padding: 1 2; }
    ImplementationsScreen { align: center middle; }
    #roles { grid-size: 2; grid-columns: 14 1fr; height: auto; grid-rows: 3; }
    #dialog-buttons { height: 3; margin-top: 1; }
    #dialog-error { color: $error; }
    """
    BINDINGS = [
        Binding("s", "start", "Start"), Binding("n", "step", "Step"), Binding("c", "continue", "Continue"),
        Binding("p", "pause", "Pause"), Binding("x", "stop", "Stop"), Binding("r", "resume", "Resume"),
        Binding("f", "fork", "Fork"), Binding("1", "tab('graph')", "Graph", show=False),
        Binding("2", "tab('experiments')", "Experiments", show=False),
        Binding("3", "tab('runs')", "Runs", show=False), Binding("q", "quit", "Quit"),
    ]

    def __init__(self, workspace: str | Path = DEFAULT_WORKSPACE, task: str = "routing",
                 budget_sims: int | None = None, contexts: int = 1, mode: str = "parallel", model: str | None = None,
                 base_url: str | None = None, models: dict | None = None):
        super().__init__()
        self.workspace, self.task_name, self.budget_sims = Path(workspace), task, budget_sims
        self.contexts, self.mode, self.model, self.base_url, self.models = contexts, mode, model, base_url, models
        self.session: RunSession | None = None
        self.stepper: Stepper | None = None
        self.running = False
        self.step_count = 0
        self.last_update: dict = {}
        self.updates: dict[int, tuple[str, dict]] = {}
        self.context_names: dict[str, str] = {}

    # -- layout -------------------------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        yield Static("no run: press s to start one, 3 to browse runs", id="status")
        with Horizontal(id="meters"):
            yield ProgressBar(total=1, show_eta=False, id="sims")
            yield Static("simulations 0 | tokens 0 | USD 0.0000", id="usage")
        with TabbedContent(initial="graph-tab"):
            with TabPane("Graph", id="graph-tab"):
                with Vertical():
                    g = build_graph(contexts=self.contexts, mode=self.mode).compile().get_graph(xray=1)
                    yield GraphView(list(g.nodes), [(e.source, e.target) for e in g.edges], id="graph")
                    with Horizontal():
                        yield DataTable(id="transitions", cursor_type="row", zebra_stripes=True)
                        yield RichLog(id="details", wrap=True, markup=False, highlight=False)
            with TabPane("Experiments", id="experiments-tab"):
                with Vertical():
                    yield DataTable(id="experiments", cursor_type="row", zebra_stripes=True)
                    yield BestPlot(id="plot")
            with TabPane("Runs", id="runs-tab"):
                yield Tree("runs", id="runs")
        yield Footer()

    def on_mount(self) -> None:
        t = self.query_one("#transitions", DataTable)
        t.add_columns("step", "context", "node", "seconds")
        e = self.query_one("#experiments", DataTable)
        e.add_columns("id", "design", "mean e2e s", "90% CI", "restarts", "verdict")
        self.query_one("#graph", GraphView).refresh_view()
        self.refresh_runs()

    def action_tab(self, name: str) -> None:
        self.query_one(TabbedContent).active = f"{name}-tab"
        if name == "runs":
            self.refresh_runs()

    # -- starting, resuming, forking ------------------------------------------------------------------------
    def _ask_implementations(self, title: str, current: dict[str, str], then) -> None:
        self.push_screen(ImplementationsScreen(title, current, bool(self.model or self.models)), then)

    def action_start(self) -> None:
        if self.running:
            self.notify("a run is in progress: stop it first (x)", severity="warning")
            return
        default = choose_implementations({r: "llm" for r in ROLES} if (self.model or self.models) else None)
        self._ask_implementations(f"New run of task {Path(self.task_name).stem}: implementations", default,
                                  self._start)

    def _start(self, choice: dict | None) -> None:
        if choice is None:
            return
        try:
            config = RunConfig.build(self.task_name, contexts=self.contexts, mode=self.mode,
                                     budget_sims=self.budget_sims, implementations=choice, model=self.model,
                                     base_url=self.base_url, llm=bool(self.models), workspace=self.workspace)
            state = prepare_run(config)
        except ValueError as exc:
            self.notify(str(exc), severity="error")
            return
        self._launch(RunSession(config, self.models), state=state)

    def _selected(self) -> tuple[str | None, str | None]:
        node = self.query_one("#runs", Tree).cursor_node
        data = node.data if node is not None else None
        if not data:
            return (self.session.thread_id if self.session else None), None
        return data.get("thread_id"), data.get("checkpoint_id")

    def action_resume(self) -> None:
        if self.running:
            self.notify("the run is going: c continues, n steps", severity="warning")
            return
        thread, checkpoint = self._selected()
        if not thread:
            self.notify("select a run in the Runs tab (3) first", severity="warning")
            return
        config = RunConfig.load(thread, self.workspace)
        where = f"checkpoint {checkpoint[:13]}" if checkpoint else "its last checkpoint"
        self._ask_implementations(f"Resume {thread} from {where}", config.implementations,
                                  lambda c: self._continue(thread, checkpoint, c))

    def action_fork(self) -> None:
        thread, checkpoint = self._selected()
        if self.running or not thread or not checkpoint:
            self.notify("select a checkpoint in the Runs tab (3) to fork from", severity="warning")
            return
        config = RunConfig.load(thread, self.workspace)
        self._ask_implementations(f"Fork {thread} at {checkpoint[:13]}: implementations", config.implementations,
                                  lambda c: self._continue(thread, checkpoint, c))

    def _continue(self, thread: str, checkpoint: str | None, choice: dict | None) -> None:
        if choice is None:
            return
        config = RunConfig.load(thread, self.workspace).with_implementations(choice)
        config.save()
        self._launch(RunSession(config, self.models), checkpoint_id=checkpoint)

    def _launch(self, session: RunSession, state: dict | None = None, checkpoint_id: str | None = None) -> None:
        if self.session is not None and self.session is not session:
            self.session.close()
        self.session = session
        self.step_count = 0
        self.updates.clear()
        self.context_names.clear()
        self.query_one("#transitions", DataTable).clear()
        self.query_one("#details", RichLog).clear()
        graph = self.query_one("#graph", GraphView)
        g = session.graph.get_graph(xray=1)
        graph.set_graph(list(g.nodes), [(e.source, e.target) for e in g.edges])
        graph.reset()
        self.stepper = Stepper(session, self._post, state=state, checkpoint_id=checkpoint_id, stepping=True)
        self.running = True
        impl = ", ".join(f"{k}={v}" for k, v in session.config.implementations.items())
        self._status(f"{session.thread_id}: stepping (n step, c continue, x stop) | {impl}")
        self._drive()

    @work(thread=True, exclusive=True, group="run")
    def _drive(self) -> None:
        self.stepper.run()

    def _post(self, kind: str, data: dict) -> None:
        self.post_message(StepMessage(kind, data))

    # -- controls -------------------------------------------------------------------------------------------
    def action_step(self) -> None:
        if self.stepper and self.running:
            self.stepper.step()

    def action_continue(self) -> None:
        if self.stepper and self.running:
            self.stepper.resume()
            self._status(f"{self.session.thread_id}: running (p pause, x stop)")

    def action_pause(self) -> None:
        if self.stepper and self.running:
            self.stepper.pause()
            self._status(f"{self.session.thread_id}: pausing after this step (n step, c continue)")

    def action_stop(self) -> None:
        if self.stepper and self.running:
            self.stepper.stop()
            self._status(f"{self.session.thread_id}: stopping after this step")

    # -- messages from the worker -----------------------------------------------------------------------------
    def on_step_message(self, message: StepMessage) -> None:
        kind, d = message.kind, message.data
        if kind == "step":
            self._on_step(d)
        elif kind == "custom":
            ev = d["data"]
            if ev.get("event") == "tool_call":
                self.query_one("#details", RichLog).write(f"tool call {ev['tool']}({_short(ev['args'])})")
        elif kind == "error":
            self.notify(d["text"], severity="error", timeout=10)
            self.query_one("#details", RichLog).write(f"error: {d['text']}")
        elif kind == "ended":
            self.running = False
            out = d["outcome"]
            word = "stopped (resumable)" if d["stopped"] else out.status
            self._status(f"{out.thread_id}: {word}. {out.message}".strip())
            self.refresh_runs()

    def _on_step(self, d: dict) -> None:
        self.step_count += 1
        node, ns = d["node"], d["namespace"]
        ctx = None
        if ns:
            ctx = self.context_names.setdefault(ns[0], f"c{len(self.context_names) + 1}")
        self.updates[self.step_count] = (node, d["update"] or {})
        self.query_one("#graph", GraphView).visit(node, ctx)
        self.query_one("#transitions", DataTable).add_row(str(self.step_count), ctx or "-", node,
                                                          f"{d['duration']:.2f}", key=str(self.step_count))
        self.query_one("#transitions", DataTable).move_cursor(row=self.step_count - 1)
        self._show_update(node, d["update"] or {})
        self._refresh_digest(d["digest"])

    @on(DataTable.RowHighlighted, "#transitions")
    def _transition_selected(self, event: DataTable.RowHighlighted) -> None:
        key = event.row_key.value if event.row_key else None
        if key and int(key) in self.updates and int(key) != self.step_count:
            self._show_update(*self.updates[int(key)])

    def _show_update(self, node: str, update: dict) -> None:
        log = self.query_one("#details", RichLog)
        log.clear()
        log.write(f"── {node} ──")
        for field in ("researcher_messages", "analyst_messages", "supervisor_messages"):
            for m in update.get(field, []) or []:
                who = getattr(m, "name", None) or getattr(m, "type", "")
                content = str(getattr(m, "content", "")).strip()
                calls = getattr(m, "tool_calls", None) or []
                if content:
                    log.write(f"{who}: {content[:400]}")
                for tc in calls:
                    log.write(f"  → {tc['name']}({_short(tc.get('args', {}))})")
        for e in update.get("ledger", []) or []:
            log.write(f"experiment {e['id']}: {e.get('label', '')} -> "
                      + (f"error {e['error']['kind']}" if e.get("error") else
                         f"mean e2e {e['metrics'].get('mean_e2e_s', math.nan):.2f} s ({e.get('verdict')})"))
        for i in update.get("interventions", []) or []:
            log.write(f"supervisor ({i['reason']}): {i['decision']}: {i['text']}")
        if update.get("stop_reason"):
            log.write(f"stop: {update['stop_reason']}")

    def _refresh_digest(self, dg: dict) -> None:
        metric = dg.get("task", {}).get("objective", {}).get("metric", "mean_e2e_s")
        table = self.query_one("#experiments", DataTable)
        table.clear()
        for e in dg["ledger"]:
            m = e.get("metrics", {})
            ci = e.get("mean_e2e_ci90") or [math.nan, math.nan]
            table.add_row(e["id"], (e.get("label") or "")[:48],
                          "error" if e.get("error") else f"{m.get(metric, math.nan):.2f}",
                          f"[{ci[0]:.1f}, {ci[1]:.1f}]" if e.get("mean_e2e_ci90") else "-",
                          f"{m.get('restart_fraction', math.nan):.3f}", e.get("verdict", ""), key=e["id"])
        self.query_one("#plot", BestPlot).set_data(
            [e.get("score", math.inf) for e in dg["ledger"]],
            {b["policy"]: b["metrics"].get(metric, math.nan) for b in dg["baselines"]}, metric)
        total = dg["budget"].get("simulations") or 1
        used = len(dg["ledger"])
        self.query_one("#sims", ProgressBar).update(total=total, progress=used)
        u = dg["usage"]
        best = dg.get("best")
        best_text = f" | best {best['value']:.2f}" if best else ""
        self.query_one("#usage", Static).update(f"simulations {used}/{total} | tokens {u.get('tokens', 0)} | USD "
                                                f"{u.get('usd', 0.0):.4f}{best_text}")

    @on(DataTable.HeaderSelected, "#experiments")
    def _sort_experiments(self, event: DataTable.HeaderSelected) -> None:
        def key(v):
            try:
                return (0, float(str(v).strip("[]").split(",")[0]))
            except ValueError:
                return (1, str(v))
        event.data_table.sort(event.column_key, key=key)

    # -- runs browser ---------------------------------------------------------------------------------------
    def refresh_runs(self) -> None:
        tree = self.query_one("#runs", Tree)
        tree.clear()
        tree.root.expand()
        for r in reversed(list_runs(self.workspace)):
            label = f"{r['thread_id']}  {r['task']}  {'finished' if r['finished'] else 'unfinished'}"
            node = tree.root.add(label, data={"thread_id": r["thread_id"]}, expand=False)
            try:
                s = RunSession(RunConfig.load(r["thread_id"], self.workspace)) if self.session is None or self.session.thread_id != r["thread_id"] \
                    else self.session
                history = s.history() if not self.running or s is not self.session else []
                if s is not self.session:
                    s.close()
            except Exception as exc:  # a damaged run is shown, not fatal
                node.add_leaf(f"cannot read: {exc}")
                continue
            children: dict[str | None, list[dict]] = {}
            for h in history:
                children.setdefault(h["parent_id"], []).append(h)

            # a linear history is one level of siblings; each branch of a fork nests under its first checkpoint
            pending = [(node, None)]
            while pending:
                parent_node, parent_id = pending.pop()
                while True:
                    kids = sorted(children.get(parent_id, []), key=lambda h: h["created_at"])
                    if not kids:
                        break
                    for h in kids:
                        fork = " (fork)" if len(kids) > 1 else ""
                        text = (f"step {h['step']}: after {h['node'] or h['source']} → "
                                f"{','.join(h['next']) or 'end'} [{h['sims']} sims]{fork}")
                        child = parent_node.add(text, data={"thread_id": r["thread_id"],
                                                            "checkpoint_id": h["checkpoint_id"]}, expand=True)
                        if len(kids) > 1:
                            pending.append((child, h["checkpoint_id"]))
                    if len(kids) > 1:
                        break
                    parent_id = kids[0]["checkpoint_id"]

    def _status(self, text: str) -> None:
        self.query_one("#status", Static).update(text)

    def on_unmount(self) -> None:
        if self.stepper and self.running:
            self.stepper.stop()


def _short(args: dict) -> str:
    return ", ".join(f"{k}={str(v)[:40]!r}" for k, v in (args or {}).items())


def main(argv: list[str] | None = None) -> int:
    import argparse
    import os

    ap = argparse.ArgumentParser(prog="glia tui")
    ap.add_argument("--workspace", default=DEFAULT_WORKSPACE)
    ap.add_argument("--task", default="routing")
    ap.add_argument("--budget-sims", type=int, default=None)
    ap.add_argument("--contexts", type=int, default=1)
    ap.add_argument("--mode", choices=("parallel", "sequential"), default="parallel")
    ap.add_argument("--model", default=os.environ.get("GLIA_MODEL"))
    ap.add_argument("--base-url", default=os.environ.get("OPENAI_BASE_URL"))
    args = ap.parse_args(argv)
    GliaApp(args.workspace, args.task, args.budget_sims, args.contexts, args.mode, args.model, args.base_url).run()
    return 0
