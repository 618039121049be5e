"""Where a run has been on its graph (tui/trace.py): edge counts, the edge just taken, each context's place."""

from __future__ import annotations

from glia.tui.trace import RunTrace

FLAT = (["__start__", "baselines", "setup", "researcher", "tools", "analyst", "finalize", "collect", "__end__"],
        [("__start__", "baselines"), ("baselines", "setup"), ("setup", "researcher"), ("researcher", "tools"),
         ("tools", "analyst"), ("analyst", "researcher"), ("researcher", "finalize"), ("finalize", "collect"),
         ("collect", "__end__")])
NESTED = (["__start__", "baselines", "collect", "context:setup", "context:researcher", "context:finalize"],
          [("__start__", "baselines"), ("baselines", "context:setup"), ("baselines", "collect"),
           ("context:setup", "context:researcher"), ("context:researcher", "context:finalize"),
           ("context:finalize", "context:setup"), ("context:finalize", "collect")])


def test_each_step_counts_the_edge_it_came_by_and_becomes_the_active_node():
    trace = RunTrace(*FLAT)
    for node in ("baselines", "setup", "researcher", "tools", "analyst", "researcher", "tools"):
        assert trace.visit(node) is None
    assert trace.active == "tools" and trace.last_edge == ("researcher", "tools")
    assert trace.counts == {("baselines", "setup"): 1, ("setup", "researcher"): 1, ("researcher", "tools"): 2,
                            ("tools", "analyst"): 1, ("analyst", "researcher"): 1}
    assert trace.positions == {} and trace.tags() == {}


def test_interleaved_contexts_each_follow_their_own_path_under_their_own_names():
    trace = RunTrace(*NESTED)
    one, two = ("context:task-a",), ("context:task-b",)
    trace.visit("baselines")
    trace.name_context(one, "c1")
    trace.name_context(two, "c2")
    assert trace.visit("setup", one) == "c1"
    assert trace.visit("setup", two) == "c2"
    trace.visit("researcher", two)
    trace.visit("researcher", one)
    assert trace.counts == {("baselines", "context:setup"): 2, ("context:setup", "context:researcher"): 2}
    trace.visit("finalize", one)
    assert trace.positions == {"c1": "context:finalize", "c2": "context:researcher"}
    assert trace.tags() == {"context:finalize": ["c1"], "context:researcher": ["c2"]}
    assert trace.active == "context:finalize"


def test_a_context_without_a_name_is_named_in_order_and_a_subgraphs_own_report_is_not_a_step():
    trace = RunTrace(*NESTED)
    trace.visit("baselines")
    assert trace.visit("setup", ("context:x",)) == "c1"
    assert trace.visit("context") is None and trace.active == "context:setup"


def test_the_top_level_resumes_from_the_node_that_ran_last_not_from_its_own_last():
    trace = RunTrace(*NESTED)  # sequential contexts: baselines -> collect is an edge too
    trace.visit("baselines")
    for ns in (("context:a",), ("context:b",)):
        for node in ("setup", "researcher", "finalize"):
            trace.visit(node, ns)
    trace.visit("collect")
    assert trace.last_edge == ("context:finalize", "collect")
    assert trace.counts[("baselines", "collect")] == 0 and trace.counts[("context:finalize", "context:setup")] == 1
