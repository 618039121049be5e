"""A graph drawn in a terminal: framed boxes in layers computed from the graph, and its edges routed as arrows
between them on a character grid. Pure functions, no Textual, so the layout is unit-tested; the widget colours it.

Layers are the breadth-first distance from the graph's entry, so an agent graph reads as "what may come next" and
stays shallow (its loops go back rather than stretching it). Edges are routed one at a time by a shortest-path
search on the grid that pays for length, bends and crossings (only at right angles, never along another edge), and
lets the edges out of one node, or into one node, share a trunk. ``fit`` tries styles from roomy to compact and
keeps the first that fits the space it is given.
"""

from __future__ import annotations

import heapq
from collections import deque
from dataclasses import dataclass, field, replace
from itertools import count, pairwise

Cell = tuple[int, int]
Edge = tuple[str, str]

N, E, S, W = 1, 2, 4, 8
STEP = {N: (0, -1), E: (1, 0), S: (0, 1), W: (-1, 0)}
OPPOSITE = {N: S, S: N, E: W, W: E}
TURNS = {N: (E, W), S: (E, W), E: (N, S), W: (N, S)}
LINES = {E | W: "─", N | S: "│", E | S: "┌", W | S: "┐", N | E: "└", N | W: "┘", N | E | S: "├", N | W | S: "┤",
         E | W | S: "┬", E | W | N: "┴", N | E | S | W: "┼", N: "│", S: "│", E: "─", W: "─"}
ARROWS = {N: "▲", E: "▶", S: "▼", W: "◀"}
FRAME = {"tl": "╭", "tr": "╮", "bl": "╰", "br": "╯", "h": "─"}
# what a route pays for a bend, a crossing, joining a trunk, passing beside a box, a port not facing the flow
BEND, CROSS, JOIN, CROWD, PORT = 2, 5, 1, 1, 2


@dataclass(frozen=True)
class Style:
    """One way to draw a graph; ``STYLES`` lists them from the roomiest to the most compact."""

    across: bool      # layers left to right (else top to bottom)
    framed: bool      # three-row framed boxes (else one-row ``[label]``)
    gap: int          # cells between layers
    spacing: int      # cells between the boxes of a layer
    margin: int       # spare cells around the boxes, where edges go back
    pad: int = 0      # blank cells either side of a framed box's label


STYLES = (
    Style(across=True, framed=True, gap=8, spacing=1, margin=2, pad=1),
    Style(across=True, framed=True, gap=6, spacing=1, margin=2),
    Style(across=False, framed=True, gap=3, spacing=3, margin=2, pad=1),
    Style(across=True, framed=True, gap=4, spacing=1, margin=1),
    Style(across=True, framed=True, gap=3, spacing=0, margin=1),
    Style(across=True, framed=False, gap=4, spacing=1, margin=2),
    Style(across=False, framed=False, gap=2, spacing=2, margin=2),
    Style(across=True, framed=False, gap=3, spacing=1, margin=1),
    Style(across=False, framed=False, gap=1, spacing=1, margin=1),
)


def hidden(node: str) -> bool:
    """LangGraph's own ``__start__`` and ``__end__``: they mark the entry and the exit, they are not drawn."""
    return node.startswith("__")


def label(node: str) -> str:
    """A node's name without its subgraph prefix (``context:researcher`` is drawn as ``researcher``)."""
    return node.rsplit(":", 1)[-1]


def layers(nodes: list[str], edges: list[Edge]) -> list[list[str]]:
    """The drawn nodes by breadth-first distance from the entry (what ``__start__`` leads to, else the nodes nothing
    leads to), each layer ordered so that edges between neighbouring layers cross little."""
    shown = [n for n in nodes if not hidden(n)]
    succ: dict[str, list[str]] = {n: [] for n in shown}
    for a, b in edges:
        if a in succ and b in succ and b not in succ[a]:
            succ[a].append(b)
    led_to = {b for a, bs in succ.items() for b in bs if b != a}
    entries = [b for a, b in edges if hidden(a) and b in succ] or [n for n in shown if n not in led_to]
    depth: dict[str, int] = {}
    found: list[str] = []
    for root in entries + shown:  # unreachable nodes start layers of their own
        if root in depth:
            continue
        depth[root] = 0 if root in entries else max([depth[a] + 1 for a in shown if root in succ[a] and a in depth],
                                                     default=0)
        queue = deque([root])
        found.append(root)
        while queue:
            a = queue.popleft()
            for b in succ[a]:
                if b not in depth:
                    depth[b] = depth[a] + 1
                    found.append(b)
                    queue.append(b)
    out: list[list[str]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for n in found:
        out[depth[n]].append(n)
    return _order(out, edges)


def _order(layered: list[list[str]], edges: list[Edge]) -> list[list[str]]:
    """Barycentre sweeps, down then up: each node moves towards the mean position of its neighbours in the layer
    just before (or after) its own."""
    near: dict[str, set[str]] = {n: set() for layer in layered for n in layer}
    for a, b in edges:
        if a in near and b in near and a != b:
            near[a].add(b)
            near[b].add(a)
    layered = [list(layer) for layer in layered]
    for sweep in range(4):
        down = sweep % 2 == 0
        indices = range(1, len(layered)) if down else range(len(layered) - 2, -1, -1)
        for i in indices:
            ref = {n: k for k, n in enumerate(layered[i - 1 if down else i + 1])}

            def centre(n: str, at: int, ref: dict = ref) -> float:
                pos = [ref[m] for m in near[n] if m in ref]
                return sum(pos) / len(pos) if pos else at

            layered[i] = [n for _, _, n in sorted((centre(n, k), k, n) for k, n in enumerate(layered[i]))]
    return layered


@dataclass(frozen=True)
class Box:
    """A node's box: its top-left cell and size."""

    node: str
    label: str
    x: int
    y: int
    w: int
    h: int

    def __contains__(self, cell: Cell) -> bool:
        return self.x <= cell[0] < self.x + self.w and self.y <= cell[1] < self.y + self.h

    @property
    def centre(self) -> Cell:
        return self.x + self.w // 2, self.y + self.h // 2

    def off_centre(self, cell: Cell) -> float:
        """A small price for attaching away from the middle of a side (edges then leave from the middle)."""
        return 0.01 * (abs(cell[0] - (self.x + (self.w - 1) / 2)) + abs(cell[1] - (self.y + (self.h - 1) / 2)))

    def accepts(self, cell: Cell, d: int) -> bool:
        """Whether an edge moving in direction ``d`` may attach at ``cell`` of this box (not at a corner)."""
        x, y = cell
        inner_x = self.x < x < self.x + self.w - 1
        inner_y = self.h == 1 or self.y < y < self.y + self.h - 1
        return {S: y == self.y and inner_x, N: y == self.y + self.h - 1 and inner_x,
                E: x == self.x and inner_y, W: x == self.x + self.w - 1 and inner_y}[d]

    def ports(self) -> list[tuple[Cell, int]]:
        """The border cells edges may leave from, with the direction they leave in."""
        out = []
        for x in range(self.x + 1, self.x + self.w - 1):
            out += [((x, self.y), N), ((x, self.y + self.h - 1), S)]
        for y in range(self.y, self.y + self.h):
            if self.h == 1 or self.y < y < self.y + self.h - 1:
                out += [((self.x, y), W), ((self.x + self.w - 1, y), E)]
        return out


def place(layered: list[list[str]], edges: list[Edge], style: Style) -> tuple[dict[str, Box], int, int]:
    """Boxes for the layered nodes, each centred on the neighbours placed before it; and the grid's size."""
    size = {n: (len(label(n)) + 2 + (2 * style.pad if style.framed else 0), 3 if style.framed else 1)
            for layer in layered for n in layer}
    near: dict[str, list[str]] = {n: [] for n in size}
    for a, b in edges:
        if a in size and b in size and a != b:
            near[a].append(b)
            near[b].append(a)
    along = [max(size[n][0 if style.across else 1] for n in layer) for layer in layered]
    across = [[size[n][1 if style.across else 0] for n in layer] for layer in layered]
    extent = max((sum(s) + style.spacing * (len(s) - 1) for s in across), default=0)
    centres: dict[str, float] = {}
    boxes: dict[str, Box] = {}
    at = style.margin
    previous: list[str] = []
    for layer, depth, sizes in zip(layered, along, across, strict=True):
        pos: list[int] = []
        for n, s in zip(layer, sizes, strict=True):
            placed = [centres[m] for m in near[n] if m in previous] or [centres[m] for m in near[n] if m in centres]
            want = round((sum(placed) / len(placed) if placed else extent / 2) - s / 2)
            pos.append(max(want, pos[-1] + sizes[len(pos) - 1] + style.spacing) if pos else max(want, 0))
        limit = extent
        for k in range(len(pos) - 1, -1, -1):  # pushed past the end: pull back
            pos[k] = min(pos[k], limit - sizes[k])
            limit = pos[k] - style.spacing
        for n, p, s in zip(layer, pos, sizes, strict=True):
            centres[n] = p + s / 2
            w, h = size[n]
            if style.across:
                boxes[n] = Box(n, label(n), at + (depth - w) // 2, style.margin + p, w, h)
            else:
                boxes[n] = Box(n, label(n), style.margin + p, at + (depth - h) // 2, w, h)
        at += depth + style.gap
        previous = layer
    span = sum(along) + style.gap * (len(along) - 1)
    width = style.margin * 2 + (span if style.across else extent)
    height = style.margin * 2 + (extent if style.across else span)
    return boxes, width, height


@dataclass
class Route:
    """An edge's way on the grid: every cell from the source's border to the target's (through the trunk it
    branches off or joins, if any), and the cell of its arrowhead (None when it joins another edge's trunk)."""

    edge: Edge
    cells: list[Cell]
    arrow: Cell | None


@dataclass
class Drawing:
    """A laid-out graph; ``render`` draws it with the run's marks (active node, counts, contexts)."""

    width: int
    height: int
    style: Style
    boxes: dict[str, Box]
    routes: dict[Edge, Route] = field(default_factory=dict)
    arms: dict[Cell, int] = field(default_factory=dict)
    arrows: dict[Cell, int] = field(default_factory=dict)
    owners: dict[Cell, set[Edge]] = field(default_factory=dict)   # the edges through each cell
    unrouted: list[Edge] = field(default_factory=list)

    def render(self, active: str | None = None, last: Edge | None = None, counts: dict[Edge, int] | None = None,
               tags: dict[str, list[str]] | None = None) -> Picture:
        """The picture: ``active`` node highlighted, ``last`` edge (just taken) highlighted, each edge's count on
        it, and ``tags`` (e.g. context names) in the bottom border of their node's box."""
        counts, tags = counts or {}, tags or {}
        pic = Picture(self.width, self.height)
        rank = {"edge": 0, "taken": 1, "last": 2}
        for edge, route in self.routes.items():
            role = "last" if edge == last else "taken" if counts.get(edge) else "edge"
            for cell in route.cells:
                if cell in self.arms and rank[role] >= rank.get(pic.role(cell), -1):
                    pic.put(cell, _line(self.arms[cell]), role)
        for cell, d in self.arrows.items():
            pic.put(cell, ARROWS[d], pic.role(cell))
        for node, box in self.boxes.items():
            role = "active" if node == active else "context" if tags.get(node) else "box"
            self._draw_box(pic, box, role)
        for edge, route in self.routes.items():
            if counts.get(edge):
                if not _label_route(pic, route, str(counts[edge]), self.arms, self.owners):
                    pic.missing.append(f"{label(edge[0])}→{label(edge[1])} {counts[edge]}")
        for node, names in tags.items():
            if names and (node not in self.boxes or not _tag_box(pic, self.boxes[node], " ".join(names))):
                pic.missing.extend(f"{name}@{label(node)}" for name in names)
        return pic

    def _draw_box(self, pic: Picture, box: Box, role: str) -> None:
        x0, y0, x1, y1 = box.x, box.y, box.x + box.w - 1, box.y + box.h - 1
        if box.h == 1:
            pic.write(x0, y0, f"[{box.label.center(box.w - 2)}]", role)
            return
        for x in range(x0, x1 + 1):
            for y, horizontal in ((y0, E | W), (y1, E | W)):
                extra = self.arms.get((x, y), 0) & (N if y == y0 else S)
                pic.put((x, y), LINES[horizontal | extra] if x0 < x < x1 else "", role)
        for y in range(y0 + 1, y1):
            for x in (x0, x1):
                extra = self.arms.get((x, y), 0) & (W if x == x0 else E)
                pic.put((x, y), LINES[N | S | extra], role)
            pic.write(x0 + 1, y, box.label.center(box.w - 2), role)
        for cell, ch in (((x0, y0), FRAME["tl"]), ((x1, y0), FRAME["tr"]), ((x0, y1), FRAME["bl"]),
                         ((x1, y1), FRAME["br"])):
            pic.put(cell, ch, role)


@dataclass
class Picture:
    """Characters with a role per cell (``box``, ``active``, ``context``, ``edge``, ``taken``, ``last``, ``count``,
    ``tag``); ``missing`` lists the counts and tags there was no room to draw."""

    width: int
    height: int
    chars: list[list[str]] = field(init=False)
    roles: list[list[str]] = field(init=False)
    missing: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.chars = [[" "] * self.width for _ in range(self.height)]
        self.roles = [[""] * self.width for _ in range(self.height)]

    def put(self, cell: Cell, ch: str, role: str) -> None:
        x, y = cell
        if 0 <= x < self.width and 0 <= y < self.height and ch:
            self.chars[y][x], self.roles[y][x] = ch, role

    def write(self, x: int, y: int, text: str, role: str) -> None:
        for i, ch in enumerate(text):
            self.put((x + i, y), ch, role)

    def role(self, cell: Cell) -> str:
        return self.roles[cell[1]][cell[0]]

    def free(self, cell: Cell) -> bool:
        x, y = cell
        return 0 <= x < self.width and 0 <= y < self.height and self.chars[y][x] == " "

    @property
    def lines(self) -> list[str]:
        return ["".join(row) for row in self.chars]

    def runs(self, y: int) -> list[tuple[str, str]]:
        """Row ``y`` as (text, role) runs."""
        out: list[tuple[str, str]] = []
        for ch, role in zip(self.chars[y], self.roles[y], strict=True):
            if out and out[-1][1] == role:
                out[-1] = (out[-1][0] + ch, role)
            else:
                out.append((ch, role))
        return out


def _line(arms: int) -> str:
    return LINES.get(arms, "┼")


def _label_route(pic: Picture, route: Route, text: str, arms: dict[Cell, int], owners: dict[Cell, set[Edge]]) -> bool:
    """Write ``text`` where only this route runs (never on a shared trunk): over a horizontal stretch of its line,
    the one nearest its arrow first, else in free cells beside it."""
    mine = [c for c in route.cells if owners.get(c) == {route.edge}]
    stretch: list[Cell] = []
    for c in [*reversed(mine), None]:
        plain = c is not None and arms.get(c) == E | W and c != route.arrow and pic.role(c) != "count"
        if plain and (not stretch or (c[1] == stretch[-1][1] and abs(c[0] - stretch[-1][0]) == 1)):
            stretch.append(c)
            continue
        if len(stretch) >= len(text):  # the stretch ends here: long enough?
            x0 = min(x for x, _ in stretch)
            pic.write(x0 + (len(stretch) - len(text)) // 2, stretch[0][1], text, "count")
            return True
        stretch = [c] if plain else []
    for x, y in reversed(mine):
        for start in (x + 1, x - len(text)):
            beyond = (start + len(text), y) if start > x else (start - 1, y)
            if all(pic.free((start + i, y)) for i in range(len(text))) and \
                    (pic.free(beyond) or not 0 <= beyond[0] < pic.width):
                pic.write(start, y, text, "count")
                return True
    return False


def _tag_box(pic: Picture, box: Box, text: str) -> bool:
    """Write ``text`` into the box's bottom border, clear of the edges attached there."""
    if box.h < 3 or len(text) > box.w - 2:
        return False
    y = box.y + box.h - 1
    clear = [x for x in range(box.x + 1, box.x + box.w - 1) if pic.chars[y][x] == FRAME["h"]]
    for start in clear:
        if all(start + i in clear for i in range(len(text))):
            pic.write(start, y, text, "tag")
            return True
    return False


def route(boxes: dict[str, Box], edges: list[Edge], width: int, height: int, style: Style,
          layered: list[list[str]]) -> Drawing:
    """Route every edge between the boxes: short forward edges first, then longer ones, edges going back, loops."""
    drawing = Drawing(width, height, style, boxes)
    depth = {n: i for i, layer in enumerate(layered) for n in layer}
    order = {n: k for layer in layered for k, n in enumerate(layer)}

    def kind(e: Edge) -> tuple:
        a, b = e
        span = depth[b] - depth[a]
        return (0 if span == 1 else 1 if span > 1 else 2 if a != b and span == 0 else 3 if a != b else 4,
                abs(span), depth[a], order[a], order[b])

    blocked = {(x, y): box for box in boxes.values() for x in range(box.x, box.x + box.w)
               for y in range(box.y, box.y + box.h)}
    for e in sorted({(a, b) for a, b in edges if a in boxes and b in boxes}, key=kind):
        _route_edge(drawing, e, blocked, depth)
    return _trim(drawing)


def _trim(d: Drawing) -> Drawing:
    """The drawing without the blank rows and columns around it."""
    used = [c for box in d.boxes.values() for c in ((box.x, box.y), (box.x + box.w - 1, box.y + box.h - 1))]
    used += list(d.arms) + list(d.arrows)
    if not used:
        return d
    x0, y0 = min(x for x, _ in used), min(y for _, y in used)
    x1, y1 = max(x for x, _ in used), max(y for _, y in used)

    def at(c: Cell) -> Cell:
        return c[0] - x0, c[1] - y0

    return Drawing(x1 - x0 + 1, y1 - y0 + 1, d.style,
                   {n: replace(b, x=b.x - x0, y=b.y - y0) for n, b in d.boxes.items()},
                   {e: Route(e, [at(c) for c in r.cells], at(r.arrow) if r.arrow else None)
                    for e, r in d.routes.items()},
                   {at(c): v for c, v in d.arms.items()}, {at(c): v for c, v in d.arrows.items()},
                   {at(c): v for c, v in d.owners.items()}, d.unrouted)


def _route_edge(d: Drawing, edge: Edge, blocked: dict[Cell, Box], depth: dict[str, int]) -> None:
    """Find the edge's way and record it in the drawing (or, when there is none, in ``unrouted``)."""
    found = _search(d, edge, blocked, depth)
    if found is None:
        d.unrouted.append(edge)
        return
    head, way, last, heading = found
    if last in blocked:  # ends on the target's border, after an arrowhead
        tail, arrow = [last], way[-1]
        d.arrows[arrow] = heading
    else:  # joins a trunk into the target
        trunk = next(r.cells for e, r in d.routes.items() if e[1] == edge[1] and last in r.cells)
        tail, arrow = trunk[trunk.index(last):], None
    cells = head + way + tail
    for c1, c2 in list(pairwise(cells))[:-1 if arrow else None]:  # an arrowhead does not join the border
        step = next(k for k, v in STEP.items() if v == (c2[0] - c1[0], c2[1] - c1[1]))
        d.arms[c1] = d.arms.get(c1, 0) | step
        d.arms[c2] = d.arms.get(c2, 0) | OPPOSITE[step]
    for c in cells:
        if c not in blocked:
            d.owners.setdefault(c, set()).add(edge)
    d.routes[edge] = Route(edge, cells, arrow)


def _search(d: Drawing, edge: Edge, blocked: dict[Cell, Box],
            depth: dict[str, int]) -> tuple[list[Cell], list[Cell], Cell, int] | None:
    """A* over (cell, heading), from a free cell beside the source (or a branch off the trunk of another edge from
    it) to the target's border (or a T onto the trunk of another edge into it). Returns the start (the source's
    border cell, or the trunk up to the branch), the free cells of the way, its last cell and heading."""
    a, b = edge
    src, dst = d.boxes[a], d.boxes[b]
    arms, arrows, owners = d.arms, d.arrows, d.owners
    ahead = E if d.style.across else S
    forward = depth[b] > depth[a]
    tie = count()
    frontier: list = []
    came: dict = {}
    best: dict = {}
    gx, gy = dst.centre

    def inside(c: Cell) -> bool:
        return 0 <= c[0] < d.width and 0 <= c[1] < d.height

    def crowded(c: Cell) -> bool:
        return any(blocked.get((c[0] + dx, c[1] + dy)) not in (None, src, dst) for dx, dy in STEP.values())

    def push(cost: float, key: tuple, prev: tuple) -> None:
        if cost < best.get(key, float("inf")):
            best[key], came[key] = cost, prev
            (x, y), done = key[0], key[2]
            rest = 0 if done else max(abs(x - gx) + abs(y - gy) - (dst.w + dst.h) // 2, 0)
            heapq.heappush(frontier, (cost + rest, next(tie), cost, key))

    for border, out in src.ports():
        c = (border[0] + STEP[out][0], border[1] + STEP[out][1])
        if inside(c) and c not in blocked and c not in arms:
            push((0 if out == ahead or not forward else PORT) + src.off_centre(border), (c, out, False),
                 ("start", [border]))
    for other, r in d.routes.items():
        if other[0] != a or a == b:
            continue
        for i, c in enumerate(r.cells):
            if c in blocked or c in arrows:
                continue
            for out in (N, E, S, W):
                n = (c[0] + STEP[out][0], c[1] + STEP[out][1])
                if not arms.get(c, 0) & out and inside(n) and n not in blocked and n not in arms:
                    push(JOIN, (n, out, False), ("start", r.cells[:i + 1]))
    while frontier:
        _, _, cost, key = heapq.heappop(frontier)
        if cost > best[key]:
            continue
        cell, heading, done = key
        if done:
            way = []
            prev = came[key]
            while prev[0] != "start":
                way.append(prev[0])
                prev = came[prev]
            return prev[1], way[::-1], cell, heading
        for turn in (heading,) if cell in arms else (heading, *TURNS[heading]):  # crossing: straight on
            n = (cell[0] + STEP[turn][0], cell[1] + STEP[turn][1])
            step = cost + 1 + (BEND if turn != heading else 0)
            if not inside(n) or n in arrows:
                continue
            if n in blocked:
                if blocked[n] is dst and dst.accepts(n, turn) and cell not in arms:
                    push(step + (PORT if forward and turn != ahead else 0) + dst.off_centre(n), (n, turn, True), key)
            elif n not in arms:
                push(step + (CROWD if crowded(n) else 0), (n, turn, False), key)
            elif a != b and all(o[1] == b for o in owners[n]) and not arms[n] & OPPOSITE[turn]:
                push(step + JOIN, (n, turn, True), key)  # a T onto a trunk into the same node
            elif arms[n] == ((N | S) if turn in (E, W) else (E | W)) and \
                    not any(o[0] == a or o[1] == b for o in owners[n]):
                push(step + CROSS, (n, turn, False), key)
    return None


def fit(nodes: list[str], edges: list[Edge], width: int, height: int) -> Drawing:
    """The roomiest style whose drawing fits ``width`` x ``height`` (the most compact one when none does)."""
    layered = layers(nodes, edges)
    drawing = None
    for base in STYLES:
        for style in (base, replace(base, margin=base.margin + 1), replace(base, margin=base.margin + 2)):
            boxes, w, h = place(layered, edges, style)
            if w <= width and h <= height or drawing is None and base is STYLES[-1]:
                drawing = route(boxes, edges, w, h, style, layered)
                if not drawing.unrouted:
                    return drawing
    return drawing
