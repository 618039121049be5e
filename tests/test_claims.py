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
    assert unsupported("Approved: c1-e005 (admission=True,growth=0.3,headroom=0.03) improves mean_e2e_s from "
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
