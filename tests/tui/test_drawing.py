"""The graph drawing's layout (tui/drawing.py): layers from the graph, boxes, routed arrows, and what fits where.
Pure functions: no Textual."""

from __future__ import annotations

import re
from itertools import pairwise

import pytest

from glia.graph.builder import build_graph
from glia.tui.drawing import ARROWS, STEP, STYLES, fit, layers

LOOP = (["__start__", "plan", "act", "check", "__end__"],
        [("__start__", "plan"), ("plan", "act"), ("act", "check"), ("check", "plan"), ("check", "__end__")])


def glia_shape(contexts: int = 1, mode: str = "parallel"):
    g = build_graph(contexts=contexts, mode=mode).compile().get_graph(xray=1)
    return list(g.nodes), [(e.source, e.target) for e in g.edges]


def drawn_edges(edges):
    return {(a, b) for a, b in edges if not (a.startswith("__") or b.startswith("__"))}


def test_layers_are_the_distance_from_the_entry_without_langgraphs_own_nodes():
    assert layers(*LOOP) == [["plan"], ["act"], ["check"]]
    nodes, edges = glia_shape()
    assert layers(nodes, edges)[:3] == [["baselines"], ["setup"], ["researcher"]]
    assert sorted(n for layer in layers(nodes, edges)[3:] for n in layer) == \
        ["analyst", "collect", "finalize", "summarizer", "supervisor", "tools"]


def test_a_node_nothing_leads_to_still_gets_a_layer():
    assert layers(["a", "b", "lone"], [("a", "b")]) == [["a", "lone"], ["b"]]


def test_a_loop_is_drawn_as_framed_boxes_and_arrows_with_counts_on_the_edges_taken():
    pic = fit(*LOOP, 80, 20).render(active="act", last=("plan", "act"), counts={("plan", "act"): 2,
                                                                                ("check", "plan"): 1})
    assert pic.lines == [
        "      ┌────────────1────────────┐       ",
        "      ▼                         │       ",
        "╭──────╮        ╭─────╮        ╭┴──────╮",
        "│ plan ├───2───▶│ act ├───────▶│ check │",
        "╰──────╯        ╰─────╯        ╰───────╯",
    ]
    assert pic.missing == []
    assert {pic.roles[3][x] for x in range(16, 23)} == {"active"}         # the act box
    assert {pic.roles[3][x] for x in (9, 10, 12, 14)} == {"last"}          # plan -> act, just taken
    assert pic.roles[3][11] == "count" and pic.roles[0][19] == "count"
    assert {pic.roles[3][x] for x in range(24, 31)} == {"edge"}            # act -> check, never taken


def test_the_glia_graph_fits_what_the_tui_gives_it_at_80x24_with_framed_boxes():
    nodes, edges = glia_shape()
    d = fit(nodes, edges, 78, 11)   # GraphView's share of an 80 x 24 terminal
    assert d.style.framed and d.width <= 78 and d.height <= 11
    assert set(d.routes) == drawn_edges(edges) and not d.unrouted
    text = "\n".join(d.render().lines)
    for n in nodes:
        if not n.startswith("__"):
            assert re.search(f"[│├┤] ?{n} ?[│├┤]", text), n


def test_more_room_gives_a_roomier_drawing():
    nodes, edges = glia_shape()
    small, large = fit(nodes, edges, 78, 11), fit(nodes, edges, 200, 60)
    assert large.style == STYLES[0] and large.width > small.width
    narrow = fit(nodes, edges, 40, 40)
    assert not narrow.style.across and narrow.width <= 40 and not narrow.unrouted


@pytest.mark.parametrize("contexts,mode", [(1, "parallel"), (2, "parallel"), (2, "sequential")])
@pytest.mark.parametrize("size", [(78, 11), (120, 30), (40, 40)])
def test_every_edge_is_an_unbroken_way_from_its_source_to_an_arrow_into_its_target(contexts, mode, size):
    nodes, edges = glia_shape(contexts, mode)
    d = fit(nodes, edges, *size)
    assert set(d.routes) == drawn_edges(edges)
    for (a, b), route in d.routes.items():
        cells = route.cells
        assert cells[0] in d.boxes[a] and cells[-1] in d.boxes[b]
        for c1, c2 in pairwise(cells):
            assert abs(c1[0] - c2[0]) + abs(c1[1] - c2[1]) == 1, (a, b)
        for c in cells[1:-1]:
            assert not any(c in box for box in d.boxes.values()), (a, b, c)
        if route.arrow is not None:  # else it joined the trunk of another edge into b, which has the arrow
            into = (cells[-1][0] - route.arrow[0], cells[-1][1] - route.arrow[1])
            assert STEP[d.arrows[route.arrow]] == into and route.arrow == cells[-2]
        else:
            assert any(r.arrow in cells for e, r in d.routes.items() if e[1] == b and r.arrow)


@pytest.mark.parametrize("size", [(78, 11), (120, 30)])
def test_edges_cross_only_at_right_angles_and_share_cells_only_with_edges_from_or_to_the_same_node(size):
    nodes, edges = glia_shape()
    d = fit(nodes, edges, *size)
    for cell, owners in d.owners.items():
        if len(owners) < 2:
            continue
        shared = {a for a, _ in owners} if len({a for a, _ in owners}) == 1 else {b for _, b in owners}
        assert len(shared) == 1 or d.arms[cell] == 15, (cell, owners)
    assert all(d.arms.get(c) is None or c in d.arrows for c in d.arrows)


def test_contexts_are_tagged_in_the_bottom_border_of_their_nodes_box():
    nodes, edges = glia_shape(2)
    d = fit(nodes, edges, 120, 30)
    pic = d.render(tags={"context:analyst": ["c1"], "context:tools": ["c2"]})
    box = d.boxes["context:analyst"]
    bottom = pic.lines[box.y + box.h - 1][box.x:box.x + box.w]
    assert "c1" in bottom and pic.missing == []
    assert pic.roles[box.y + 1][box.x] == "context"


def test_what_has_no_room_is_listed_not_lost():
    nodes, edges = glia_shape()
    d = fit(nodes, edges, 78, 11)
    counts = {e: 100 + i for i, e in enumerate(sorted(d.routes))}
    pic = d.render(counts=counts)
    text = "\n".join(pic.lines)
    for (a, b), n in counts.items():
        assert str(n) in text or f"{a}→{b} {n}" in pic.missing
    assert set(ARROWS.values()) & set(text)
