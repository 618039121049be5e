"""Where a run has been, on its graph: how often each edge was taken, the edge just taken, the node that ran last,
and where each context of a multi-context run is. Fed one finished step at a time, as LangGraph streams them (the
node's name and the namespace of the subgraph task it ran in). No Textual here."""

from __future__ import annotations

from collections import Counter

Edge = tuple[str, str]
TOP = "run"   # the lane of the top-level graph
RECENT = 64   # how far back a step's predecessor is looked for


class RunTrace:
    """The graph's nodes and edges (as the compiled graph reports them) and the run's path through them."""

    def __init__(self, nodes: list[str], edges: list[Edge]):
        self.nodes = set(nodes)
        self.edges = set(edges)
        self.counts: Counter[Edge] = Counter()
        self.last_edge: Edge | None = None
        self.active: str | None = None
        self.names: dict[str, str] = {}        # a subgraph task (its namespace) -> the context's name (c1, ...)
        self.positions: dict[str, str] = {}    # a context's name -> the node it ran last
        self._last: dict[str, str] = {}        # lane -> the node it ran last
        self._recent: list[str] = []           # every node run, oldest first

    def name_context(self, namespace: tuple[str, ...], name: str) -> None:
        """The context's own name (its ``context_id``) for the subgraph task it runs in."""
        if namespace:
            self.names[namespace[0]] = name

    def node_id(self, node: str, namespace: tuple[str, ...]) -> str:
        """The graph's id of a node that ran in ``namespace``: ``context:researcher`` for ``researcher`` in a
        context's subgraph task ``context:<task id>``."""
        return f"{namespace[0].split(':', 1)[0]}:{node}" if namespace else node

    def visit(self, node: str, namespace: tuple[str, ...] = ()) -> str | None:
        """Record a finished step; returns the name of the context it ran in (None at the top level)."""
        nid = self.node_id(node, namespace)
        lane = namespace[0] if namespace else TOP
        context = None
        if namespace:
            context = self.names.setdefault(lane, f"c{len(self.names) + 1}")
        if nid not in self.nodes:  # e.g. a whole subgraph reporting back: not a node of the drawing
            return context
        # the edge taken: in a context, from its own last node; else (a context's first step, or the top level,
        # which runs when the contexts have) from the node that ran most recently and leads here
        previous = [self._last[lane]] if namespace and lane in self._last else []
        previous += reversed(self._recent[-RECENT:])
        self.last_edge = next(((p, nid) for p in previous if (p, nid) in self.edges), None)
        if self.last_edge:
            self.counts[self.last_edge] += 1
        self.active = nid
        self._last[lane] = nid
        self._recent.append(nid)
        if context:
            self.positions[context] = nid
        return context

    def tags(self) -> dict[str, list[str]]:
        """Node -> the contexts there, for a multi-context run's drawing."""
        out: dict[str, list[str]] = {}
        for name, nid in sorted(self.positions.items()):
            out.setdefault(nid, []).append(name)
        return out
