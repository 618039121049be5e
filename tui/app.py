"""The Glia TUI: watch the graph move, step it, resume and fork checkpointed runs, swap node implementations.

Anything slow (compiling a graph, opening SQLite, running the graph) happens in thread workers, which post typed
messages (``messages.py``); only the handlers touch widgets. Every call into the engine goes through
``backend.py``. The layout's rules are in ``app.tcss``."""

from __future__ import annotations

import argparse
import functools
import math
import os
import time
from collections.abc import Callable
from pathlib import Path

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Footer, ProgressBar, RichLog, Static, TabbedContent, TabPane, Tree
from textual.widgets.tree import TreeNode

from glia.graph.progress import Eta, describe, duration
from glia.tui import backend
from glia.tui.messages import (
    BaselineMeasured,
    ContextEnded,
    ContextStarted,
    ExperimentRecorded,
    GraphShaped,
    HistoryLoaded,
    ProgressSaid,
    RunEnded,
    RunFailed,
    RunOpened,
    RunsLoaded,
    RunViewed,
    StepFinished,
    StepperPaused,
    ToolCalled,
    for_event,
)
from glia.tui.screens import ImplementationsScreen
from glia.tui.stepper import Ended, Event, Failure, Stepper
from glia.tui.widgets import BestPlot, GraphView

Opener = Callable[[], tuple[backend.RunSession, dict | None]]


def _while_open(handler: Callable) -> Callable:
    """A handler of what a worker reports: nothing to show once the app is closing (its screens are gone)."""
    @functools.wraps(handler)
    def handle(self, message) -> None:
        if self.screen_stack:
            handler(self, message)
    return handle


class GliaApp(App):
    """Keyboard-driven: see the footer. Works in 80 x 24 and over SSH."""

    TITLE = "Glia"
    CSS_PATH = ["widgets.tcss", "app.tcss"]
    BINDINGS = [
        Binding("s", "start", "Start"), Binding("n", "step", "Step"), Binding("c", "continue", "Continue"),
        Binding("p", "pause", "Pause"), Binding("x", "stop", "Stop"), Binding("r", "resume", "Resume"),
        Binding("f", "fork", "Fork"), Binding("1", "tab('graph')", "Graph", show=False),
        Binding("2", "tab('experiments')", "Experiments", show=False),
        Binding("3", "tab('runs')", "Runs", show=False), Binding("4", "tab('log')", "Log", show=False),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, workspace: str | Path = backend.DEFAULT_WORKSPACE, task: str = "routing",
                 budget_sims: int | None = None, contexts: int = 1, mode: str = "parallel", model: str | None = None,
                 base_url: str | None = None, models: dict | None = None):
        super().__init__()
        self.workspace, self.task_name, self.budget_sims = Path(workspace), task, budget_sims
        self.contexts, self.mode, self.model, self.base_url, self.models = contexts, mode, model, base_url, models
        self.session: backend.RunSession | None = None
        self.stepper: Stepper | None = None
        self.running = False
        self.step_count = 0
        self.updates: dict[int, tuple[str, dict]] = {}
        self._followed: set[str] = set()   # transition rows the cursor was moved to by the app
        self.histories: dict[str, list[dict] | str] = {}   # thread -> its checkpoints (or why they cannot be read)
        self._listed: list[tuple[str, bool]] | None = None   # the runs the tree shows
        self.viewed: str | None = None     # the run whose state the widgets show when none is open
        self.metric = "mean_e2e_s"         # the objective of the run shown
        self.eta = Eta()                   # the time left in the open run's search, from its experiments so far

    @property
    def main(self):
        """The app's own screen: what the handlers update, even while a dialog is open over it."""
        return self.screen_stack[0] if self.screen_stack else self.screen

    # -- layout -------------------------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Static("Glia · no run: s starts one, 3 browses the runs", id="status")
        yield Static(self._next_run_facts(), id="facts")
        with Horizontal(id="meters"):
            yield ProgressBar(total=1, show_eta=False, show_percentage=False, id="sims")
            yield Static("sims 0 · tokens 0 · USD 0.0000", id="usage")
        with TabbedContent(initial="graph-tab"):
            with TabPane("Graph", id="graph-tab"):
                with Vertical():
                    yield GraphView(id="graph")
                    with Horizontal(id="below-graph"):
                        yield DataTable(id="transitions", cursor_type="row", zebra_stripes=True)
                        yield RichLog(id="details", wrap=True, markup=False, highlight=False)
            with TabPane("Experiments", id="experiments-tab"):
                with Vertical():
                    yield DataTable(id="experiments", cursor_type="row", zebra_stripes=True)
                    yield BestPlot(id="plot")
            with TabPane("Runs", id="runs-tab"):
                yield Tree("runs", id="runs")
            with TabPane("Log", id="log-tab"):
                yield RichLog(id="log", wrap=True, markup=False, highlight=False)
        yield Footer()

    def _next_run_facts(self) -> str:
        contexts = f"{self.contexts} contexts {self.mode}" if self.contexts > 1 else "1 context"
        budget = f"{self.budget_sims} sims" if self.budget_sims else "the task's budget"
        return f"next run: {Path(self.task_name).stem} · {contexts} · {budget}"

    def on_mount(self) -> None:
        self.main.query_one("#transitions", DataTable).add_columns("step", "context", "node", "seconds")
        self.main.query_one("#experiments", DataTable).add_columns("id", "design", "objective", "90% CI", "restart",
                                                              "verdict")
        self.main.query_one("#runs", Tree).root.expand()
        self.load_shape()
        self.refresh_runs()

    @work(thread=True, exclusive=True, group="shape", exit_on_error=False, description="compile the graph")
    def load_shape(self) -> None:
        self.post_message(GraphShaped(*backend.graph_shape(contexts=self.contexts, mode=self.mode)))

    @on(GraphShaped)
    @_while_open
    def _graph_shaped(self, message: GraphShaped) -> None:
        if self.session is None:
            self.main.query_one("#graph", GraphView).set_graph(message.nodes, message.edges)

    def action_tab(self, name: str) -> None:
        """Show a tab, its main widget focused: the arrows work in it at once (no Tab key first)."""
        self.main.query_one(TabbedContent).active = f"{name}-tab"
        self.main.query_one({"graph": "#transitions", "experiments": "#experiments", "runs": "#runs",
                        "log": "#log"}[name]).focus()
        if name == "runs":
            self.refresh_runs()

    def _tab_is(self, name: str) -> bool:
        return self.main.query_one(TabbedContent).active == f"{name}-tab"

    # -- starting, resuming, forking ----------------------------------------------------------------------------
    def _ask_implementations(self, title: str, current: dict[str, str], then) -> None:
        self.push_screen(ImplementationsScreen(title, current, bool(self.model or self.models),
                                               backend.implementation_names()), then)

    def _busy(self) -> bool:
        if self.running:
            self.notify("a run is going: c continues, n steps, x stops it", severity="warning")
        return self.running

    def action_start(self) -> None:
        if self._busy():
            return
        self._ask_implementations(f"New run of task {Path(self.task_name).stem}: implementations",
                                  backend.default_implementations(llm=bool(self.model or self.models)), self._start)

    def _start(self, choice: dict | None) -> None:
        if choice is not None:
            self._launch(lambda: backend.new_run(
                task=self.task_name, contexts=self.contexts, mode=self.mode, budget_sims=self.budget_sims,
                implementations=choice, model=self.model, base_url=self.base_url, models=self.models,
                workspace=self.workspace))

    def _selected(self) -> tuple[str | None, str | None]:
        """The run (and checkpoint) r and f act on: what the runs browser's cursor is on when it is shown, else the
        run on screen (the open one, or the one viewed), from its last checkpoint."""
        node = self.main.query_one("#runs", Tree).cursor_node
        data = node.data if node is not None and self._tab_is("runs") else None
        if not data:
            return (self.session.thread_id if self.session else self.viewed), None
        return data.get("thread_id"), data.get("checkpoint_id")

    def _step_words(self, thread: str, checkpoint: str) -> str:
        """A checkpoint as the runs browser names it: its step and what ran before it and runs after it."""
        history = self.histories.get(thread)
        h = next((h for h in history if h["checkpoint_id"] == checkpoint), None) if isinstance(history, list) else None
        if h is None:
            return "the chosen step"
        return f"step {h['step']} (after {h['node'] or h['source']} → {','.join(h['next']) or 'end'})"

    def action_resume(self) -> None:
        if self._busy():
            return
        thread, checkpoint = self._selected()
        if not thread:
            self.notify("select a run in the Runs tab (3) first", severity="warning")
            return
        where = self._step_words(thread, checkpoint) if checkpoint else "its last finished step"
        self._ask_about(thread, f"Resume {thread} from {where}", checkpoint)

    def action_fork(self) -> None:
        if self._busy():
            return
        thread, checkpoint = self._selected()
        if not thread or not checkpoint:
            self.notify("select a checkpoint in the Runs tab (3) to fork from", severity="warning")
            return
        self._ask_about(thread, f"Fork {thread} at {self._step_words(thread, checkpoint)}: implementations",
                        checkpoint)

    def _ask_about(self, thread: str, title: str, checkpoint: str | None) -> None:
        try:
            current = backend.implementations_of(thread, workspace=self.workspace)
        except ValueError as exc:
            self.notify(str(exc), severity="error")
            return
        self._ask_implementations(title, current, lambda choice: self._continue(thread, checkpoint, choice))

    def _continue(self, thread: str, checkpoint: str | None, choice: dict | None) -> None:
        if choice is not None:
            self._launch(lambda: (backend.reopen_run(thread, workspace=self.workspace, implementations=choice,
                                                     models=self.models), None), checkpoint)

    def _launch(self, opener: Opener, checkpoint_id: str | None = None) -> None:
        self.running = True
        self._status("opening the run…")
        self._drive(opener, checkpoint_id)

    @work(thread=True, exclusive=True, group="run", exit_on_error=False, description="run the graph")
    def _drive(self, opener: Opener, checkpoint_id: str | None) -> None:
        """Open the run, then step it as the user asks; everything it learns goes out as messages."""
        try:
            session, state = opener()
            stepper = Stepper(session, self._post, state=state, checkpoint_id=checkpoint_id)
            self.post_message(RunOpened(session, stepper, backend.graph_shape(session=session),
                                        backend.session_facts(session)))
        except Exception as exc:  # a bad task file, a run that exists, a damaged run.json: said, not raised
            self._post(Failure(str(exc) if isinstance(exc, ValueError) else f"{type(exc).__name__}: {exc}"))
            self._post(Ended(None, False))
            return
        stepper.run()

    def _post(self, event: Event) -> None:
        self.post_message(for_event(event))

    @on(RunOpened)
    @_while_open
    def _run_opened(self, message: RunOpened) -> None:
        if self.session is not None and self.session is not message.session:
            self.session.close()
        self.session, self.stepper = message.session, message.stepper
        self.step_count = 0
        self.updates.clear()
        self._followed.clear()
        self.main.query_one("#transitions", DataTable).clear()
        self.main.query_one("#details", RichLog).clear()
        self.main.query_one("#graph", GraphView).set_graph(*message.shape)
        self.main.query_one("#facts", Static).update(message.facts)
        self.viewed = None
        self.eta = Eta()
        thread = self.session.thread_id
        self._status(f"{thread}: stepping (n step, c continue, x stop); if it stops, `glia resume {thread}` or r "
                     "continues it")
        self._say(f"[run] run {thread} in {self.session.run_dir}; if it stops, `glia resume {thread}` (or r here) "
                  "continues it")

    # -- controls -----------------------------------------------------------------------------------------------
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
            self._status(f"{self.session.thread_id}: stopping: the step in flight is discarded and runs again on "
                         "resume")

    @on(StepperPaused)
    @_while_open
    def _stepper_paused(self, message: StepperPaused) -> None:
        if self.running and self.session is not None and not (self.stepper and self.stepper._stop):
            self._status(f"{self.session.thread_id}: paused after step {self.step_count} (n step, c continue, "
                         "x stop)")

    # -- what the run reports -----------------------------------------------------------------------------------
    @on(StepFinished)
    @_while_open
    def _step_finished(self, message: StepFinished) -> None:
        step = message.step
        self.step_count += 1
        context = self.main.query_one("#graph", GraphView).visit(step.node, step.namespace)
        self.updates[self.step_count] = (step.node, step.update)
        table = self.main.query_one("#transitions", DataTable)
        table.add_row(str(self.step_count), context or "-", step.node, f"{step.duration:.2f}",
                      key=str(self.step_count))
        self._followed.add(str(self.step_count))
        table.move_cursor(row=self.step_count - 1)
        self._show_update(step.node, step.update)
        self._show_digest(step.digest)

    @on(ToolCalled)
    @_while_open
    def _tool_called(self, message: ToolCalled) -> None:
        call = message.call
        self.main.query_one("#details", RichLog).write(f"tool call {call.tool}({_short(call.args)})")

    @on(ExperimentRecorded)
    @_while_open
    def _experiment_recorded(self, message: ExperimentRecorded) -> None:
        e = message.experiment
        line = describe(e.data, self.metric, self.eta) if e.data else None
        if line is None:
            result = (f"error {e.error.get('kind')}" if e.error else
                      f"mean e2e {e.metrics.get('mean_e2e_s', math.nan):.2f} s ({e.verdict})")
            line = f"{e.context} experiment {e.id}: {e.label} -> {result}"
        self._say(line)

    @on(ProgressSaid)
    @_while_open
    def _progress_said(self, message: ProgressSaid) -> None:
        line = describe(message.data, self.metric, self.eta)
        if line:
            self._say(line)

    @on(BaselineMeasured)
    @_while_open
    def _baseline_measured(self, message: BaselineMeasured) -> None:
        b = message.baseline
        self._say(f"[run] baseline {b.policy}: mean e2e {b.metrics.get('mean_e2e_s', math.nan):.2f} s")

    def _say(self, line: str) -> None:
        """A progress line: in the details of the step running, and kept, timestamped, in the Log tab (4)."""
        self.main.query_one("#details", RichLog).write(line)
        self.main.query_one("#log", RichLog).write(f"[{time.strftime('%H:%M:%S')}] {line}")

    @on(ContextStarted)
    @_while_open
    def _context_started(self, message: ContextStarted) -> None:
        self.main.query_one("#graph", GraphView).name_context(message.change.namespace, message.change.context)

    @on(ContextEnded)
    @_while_open
    def _context_ended(self, message: ContextEnded) -> None:
        c = message.change
        self._say(f"[{c.context}] done: {c.outcome.get('stop_reason', 'finished')}, "
                  f"{c.outcome.get('simulations_used', 0)} simulation(s)")

    @on(RunFailed)
    @_while_open
    def _run_failed(self, message: RunFailed) -> None:
        self.notify(message.text, severity="error", timeout=10)
        self._say(f"error: {message.text}")

    @on(RunEnded)
    @_while_open
    def _run_ended(self, message: RunEnded) -> None:
        self.running = False
        out = message.outcome
        if out is None:
            self._status("the run could not start (see the error)")
            return
        # a stop that came as the last step ended leaves a finished run: it says so
        word = "stopped (resumable)" if message.stopped and out.status != "finished" else out.status
        report = out.to_json()["report"]
        where = (f"report: {report}" if report else f"`glia resume {out.thread_id}` or r continues it")
        self._status(f"{out.thread_id}: {word}. {where}")
        self._say(f"[run] {out.thread_id}: {word}" + (f": {out.message}" if out.message else ""))
        self._say(f"[run] {where}")
        self.histories.pop(out.thread_id, None)
        self.refresh_runs()
        shown = next((n for n in self.main.query_one("#runs", Tree).root.children
                      if n.data and n.data["thread_id"] == out.thread_id and n.is_expanded), None)
        if shown is not None:  # its checkpoints changed: read them again
            self.load_history(out.thread_id)

    @on(DataTable.RowHighlighted, "#transitions")
    def _transition_selected(self, event: DataTable.RowHighlighted) -> None:
        key = event.row_key.value if event.row_key else None
        if key in self._followed:  # the cursor following the run, not the user choosing a step
            self._followed.discard(key)
        elif key and int(key) in self.updates:
            self._show_update(*self.updates[int(key)])

    def _show_update(self, node: str, update: dict) -> None:
        log = self.main.query_one("#details", RichLog)
        log.clear()
        log.write(f"── {node} ──")
        for role in backend.ROLES:
            for m in update.get(f"{role}_messages", []) or []:
                who = getattr(m, "name", None) or getattr(m, "type", "")
                content = str(getattr(m, "content", "")).strip()
                if content:
                    log.write(f"{who}: {content[:400]}")
                for tc in getattr(m, "tool_calls", None) or []:
                    log.write(f"  → {tc['name']}({_short(tc.get('args', {}))})")
        for e in update.get("ledger", []) or []:
            log.write(f"experiment {e['id']}: {e.get('label', '')} -> "
                      + (f"error {e['error']['kind']}" if e.get("error") else
                         f"mean e2e {e['metrics'].get('mean_e2e_s', math.nan):.2f} s ({e.get('verdict')})"))
        for i in update.get("interventions", []) or []:
            log.write(f"supervisor ({i['reason']}): {i['decision']}: {i['text']}")
        if update.get("stop_reason"):
            log.write(f"stop: {update['stop_reason']}")

    def _show_digest(self, dg: dict) -> None:
        metric = self.metric = dg.get("task", {}).get("objective", {}).get("metric", "mean_e2e_s")
        table = self.main.query_one("#experiments", DataTable)
        table.clear()
        # the design's label takes what the other columns leave of the width (the whole label is in the details)
        room = max(12, (table.size.width or self.size.width) - 56)
        for e in dg["ledger"]:
            m = e.get("metrics", {})
            ci = e.get("mean_e2e_ci90") or [math.nan, math.nan]
            label = e.get("label") or ""
            table.add_row(e["id"], label if len(label) <= room else label[:room - 1] + "…",
                          "error" if e.get("error") else f"{m.get(metric, math.nan):.2f}",
                          f"[{ci[0]:.1f}, {ci[1]:.1f}]" if e.get("mean_e2e_ci90") else "-",
                          f"{m.get('restart_fraction', math.nan):.3f}", e.get("verdict", ""), key=e["id"])
        self.main.query_one("#plot", BestPlot).set_data(
            [e.get("score", math.inf) for e in dg["ledger"]],
            {b["policy"]: b["metrics"].get(metric, math.nan) for b in dg["baselines"]}, metric)
        total = dg["budget"].get("simulations") or 1
        used = len(dg["ledger"])
        self.main.query_one("#sims", ProgressBar).update(total=total, progress=used)
        u = dg["usage"]
        best = dg.get("best")
        best_text = f" · best {best['value']:.2f}" if best else ""
        left = f" · ~{duration(self.eta.last)} left" if self.running and self.eta.last and used < total else ""
        self.main.query_one("#usage", Static).update(f"sims {used}/{total}{left} · tokens {u.get('tokens', 0)} · USD "
                                                f"{u.get('usd', 0.0):.4f}{best_text}")

    @on(DataTable.HeaderSelected, "#experiments")
    def _sort_experiments(self, event: DataTable.HeaderSelected) -> None:
        def key(v):
            try:
                return (0, float(str(v).strip("[]").split(",")[0]))
            except ValueError:
                return (1, str(v))
        event.data_table.sort(event.column_key, key=key)

    # -- runs browser -------------------------------------------------------------------------------------------
    def refresh_runs(self) -> None:
        """List the workspace's runs again (in a worker); each run's checkpoints load when it is expanded."""
        self.load_runs()

    @work(thread=True, exclusive=True, group="runs", exit_on_error=False, description="list the runs")
    def load_runs(self) -> None:
        self.post_message(RunsLoaded(backend.load_runs(workspace=self.workspace)))

    @work(thread=True, group="history", exit_on_error=False, description="read a run's checkpoints")
    def load_history(self, thread_id: str) -> None:
        try:
            self.post_message(HistoryLoaded(thread_id, backend.load_history(thread_id, workspace=self.workspace)))
        except Exception as exc:  # a damaged run is shown, not fatal
            self.post_message(HistoryLoaded(thread_id, [], f"{type(exc).__name__}: {exc}"))

    @on(RunsLoaded)
    @_while_open
    def _runs_loaded(self, message: RunsLoaded) -> None:
        """Rebuild the tree if the runs changed, keeping which runs are expanded and where the cursor is."""
        listed = [(r.thread_id, r.finished) for r in message.runs]
        if listed == self._listed:
            return
        self._listed = listed
        tree = self.main.query_one("#runs", Tree)
        expanded = {n.data["thread_id"] for n in tree.root.children if n.is_expanded and n.data}
        at = tree.cursor_node.data if tree.cursor_node is not None else None
        tree.clear()
        tree.root.expand()
        for r in message.runs:
            text = f"{r.thread_id}  {Path(r.task).stem}  {'finished' if r.finished else 'unfinished'}"
            node = tree.root.add(text, data={"thread_id": r.thread_id}, expand=False, allow_expand=True)
            if r.thread_id in self.histories:
                self._fill_history(node, self.histories[r.thread_id])
            if r.thread_id in expanded:
                node.expand()
        if not message.runs:
            tree.root.add_leaf(f"no runs in {self.workspace} yet: s starts one")
        if at:
            self._move_to(tree, at)

    def _move_to(self, tree: Tree, data: dict) -> None:
        stack = list(tree.root.children)
        while stack:
            node = stack.pop()
            if node.data == data:
                tree.move_cursor(node)
                return
            stack.extend(node.children)

    @on(Tree.NodeSelected, "#runs")
    def _run_selected(self, event: Tree.NodeSelected) -> None:
        """Enter on a run: its experiments, best so far and budget, read from its last checkpoint, shown in the
        Experiments tab (a finished run's too); r then resumes it, f forks it at a step chosen below it."""
        data = event.node.data or {}
        thread = data.get("thread_id")
        if not thread or "checkpoint_id" in data:
            return
        if self.running:
            self.notify("a run is going: its experiments are shown; x stops it first", severity="warning")
            return
        self.view_run(thread)

    @work(thread=True, exclusive=True, group="view", exit_on_error=False, description="read a run's state")
    def view_run(self, thread_id: str) -> None:
        try:
            self.post_message(RunViewed(thread_id, backend.load_digest(thread_id, workspace=self.workspace)))
        except Exception as exc:  # a damaged run is said, not fatal
            self.post_message(RunViewed(thread_id, None, f"{type(exc).__name__}: {exc}"))

    @on(RunViewed)
    @_while_open
    def _run_viewed(self, message: RunViewed) -> None:
        if self.running:
            return
        if message.digest is None:
            self.notify(f"cannot read {message.thread_id}: {message.error}", severity="error")
            return
        dg = message.digest
        if self.session is not None:
            self.session.close()
            self.session = self.stepper = None
        self.viewed = message.thread_id
        self.main.query_one("#facts", Static).update(dg["facts"])
        self._show_digest(dg)
        where = f"report: {dg['report']}" if dg.get("report") else f"`glia resume {message.thread_id}` or r " \
                                                                  "continues it"
        self._status(f"{message.thread_id} ({dg['status']}): {len(dg['ledger'])} experiment(s). {where}")
        self.action_tab("experiments")

    @on(Tree.NodeExpanded, "#runs")
    def _run_expanded(self, event: Tree.NodeExpanded) -> None:
        data = event.node.data or {}
        thread = data.get("thread_id")
        if thread and "checkpoint_id" not in data and thread not in self.histories and not event.node.children:
            event.node.add_leaf("reading checkpoints…")
            self.load_history(thread)

    @on(HistoryLoaded)
    @_while_open
    def _history_loaded(self, message: HistoryLoaded) -> None:
        self.histories[message.thread_id] = message.error or message.history
        tree = self.main.query_one("#runs", Tree)
        at = tree.cursor_node.data if tree.cursor_node is not None else None
        for node in tree.root.children:
            if node.data and node.data.get("thread_id") == message.thread_id:
                self._fill_history(node, self.histories[message.thread_id])
        if at and at.get("thread_id") == message.thread_id:
            self._move_to(tree, at)

    def _fill_history(self, node: TreeNode, history: list[dict] | str) -> None:
        """A run's checkpoints as a tree: a linear history is one level of siblings; each branch of a fork nests
        under its first checkpoint."""
        node.remove_children()
        if isinstance(history, str):
            node.add_leaf(f"cannot read: {history}")
            return
        thread = node.data["thread_id"]
        children: dict[str | None, list[dict]] = {}
        for h in history:
            children.setdefault(h["parent_id"], []).append(h)
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
                    child = parent_node.add(text, data={"thread_id": thread, "checkpoint_id": h["checkpoint_id"]},
                                            expand=True, allow_expand=len(kids) > 1)
                    if len(kids) > 1:
                        pending.append((child, h["checkpoint_id"]))
                if len(kids) > 1:
                    break
                parent_id = kids[0]["checkpoint_id"]

    def _status(self, text: str) -> None:
        self.main.query_one("#status", Static).update(f"Glia · {text}")

    def on_unmount(self) -> None:
        if self.stepper and self.running:
            self.stepper.stop()


def _short(args: dict) -> str:
    return ", ".join(f"{k}={str(v)[:40]!r}" for k, v in (args or {}).items())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="glia tui", description="The terminal UI: start a run and watch the graph move, step it node by node, "
        "stop it (the step in flight is discarded and runs again on resume), resume or fork any run of the workspace "
        "at any step with other implementations, read a run's experiments and report. Keys: see the footer.")
    ap.add_argument("--workspace", default=backend.DEFAULT_WORKSPACE,
                    help="where runs, checkpoints and telemetry are (default: %(default)s)")
    ap.add_argument("--task", default="routing",
                    help="the task a new run (s) designs for: a built-in name or a task .toml file (default: "
                         "%(default)s)")
    ap.add_argument("--budget-sims", type=int, default=None,
                    help="simulations a new run may use (default: the task's)")
    ap.add_argument("--contexts", type=int, default=1, help="independent design contexts of a new run (default: 1)")
    ap.add_argument("--mode", choices=("parallel", "sequential"), default="parallel",
                    help="how a new run's contexts share the budget (default: %(default)s)")
    ap.add_argument("--model", default=os.environ.get("GLIA_MODEL"),
                    help="chat model for the llm implementations (default: $GLIA_MODEL; none: offline only)")
    ap.add_argument("--base-url", default=os.environ.get("OPENAI_BASE_URL"),
                    help="OpenAI-compatible endpoint of the model (default: $OPENAI_BASE_URL)")
    args = ap.parse_args(argv)
    GliaApp(args.workspace, args.task, budget_sims=args.budget_sims, contexts=args.contexts, mode=args.mode,
            model=args.model, base_url=args.base_url).run()
    return 0
