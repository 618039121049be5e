"""Widgets drawn from the run's own data: the graph (boxes and arrows, where the run is), the best-so-far plot.
Their styles are in ``widgets.tcss``."""

from __future__ import annotations

import math

from rich.text import Text
from textual.geometry import Size
from textual.widget import Widget
from textual.widgets import Static

from glia.tui.drawing import Drawing, fit, hidden, label
from glia.tui.trace import Edge, RunTrace

ROLES = ("box", "active", "context", "edge", "taken", "last", "count", "tag")


class GraphView(Widget):
    """The compiled graph drawn as boxes and arrows: the node that ran last and the edge just taken highlighted, a
    count on each edge taken, each context's place in a multi-context run (in its node's bottom border). A caption
    under it says the same in words, with whatever the drawing had no room for."""

    COMPONENT_CLASSES = {f"graph-view--{role}" for role in ROLES} | {"graph-view--caption"}
    MIN_ROWS = 12      # rows the drawing may always take (the compact framed style needs 11)
    SHARE = 0.6        # and at most this share of a taller container

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.trace: RunTrace | None = None
        self.shape: tuple[list[str], list[Edge]] = ([], [])
        self._drawings: dict[tuple[int, int], Drawing] = {}

    def set_graph(self, nodes: list[str], edges: list[Edge]) -> None:
        """Draw this graph, with no run on it yet."""
        self.trace = RunTrace(nodes, edges)
        if self.shape != (list(nodes), list(edges)):
            self.shape = (list(nodes), list(edges))
            self._drawings.clear()
        self.refresh(layout=True)

    def name_context(self, namespace: tuple[str, ...], name: str) -> None:
        if self.trace:
            self.trace.name_context(namespace, name)

    def visit(self, node: str, namespace: tuple[str, ...] = ()) -> str | None:
        """A step finished; returns the name of the context it ran in (None at the top level)."""
        if self.trace is None:
            return None
        context = self.trace.visit(node, namespace)
        self.refresh()
        return context

    def rows_for(self, container_height: int) -> int:
        """Rows the drawing may take in a container this tall (the rest: its caption and the widgets below)."""
        return max(min(self.MIN_ROWS, container_height - 1), round(container_height * self.SHARE)) - 1

    def drawing(self, width: int, height: int) -> Drawing | None:
        if self.trace is None or width <= 0 or height <= 0:
            return None
        if (width, height) not in self._drawings:
            self._drawings[(width, height)] = fit(*self.shape, width, height)
        return self._drawings[(width, height)]

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        rows = self.rows_for(container.height)
        d = self.drawing(width, rows)
        return (min(d.height, rows) if d else 0) + 1

    def render(self) -> Text:
        width, height = self.content_size
        out = Text(no_wrap=True, overflow="crop", end="")
        caption = self.get_component_rich_style("graph-view--caption")
        d = self.drawing(width, height - 1)
        trace = self.trace
        if d is None or trace is None:
            out.append("compiling the graph…", style=caption)
            return out
        pic = d.render(active=trace.active, last=trace.last_edge, counts=dict(trace.counts), tags=trace.tags())
        indent = " " * max((width - d.width) // 2, 0)
        styles = {role: self.get_component_rich_style(f"graph-view--{role}") for role in ROLES}
        for y in range(min(pic.height, height - 1)):
            out.append(indent)
            for chunk, role in pic.runs(y):
                out.append(chunk, style=styles.get(role, ""))
            out.append("\n")
        out.append(self.caption(pic.missing)[:width], style=caption)
        return out

    def caption(self, missing: list[str]) -> str:
        """What the highlight shows, in words; and the edge counts the drawing had no room for."""
        trace = self.trace
        if trace is None:
            return ""
        if trace.last_edge:
            a, b = trace.last_edge
            words = f"{label(a)} → {label(b)} ({trace.counts[trace.last_edge]}×)"
        elif trace.active:
            words = f"ran {label(trace.active)}"
        else:
            shown = [n for n in trace.nodes if not hidden(n)]
            edges = [e for e in trace.edges if not (hidden(e[0]) or hidden(e[1]))]
            words = f"the compiled graph: {len(shown)} nodes, {len(edges)} edges"
        places = " ".join(f"{name}@{label(nid)}" for name, nid in sorted(trace.positions.items()))
        return " · ".join(part for part in (words, places, ", ".join(m for m in missing if "@" not in m)) if part)


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
