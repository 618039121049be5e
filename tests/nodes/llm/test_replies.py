"""Reading actions out of model replies: native calls, calls written as text in the shapes models emit, fenced
policy code, and a specific error for everything else. Several replies are verbatim from Qwen2.5-Coder-1.5B on
llama-cpp-python (the cassettes hold more)."""

from __future__ import annotations

import json

from langchain_core.messages import AIMessage

from glia.nodes.llm.replies import (
    MAX_REPAIRS,
    POLICY,
    as_tool_calls,
    call_key,
    clean_code,
    parse_reply,
    repeat_error,
    repeats,
    unescape,
)

POLICY_CODE = '''from glia.simulator import BaseGlobalScheduler


class FreeBlocks(BaseGlobalScheduler):
    def schedule(self):
        out = []
        while self._request_queue:
            rid = max(self._replica_schedulers, key=lambda i: self._replica_schedulers[i].num_blocks
                      - self._replica_schedulers[i].num_allocated_blocks)
            out.append((rid, self._request_queue.pop(0)))
        return out
'''


def native(*calls) -> AIMessage:
    return AIMessage(content="", tool_calls=[{"name": n, "args": a, "id": f"c{i}", "type": "tool_call"}
                                             for i, (n, a) in enumerate(calls)])


def names(parsed) -> list[tuple[str, dict, str]]:
    return [(a.name, a.args, a.source) for a in parsed.actions]


def test_native_calls_are_actions_and_bad_arguments_say_what_is_expected():
    ok = parse_reply(native(("run_simulation", {"label": "baseline"})))
    assert ok.ok and names(ok) == [("run_simulation", {"label": "baseline"}, "native")] and ok.error() is None
    bad = parse_reply(native(("write_file", {"path": "policy.py"})))
    assert not bad.ok and not bad.actions
    assert ('Bad arguments for write_file: content: Field required. Expected {"path": string, "content": string}'
            in bad.error())


def test_a_fenced_json_object_from_the_models_own_template_is_a_call():
    # verbatim: Qwen2.5-Coder-1.5B, llama-cpp-python with the GGUF chat template, tool_choice "auto"
    reply = AIMessage(content='```json\n{\n  "name": "run_simulation",\n  "arguments": {\n    "candidate": '
                              '"policy.py",\n    "label": "baseline",\n    "hypothesis": ""\n  }\n}\n```')
    parsed = parse_reply(reply)
    assert names(parsed) == [("run_simulation", {"candidate": "policy.py", "label": "baseline", "hypothesis": ""},
                              "json")]


def test_tool_call_tags_are_calls_even_unclosed_and_several():
    text = ('I will write then run.\n<tool_call>\n{"name": "write_file", "arguments": {"path": "notes.md", '
            '"content": "H1"}}\n</tool_call>\n<tool_call>{"name": "run_simulation", "arguments": {}}')
    parsed = parse_reply(AIMessage(content=text))
    assert [(n, s) for n, _, s in names(parsed)] == [("write_file", "tool_call_tag"), ("run_simulation",
                                                                                       "tool_call_tag")]


def test_every_common_json_shape_names_a_tool():
    shapes = [
        {"tool": "query_telemetry", "args": {"sql": "SELECT 1"}},
        {"function": {"name": "query_telemetry", "arguments": json.dumps({"sql": "SELECT 1"})}},
        {"type": "function", "function": {"name": "query_telemetry", "arguments": {"sql": "SELECT 1"}}},
        {"name": "functions.query_telemetry", "parameters": {"sql": "SELECT 1"}},
        {"action": "Query_Telemetry", "action_input": {"sql": "SELECT 1"}},
        {"tool_calls": [{"function": {"name": "query_telemetry", "arguments": '{"sql": "SELECT 1"}'}}]},
    ]
    for shape in shapes:
        parsed = parse_reply(AIMessage(content=f"Here it is: {json.dumps(shape)}"))
        assert names(parsed) == [("query_telemetry", {"sql": "SELECT 1"}, "json")], shape


def test_a_python_dict_literal_and_a_list_of_calls_are_read():
    literal = parse_reply(AIMessage(content="{'name': 'read_file', 'arguments': {'path': 'policy.py'}}"))
    assert names(literal) == [("read_file", {"path": "policy.py"}, "json")]
    listed = parse_reply(AIMessage(content='[{"name": "read_file", "arguments": {"path": "a"}}, '
                                           '{"name": "read_file", "arguments": {"path": "b"}}]'))
    assert [a.args["path"] for a in listed.actions] == ["a", "b"]


def test_the_function_calling_formats_lines_are_calls_even_without_arguments():
    written = parse_reply(AIMessage(content='functions.query_telemetry:\n{"sql": "SCHEMA"}'))
    assert names(written) == [("query_telemetry", {"sql": "SCHEMA"}, "functions_prefix")]
    # verbatim: llama-cpp-python 0.3.36, chatml-function-calling, tool_choice "auto" on a researcher turn
    bare = parse_reply(AIMessage(content="functions.run_simulation:"))
    assert names(bare) == [("run_simulation", {}, "functions_prefix")]


def test_a_call_of_an_unknown_tool_or_with_string_arguments_that_are_not_json_is_explained():
    unknown = parse_reply(AIMessage(content='<tool_call>{"name": "run_sim", "arguments": {}}</tool_call>'))
    assert "'run_sim' is not a tool here; the tools are: run_simulation, query_telemetry" in unknown.error()
    stringy = parse_reply(AIMessage(content='<tool_call>{"name": "read_file", "arguments": "path=policy.py"}'
                                            '</tool_call>'))
    assert "a string that is not JSON" in stringy.error()
    broken = parse_reply(AIMessage(content='<tool_call>{"name": "read_file", "arguments": {"path": }</tool_call>'))
    assert "The <tool_call> block is not a JSON object" in broken.error()


def test_html_entities_are_decoded_until_stable_and_never_reach_code():
    assert unescape("print(&amp;amp;#39;x&amp;amp;#39;)") == "print('x')"
    escaped = ('&lt;tool_call&gt;{&quot;name&quot;: &quot;write_file&quot;, &quot;arguments&quot;: '
               '{&quot;path&quot;: &quot;policy.py&quot;, &quot;content&quot;: &quot;x = &amp;#39;a&amp;#39;\\n&quot;}}'
               '&lt;/tool_call&gt;')
    parsed = parse_reply(AIMessage(content=escaped))
    assert names(parsed) == [("write_file", {"path": "policy.py", "content": "x = 'a'\n"}, "tool_call_tag")]
    block = POLICY_CODE.replace("out = []", "out = []  # &amp;#39;free&amp;#39; blocks")
    code = parse_reply(AIMessage(content=f"```python\n{block}```")).actions[0].args["code"]
    assert "# 'free' blocks" in code and "&" not in code


def test_a_fenced_policy_becomes_a_write_of_the_design_file_then_a_run():
    parsed = parse_reply(AIMessage(content=f"Route to the most free blocks.\n```python\n{POLICY_CODE}```\nDone."))
    assert names(parsed) == [(POLICY, {"code": POLICY_CODE, "class_name": "FreeBlocks"}, "code_block")]
    calls = as_tool_calls(parsed.actions, "policy.py", "Route to the most free blocks")
    # the run is named by what it changes, never by its class name (the supervisor once read "Router, Router")
    assert [(c["name"], c["args"]) for c in calls] == [("write_file", {"path": "policy.py", "content": POLICY_CODE}),
                                                       ("run_simulation", {"label": "Route to the most free blocks"})]
    run = '<tool_call>{"name": "run_simulation", "arguments": {"label": "free"}}</tool_call>'
    with_run = parse_reply(AIMessage(content=f"```python\n{POLICY_CODE}```\n{run}"))
    assert [c["name"] for c in as_tool_calls(with_run.actions, "policy.py")] == ["write_file", "run_simulation"]


def test_a_write_file_call_with_the_code_fenced_or_quoted_inside_is_cleaned():
    fenced = native(("write_file", {"path": "policy.py", "content": f"```python\n{POLICY_CODE}```"}))
    assert parse_reply(fenced).actions[0].args["content"] == POLICY_CODE
    quoted = native(("write_file", {"path": "policy.py", "content": f'"""{POLICY_CODE}"""'}))
    assert parse_reply(quoted).actions[0].args["content"] == POLICY_CODE
    curly = POLICY_CODE.replace("out = []", "name = \u2018free\u2019\n        out = []")
    assert "name = 'free'" in clean_code(curly)


def test_broken_cut_off_or_schedulerless_code_gets_a_specific_error():
    broken = parse_reply(AIMessage(content="```python\nclass R(BaseGlobalScheduler):\n    def schedule(self)\n```"))
    assert "Your Python block does not parse: line 2:" in broken.error()
    cut = parse_reply(AIMessage(content=f"```python\n{POLICY_CODE[:120]}",
                                response_metadata={"finish_reason": "length"}))
    assert cut.truncated and cut.error().startswith("[harness] Your reply was cut off at the token limit")
    assert "(it looks cut off)" in cut.error()
    helper = parse_reply(AIMessage(content="```python\ndef helper(x):\n    return x + 1\n```"))
    assert "defines no scheduler" in helper.error()


def test_a_tool_written_as_a_python_call_is_answered_with_the_protocol():
    # the chatml-function-calling session: the call written as prose, quotes HTML-escaped
    parsed = parse_reply(AIMessage(content="Next, glia.simulator.run_simulation(policy_file=&#39;policy.py&#39;, "
                                           "seeds=5) will show the effect."))
    error = parsed.error()
    assert "You wrote \"glia.simulator.run_simulation(policy_file='policy.py', seeds=5)\" as text" in error
    assert '"candidate": string (optional)' in error and "```python block" in error


def test_prose_alone_is_no_action_and_the_error_lists_the_expected_shapes():
    parsed = parse_reply(AIMessage(content="Increasing the KV cache reduced mean_e2e_s by about 15 %."))
    assert parsed.shape == "none" and not parsed.ok
    error = parsed.error()
    assert error.startswith("[harness] Your reply contained no action I could run.")
    assert "<tool_call>" in error and "run_simulation, query_telemetry, shell" in error and MAX_REPAIRS == 3


def test_invalid_json_arguments_from_the_client_are_explained():
    reply = AIMessage(content="", invalid_tool_calls=[{"name": "write_file", "args": '{"path": "policy.py", "con',
                                                       "id": "x", "error": "bad json", "type": "invalid_tool_call"}])
    assert "The arguments of your write_file call are not valid JSON" in parse_reply(reply).error()


def test_an_identical_repeated_call_is_caught_unless_what_it_depends_on_changed():
    first = parse_reply(native(("run_simulation", {"label": "x"}))).actions
    seen = [call_key(a, context="design v1") for a in first]
    again = parse_reply(native(("run_simulation", {"label": "x"}))).actions
    assert repeats(again, seen, context="design v1") == again
    assert repeats(again, seen, context="design v2") == []
    assert "You already made exactly this call (run_simulation)" in repeat_error(again)


def test_a_finish_written_as_text_is_a_finish():
    parsed = parse_reply(AIMessage(content='Done.\n<tool_call>{"name": "finish", "arguments": {"summary": "route by '
                                           'free blocks"}}</tool_call>'))
    assert names(parsed) == [("finish", {"summary": "route by free blocks"}, "tool_call_tag")]


def test_a_design_that_cannot_run_as_meant_is_found_without_running_it():
    from glia.nodes.llm.replies import policy_problem

    one = "class R(BaseGlobalScheduler):\n    def schedule(self):\n        return []\n"
    assert policy_problem(one) is None
    two = one + "\nclass S(R):\n    def schedule(self):\n        return []\n"
    assert "defines 2 scheduler classes (R, S)" in policy_problem(two)
    stub = "class S(BaseGlobalScheduler):\n    def schedule(self):\n        # your logic here\n        pass\n"
    assert "S.schedule() does nothing" in policy_problem(stub)
    assert "does not parse: line 1" in policy_problem("def schedule(:\n")


def test_a_batch_policy_or_an_autoscaler_in_a_block_is_a_design_and_an_empty_one_is_sent_back():
    from glia.nodes.llm.replies import policy_problem

    batch = ("from glia.simulator import BaseBatchPolicy\n\nclass B(BaseBatchPolicy):\n"
             "    def next_index(self, pending, replica):\n        return 0\n")
    parsed = parse_reply(AIMessage(content=f"```python\n{batch}```"))
    assert parsed.actions[0].name == POLICY and parsed.actions[0].args["class_name"] == "B"
    assert policy_problem(batch) is None
    empty = ("from glia.simulator import BaseAutoscaler\n\nclass A(BaseAutoscaler):\n"
             "    def desired_replicas(self, view):\n        pass\n")
    assert "A.desired_replicas() does nothing" in policy_problem(empty) and "return an int" in policy_problem(empty)


def test_an_experiment_is_labelled_by_the_hypothesis_its_reply_states_not_by_the_last_result():
    """routing-2 request 24: the reply opened on why c1-e003 failed, and e004 was labelled with that sentence."""
    from glia.nodes.llm.replies import idea_of
    reply = ("c1-e003 failed because aging turned the backlog into FIFO. Back to the best design (c1-e002) and test "
             "one idea: H3, cut the growth reserve from 128 to 48 tokens.\n\n```python\nclass Router: ...\n```")
    assert idea_of(reply) == "H3, cut the growth reserve from 128 to 48 tokens"
    assert idea_of("Route by KV blocks in use. Then more.") == "Route by KV blocks in use"


def test_a_label_is_a_whole_idea_never_a_docstring_or_a_sentence_cut_short():
    """routing-4 request 15: the label was the first sentence cut at 100 characters, mid-aside ("(2,318 preemptions
    per seed, 21..."); an unfenced program's docstring is no idea at all."""
    from glia.nodes.llm.replies import LABEL_CHARS, clipped_idea, idea_of
    reply = ("Hypothesis H1: the starter loses most of its time to over-admission (2,318 preemptions per seed, 21 % of "
             "requests restarted) and to FCFS queueing inside replicas. I hold requests in the router.\n\n"
             "```python\nclass Router: ...\n```")
    assert idea_of(reply) == ("Hypothesis H1: the starter loses most of its time to over-admission and to FCFS "
                              "queueing inside replicas")
    named = "E3 reserve 192: halve the reserve (384 -> 192 tokens) and plan to 98 % of blocks, testing H2: " + \
        "the gate is too conservative and admitting more will cut queueing more than the extra preemptions cost " * 2
    assert idea_of(named) == "E3 reserve 192"   # the researcher adds what the code changes
    docstring = '"""Headroom-gated, shortest-prompt-first router.\n\nRequests wait in the router\'s own queue. A ' \
        'request is sent to a replica only when"""\nimport math\n'
    assert idea_of(docstring) == "" and clipped_idea(docstring) == ""
    long = "Route " + "by blocks and by queue length " * 10 + "always."
    assert idea_of(long) == "" and clipped_idea(long).endswith("...") and len(clipped_idea(long)) <= LABEL_CHARS + 3


def test_a_program_tasks_python_block_is_the_new_design_and_the_menu_says_program():
    """A program task's design is the whole program the evaluator runs: a Python block with no policy class is the new
    design (the 1.5B model's program was refused as "defines no scheduler" on the text protocol), and a reply with no
    action is told to send "a new program", never "a class with a schedule(self) method"."""
    from glia.nodes.llm.replies import POLICY, parse_reply
    program = "Idea: weigh work more.\n```python\nWORK_WEIGHT = 3.2\n\ndef place(job, machines):\n    return 0\n```"
    parsed = parse_reply(AIMessage(content=program), program=True)
    assert parsed.ok and [a.name for a in parsed.actions] == [POLICY]
    assert "WORK_WEIGHT = 3.2" in parsed.actions[0].args["code"]
    assert not parse_reply(AIMessage(content=program)).ok        # a policy task still wants its class
    nothing = parse_reply(AIMessage(content="a new design"), program=True).error()
    assert "then the whole new program in one" in nothing and "schedule(self)" not in nothing


def test_a_fence_named_in_the_prose_before_the_block_is_not_the_block():
    """The 1.5B model wrote the prompt's own words "New program in one ```python block:" before its block; that
    read as an empty block followed by the prose after the real one, and 380 characters of it were written as the
    program. An opening fence has nothing after its language but the line's end."""
    from glia.nodes.llm.replies import POLICY, parse_reply
    text = ("Idea: keep a probation segment.\n\nNew program in one ```python block:\n```python\nSIZE = 100\n\n"
            "class EvictionPolicy:\n    pass\n```\nThat is all.")
    parsed = parse_reply(AIMessage(content=text), program=True)
    assert parsed.ok and [a.name for a in parsed.actions] == [POLICY]
    assert parsed.actions[0].args["code"].strip() == "SIZE = 100\n\nclass EvictionPolicy:\n    pass"
