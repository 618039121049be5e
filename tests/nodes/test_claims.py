"""Numbers in model prose are checked against what was measured: recorded figures, their rounding, and changes
between two of them count; invented results are flagged."""

from __future__ import annotations

from glia.nodes.claims import claims_in, known_figures, mark_unsupported, unsupported

STATE = {"ledger": [{"id": "c1-e001", "metrics": {"mean_e2e_s": 49.147, "restart_fraction": 0.2103},
                     "mean_e2e_ci90": [32.7, 65.5]},
                    {"id": "c1-e002", "metrics": {"mean_e2e_s": 22.13, "restart_fraction": 0.054}}],
         "baselines": [{"policy": "llq", "metrics": {"mean_e2e_s": 40.18}}]}
FIGURES = known_figures(STATE)


def test_measured_figures_their_rounding_and_changes_between_them_are_supported():
    text = ("The head-room router cut mean latency from 49.15 s to 22.1 s, a 55 % reduction (2.2x faster), "
            "and restarts fell from 21 % to 5.4 %.")
    assert unsupported(text, FIGURES) == []


def test_invented_results_are_flagged_as_written():
    text = "Increasing the KV cache to 4,000 blocks reduced mean_e2e_s by about 15 %, to 41.7 s."
    assert unsupported(text, FIGURES) == ["4,000", "15 %", "41.7"]
    assert "15 % [unmeasured]" in mark_unsupported(text, FIGURES)


def test_ids_counts_and_sentences_without_results_are_not_claims():
    assert claims_in("Experiment c1-e003 tests H-spf; I ran 3 experiments.") == []
    assert claims_in("Next I will write policy version 12.") == []


def test_settings_in_design_labels_are_not_results():
    assert unsupported("Approved: c1-e002 (admission=True,growth=0.3,headroom=0.03) improves mean_e2e_s from "
                       "49.15 to 22.13.", FIGURES) == []


def test_a_claim_is_checked_against_the_metric_its_sentence_names():
    # 21 % is the restart share, not a latency figure or change
    assert unsupported("It cut latency by 21 %.", FIGURES) == ["21 %"]
    assert unsupported("Restarts fell to 21 %.", FIGURES) == []


def test_how_far_a_design_broke_the_constraint_is_a_recorded_figure():
    state = {"ledger": [{"id": "c1-e001", "metrics": {"p90_ttft_s": 1.678}, "violation": 0.11867},
                        {"id": "c1-e009", "metrics": {"throughput_rps": 28.963}, "violation": 0.0}], "baselines": [],
             "task": {"objective": {"constraint": {"metric": "p90_ttft_s", "max": 1.5, "min": None}}}}
    text = "c1-e009 meets p90_ttft_s <= 1.5, which the first design broke by 11.9 %; throughput_rps 28.96."
    assert "[unmeasured]" not in mark_unsupported(text, known_figures(state))
    assert "[unmeasured]" in mark_unsupported(text.replace("11.9", "31.9"), known_figures(state))


# -- issue 16: right both ways ------------------------------------------------------------------------------------
TABLE = """exp | seed | mean_e2e_s | mean_queueing_s | mean_tpot_s | gpu_utilisation
c1-e004 | 0 | 25.06 | 6.237 | 0.05126 | 0.9575
c1-e004 | 1 | 19.73 | 0.8825 | 0.0515 | 0.9766
c1-e001 | 0 | 69.19 | 47.96 | 0.0521 | 0.9701
c1-e002 | 0 | 65.08 | 0.6083 | 0.0519 | 0.9690"""


def _run(n: int) -> dict:
    """A run with ``n`` experiments of spread-out figures, and the query table above shown to the researcher."""
    ledger = [{"id": f"c1-e{i:03d}", "label": "Router", "metrics": {"mean_e2e_s": 20.0 + 1.37 * i,
               "restart_fraction": 0.01 * i, "mean_ttft_s": 3.0 + 0.11 * i}} for i in range(1, n + 1)]
    from langchain_core.messages import ToolMessage
    return {"ledger": ledger, "baselines": [{"policy": "llq", "metrics": {"mean_e2e_s": 49.148}}],
            "task": {"objective": {"metric": "mean_e2e_s"}},
            "researcher_messages": [ToolMessage(content=TABLE, tool_call_id="q1", name="query_telemetry")]}


def test_numbers_copied_from_a_query_result_or_rounded_from_it_are_measured():
    figures = known_figures(_run(4))
    for text in ("Per-seed mean e2e of c1-e004 was 25.06 s in seed 0 and 19.73 s in seed 1.",
                 "TPOT in seed 0 was 0.05126 s for c1-e004.",
                 "GPU utilisation reached 0.958 in seed 0 and 97.7 % in seed 1 for c1-e004.",
                 "Late binding improved e2e by 4.1 s in seed 0 (69.19 -> 65.08)."):
        assert unsupported(text, figures) == [], text


def test_changes_count_only_between_figures_the_sentence_names():
    figures = known_figures(_run(20))
    # llq 49.148 against c1-e010 (33.70): 31.4 % lower, 1.46x
    assert unsupported("c1-e010 cut mean latency by 31.4 % against llq (1.46x).", figures) == []
    assert unsupported("c1-e010 cut mean latency by 31 % against llq.", figures) == []
    # ... but not a change no sentence names, whatever pair of the twenty experiments has it
    assert unsupported("It cut mean latency by 31 %.", figures) == ["31 %"]
    assert unsupported("The new router is better by 12 %.", figures) == ["12 %"]
    assert unsupported("c1-e010 cut mean latency by 12 % against llq.", figures) == ["12 %"]


def test_small_integers_are_checked_where_they_are_results():
    figures = known_figures(_run(20))
    assert unsupported("Mean latency dropped to 9 s.", figures) == ["9"]
    assert unsupported("Mean TTFT of c1-e005 dropped to 4 s.", figures) == []    # 3.55 s, as written: 4
    assert claims_in("I ran 3 experiments on 5 seeds; seed 3 was the slowest.") == []


def test_each_table_s_cells_are_typed_by_their_own_header_when_two_tables_meet():
    """Two query results shown one after the other (no blank line between them): the second table's cells are of its
    own columns, not the first table's (a recorded frontier session had its real evidence marked otherwise)."""
    first = "seed | router_wait_s\n0 | 1.25\n1 | 2.5"
    second = "prompt_bucket | n | mean_out\na <64 | 14901 | 304.3\nf 1024+ | 2951 | 402.7"
    figures = known_figures({"ledger": [], "baselines": [], "task": {"objective": {"metric": "mean_e2e_s"}}},
                            [first + "\n" + second])
    assert unsupported("Mean output is 304 tokens for short prompts against 403 for the longest.", figures) == []


def test_both_ends_of_a_range_are_in_the_range_s_unit():
    """A recorded analyst wrote "GPU utilisation is 97-98.5 %" from a query's 0.9716 and 0.985: the 97 is a share."""
    figures = known_figures({"ledger": [], "baselines": [], "task": {"objective": {"metric": "mean_e2e_s"}}},
                            ["seed | gpu_utilisation\n0 | 0.9716\n1 | 0.985"])
    assert unsupported("GPU utilisation is 97-98.5 % on every seed.", figures) == []
    assert unsupported("GPU utilisation is 91-98.5 % on every seed.", figures) == ["91"]


def test_a_multiple_quoted_as_it_was_shown_is_measured():
    """batch-2 request 13: "ran 13.1x slower than alone", copied from the harness's own diagnostics, was marked."""
    figures = known_figures({"ledger": [], "baselines": [], "task": {"objective": {"metric": "mean_e2e_s"}}},
                            ["requests with prompts up to 64 tokens waited 30.34 s before admission (longer prompts "
                             "30.70 s) and ran 13.1x slower than alone"])
    assert unsupported("Short prompts ran 13.1x slower than alone, so FCFS gives them nothing.", figures) == []
    assert unsupported("Short prompts ran 12.4x slower than alone.", figures) == ["12.4x"]


# -- issue 17, routing-4: numbers the model derived or set itself ---------------------------------------------------
ROUTING_TASK = ("A cluster of 4 replicas, each an NVIDIA A10 serving Llama-3-8B with vLLM-style paged KV cache (2,240 "
                "blocks of 16 tokens per replica), chunked prefill and a batch-size cap of 128.")
DECODE = """seed | requests | mean | p50 | p90 | p99 | max
0 | 8241 | 369.1 | 247 | 633 | 4096 | 4096
3 | 7259 | 362.9 | 247 | 639 | 3821 | 4096
4 | 8004 | 362.2 | 247 | 627 | 3619 | 4096"""
BUCKETS = "ntile_bucket | n | prompt | queue_s\na<=76 | 19196 | 56.96 | 30.18\nb<=256 | 10425 | 134.7 | 29.6"
DESIGN = "RESERVE_TOKENS = 384\nSTARVE_S = 300.0\nMEM_FRACTION = 0.97\n"


def _routing4(designs=(DESIGN,)):
    state = {"ledger": [{"id": "c1-e001", "metrics": {"mean_e2e_s": 49.148}},
                        {"id": "c1-e002", "metrics": {"mean_e2e_s": 37.098, "p99_e2e_s": 272.643}}],
             "baselines": [{"policy": "hra", "metrics": {"mean_e2e_s": 23.575}}],
             "task": {"objective": {"metric": "mean_e2e_s"}, "description": ROUTING_TASK}}
    return known_figures(state, [DECODE, BUCKETS], designs)


def test_what_the_model_derived_or_set_itself_is_not_marked_unmeasured():
    """routing-4 requests 14 and 19 (the player's notes): "~3,600" (p99 decode 3,619, rounded), "77" (its own bucket
    edge after "up to 76"), "35,840" (2,240 blocks x 16 tokens, the task's), "384" (a constant of its own code)."""
    figures = _routing4()
    for text in ("The cache cannot absorb output growth (p99 decode ~3,600-4,096 tokens).",
                 "Prompts of 77-256 tokens queue 29.6 s on average.",
                 "Set the KV threshold from the block budget (2,240 blocks = 35,840 tokens per replica).",
                 "The gate is too conservative, so the per-request decode reserve (384 tokens) should be reduced.",
                 "The 300 s starvation guard should be lowered if p99 matters.",
                 "It fills 97 % of the blocks."):
        assert unsupported(text, figures) == [], text


def test_invented_figures_beside_derived_ones_are_still_flagged():
    figures = _routing4()
    # rounding goes no further than written: ~3,600 is 3,619; ~3,900 is nothing shown
    assert unsupported("p99 decode is ~3,900 tokens.", figures) == ["3,900"]
    assert unsupported("p99 decode is 3,600 tokens.", figures) == ["3,600"]      # not written as approximate
    # a product of the sentence's own number and a task setting, exactly; not a near miss, not a lone figure
    assert unsupported("A replica can reach 2,240 blocks = 36,000 tokens.", figures) == ["36,000"]
    assert unsupported("A replica can reach 2,240 blocks = 35,840 tokens.", figures) == []
    assert unsupported("A replica can reach 35,840 tokens.", figures) == ["35,840"]
    # a bucket edge only right after a figure shown
    assert unsupported("Prompts of 90-256 tokens queue 29.6 s on average.", figures) == ["90"]
    # a constant of the code is a setting, never a measured latency, nor a change
    assert unsupported("c1-e002 brought mean latency down to 384 s.", figures) == ["384"]
    assert unsupported("c1-e002 cut mean latency by 300 s against hra.", figures) == ["300"]
    # without the design, its settings are not known
    assert unsupported("The per-request decode reserve (384 tokens) should be reduced.",
                       _routing4(designs=())) == ["384"]
    # a per-seed figure is quoted as such only in a range or where the sentence speaks of seeds
    assert unsupported("Decode lengths reach a p99 of 3,821 tokens.", figures) == ["3,821"]
