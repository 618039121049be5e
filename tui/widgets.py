"""Widgets drawn from the run's own data: the graph with the active node and edge counts, the best-so-far plot."""

from __future__ import annotations

import math
from collections import Counter

from rich.text import Text
from textual.widgets import Static


class GraphView(Static):
    """The compiled graph's nodes and edges; the active node highlighted; how often each edge was taken."""

    def __init__(self, nodes: list[str], edges: list[tuple[str, str]], **kwargs):
        super().__init__(**kwargs)
        self.graph_nodes = [n for n in nodes if not n.startswith("__")]
        self.graph_edges = edges
        self.active: str | None = None
        self.taken: Counter = Counter()
        self.contexts: dict[str, str] = {}

    def set_graph(self, nodes: list[str], edges: list[tuple[str, str]]) -> None:
        self.graph_nodes = [n for n in nodes if not n.startswith("__")]
        self.graph_edges = edges
        self.refresh_view()

    def visit(self, node: str, context: str | None = None) -> None:
        key = node.split(":")[-1]
        if self.active is not None:
            self.taken[(self.active.split(":")[-1], key)] += 1
        self.active = node
        if context:
            self.contexts[context] = key
        self.refresh_view()

    def reset(self) -> None:
        self.active, self.taken, self.contexts = None, Counter(), {}
        self.refresh_view()

    def refresh_view(self) -> None:
        text = Text()
        active = (self.active or "").split(":")[-1]
        for n in self.graph_nodes:
            short = n.split(":")[-1]
            style = "bold reverse green" if short == active else "bold"
            text.append(f"{'▶' if short == active else '•'} {short:<10}", style=style)
            outs = [(b.split(":")[-1]) for a, b in self.graph_edges if a == n and not b.startswith("__")]
            if outs:
                text.append(" → " + "  ".join(f"{o}({self.taken[(short, o)]})" for o in outs), style="dim")
            text.append("\n")
        if self.contexts:
            text.append("contexts: " + ", ".join(f"{c}@{n}" for c, n in sorted(self.contexts.items())))
        self.update(text)


class BestPlot(Static):
    """Best objective so far against simulations, with the baselines as horizontal lines."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.values: list[float] = []
        self.baselines: dict[str, float] = {}
        self.metric = "mean_e2e_s"

    def set_data(self, values: list[float], baselines: dict[str, float], metric: str) -> None:
        self.values, self.baselines, self.metric = values, baselines, metric
        self.refresh_plot()

    def on_resize(self) -> None:
        self.refresh_plot()

    def refresh_plot(self) -> None:
        width = max(20, (self.size.width or 60) - 10)
        height = max(4, (self.size.height or 10) - 2)
        finite = [v for v in self.values if math.isfinite(v)]
        if not finite:
            self.update(Text(f"best {self.metric} so far: no successful simulation yet", style="dim"))
            return
        best, cur = [], math.inf
        for v in self.values:
            cur = min(cur, v) if math.isfinite(v) else cur
            best.append(cur)
        lo = min(finite + list(self.baselines.values()))
        hi = max([b for b in best if math.isfinite(b)] + list(self.baselines.values()))
        span = (hi - lo) or 1.0
        grid = [[" "] * width for _ in range(height)]

        def row(v: float) -> int:
            return height - 1 - int(round((v - lo) / span * (height - 1)))

        for name, v in self.baselines.items():
            r = row(v)
            for x in range(width):
                grid[r][x] = "─"
            for i, ch in enumerate(name[: width]):
                grid[r][i] = ch
        n = len(best)
        for i, v in enumerate(best):
            if math.isfinite(v):
                x = int(i * (width - 1) / max(n - 1, 1))
                grid[row(v)][x] = "●"
        text = Text(f"best {self.metric} so far over {n} simulation(s); lines: baselines\n", style="bold")
        for r in range(height):
            value = hi - r * span / max(height - 1, 1)
            text.append(f"{value:8.2f} │", style="dim")
            text.append("".join(grid[r]) + "\n")
        self.update(text)
