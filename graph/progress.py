"""What a run says as it goes, in words: each baseline, each experiment with the budget left and an estimate of
the time left, each held-out figure as it is measured. ``Progress`` prints it for the command line (timestamped, on
stderr); the TUI shows the same lines (``describe``)."""

from __future__ import annotations

import sys
import time


def figures(m: dict, metric: str) -> str:
    """An experiment's objective, and the mean end-to-end time and restarts that every routing user reads."""
    parts = [] if metric == "mean_e2e_s" else [f"{metric} {m.get(metric, float('nan')):.4g}"]
    if "mean_e2e_s" not in m:  # a program task's evaluator reports its own metrics
        return ", ".join(parts + [f"{k} {v:.4g}" for k, v in list(m.items())[:4] if k != metric])
    parts += [f"mean e2e {m.get('mean_e2e_s', float('nan')):.2f} s",
              f"restarts {m.get('restart_fraction', float('nan')):.3f}"]
    return ", ".join(parts)


def infeasible(d: dict) -> str:
    """A design that breaks the task's constraint, and by how much (a bare "+100.0 %" beside a score of 0 read as a
    gain)."""
    return "" if d.get("feasible", True) else (f", INFEASIBLE (its constraint broken by "
                                               f"{100 * d.get('violation', float('inf')):.1f} %)")


def objective_text(metric: str, v) -> str:
    if v is None:
        return f"{metric} -"
    return f"mean e2e {v:.2f} s" if metric == "mean_e2e_s" else f"{metric} {v:.3f}"


def duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 90:
        return f"{seconds} s"
    if seconds < 5400:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def say(text: str) -> None:
    """One progress line on stderr, timestamped."""
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


class Eta:
    """The time left in a context's search, from the time between the experiments it finished while this process
    watched: each interval holds a whole step (the researcher's turn, a model's reply that may take minutes, the
    evaluation, the analyst's), so no estimate is made before a second experiment has finished (the first one, the
    starter measured by the harness, says nothing of how long a model takes to write a design)."""

    def __init__(self):
        self.first: dict[str, float] = {}      # context -> when this process saw its first experiment finish
        self.done: dict[str, int] = {}         # context -> experiments finished since (that one included)
        self.last: float | None = None         # the latest estimate (seconds)

    def start(self, context: str) -> None:
        """A context started searching (nothing to measure yet)."""

    def finished(self, context: str, left: int) -> float | None:
        """One more experiment of ``context`` finished, ``left`` to go: the seconds they should take (None before
        one interval between experiments was seen, or when none is left)."""
        now = time.monotonic()
        first = self.first.setdefault(context, now)
        self.done[context] = self.done.get(context, 0) + 1
        intervals = self.done[context] - 1
        self.last = (now - first) / intervals * left if left > 0 and intervals > 0 else None
        return self.last


def describe(d: dict, metric: str, eta: Eta) -> str | None:
    """The line for one of a run's custom stream events (None for those that say nothing)."""
    kind = d.get("event")
    if kind == "experiment":
        return _experiment(d, metric, eta)
    if kind == "baseline":
        return f"[run] baseline {d['policy']}: {figures(d['metrics'], metric)}{infeasible(d)}"
    if kind == "context_start":
        eta.start(d["context"])
    elif kind == "context_end":
        return f"[{d['context']}] done: {d['outcome']['stop_reason']}"
    elif kind == "heldout" and "variants" in d:  # a program task: the evaluator's own variants
        return (f"[run] held-out: re-measuring {', '.join(d['designs'])} on the evaluator's variants "
                f"{', '.join(d['variants'])}" if d["variants"] else "[run] held-out: none (the task gives no "
                "held-out variant of its evaluator; the report says so)")
    elif kind == "heldout":
        return (f"[run] held-out: re-measuring {', '.join(d['designs'])} on {d.get('seeds', '?')} unseen seeds and on "
                f"the shifted workload ({2 * len(d['designs'])} measurements, one line each)")
    elif kind == "heldout_figure":
        f = d["figure"]
        where = f.get("workload") or f"{len(f.get('seeds') or [])} unseen seeds"
        ci = f" [{f['ci90'][0]:.2f}, {f['ci90'][1]:.2f}]" if f.get("ci90") and None not in f["ci90"] else ""
        value = f"error {f['error']['kind']}" if f.get("error") else objective_text(metric, f.get("value")) + ci
        return f"[run] {'held-out' if d['part'] == 'heldout' else 'shifted'} {d['design']}: {value} ({where})"
    elif kind == "modes":
        return f"[run] {d['text']}"
    elif kind == "wall_clock":
        return (f"[{d.get('context') or 'run'}] {d['text']} while the {d['role']} waited on its model: the call is "
                "abandoned, the step answered without it, and the run ends with what it measured")
    return None


def _experiment(d: dict, metric: str, eta: Eta) -> str:
    m = d.get("metrics", {})
    verdict = "the starter's baseline, read back: not charged" if d.get("verdict") == "baseline" else d["verdict"]
    res = f"error {d['error']['kind']}" if d.get("error") else f"{figures(m, metric)}{infeasible(d)} ({verdict})"
    line = f"[{d['context']}] experiment {d['id']}: {d['label'][:80]} -> {res}"
    if d.get("left") is None:
        return line
    line += f" · {d['budget'] - d['left']} of {d['budget']} {d.get('unit', 'simulations')} used"
    left_s = eta.finished(d["context"], d["left"])
    return line + (f", about {duration(left_s)} left in the search" if left_s is not None else "")


class Progress:
    """The command line's progress: ``describe``'s lines, timestamped, on stderr (nothing when ``quiet``)."""

    def __init__(self, quiet: bool, metric: str = "mean_e2e_s"):
        self.quiet, self.metric = quiet, metric
        self.eta = Eta()

    def __call__(self, e: dict) -> None:
        if self.quiet or e["mode"] != "custom":
            return
        line = describe(e["data"], self.metric, self.eta)
        if line:
            say(line)
