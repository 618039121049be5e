"""Where a run's simulations run is one frozen record (``state/config.py``): validated once, written to ``run.json``
with the keys it always had, and read back from files written before it existed."""

from __future__ import annotations

import dataclasses

import pytest

from glia.graph.config import RunConfig
from glia.state import EvaluationSettings
from glia.tools.executors import EXECUTORS


def test_the_executors_are_the_ones_the_tools_know():
    assert EvaluationSettings().executor == "local"
    assert EvaluationSettings("ray", "ray://head:10001").ray_address == "ray://head:10001"
    with pytest.raises(ValueError, match="unknown executor 'slurm'; one of local, ray"):
        EvaluationSettings("slurm")  # type: ignore[arg-type]
    assert tuple(EXECUTORS) == ("local", "ray")


def test_run_json_keeps_the_keys_it_had():
    assert EvaluationSettings().to_dict() == {"executor": "local", "ray_address": None}
    unit = dataclasses.replace(EvaluationSettings(), ledger="/w/ledger.sqlite", unit="glia-r2", heldout=False, seed=1)
    assert unit.to_dict() == {"executor": "local", "ray_address": None, "ledger": "/w/ledger.sqlite",
                              "unit": "glia-r2", "heldout": False, "seed": 1}
    assert EvaluationSettings.from_dict(unit.to_dict()) == unit


def test_old_files_load_and_a_misspelt_setting_is_named():
    assert EvaluationSettings.from_dict({}) == EvaluationSettings.from_dict(None) == EvaluationSettings()
    assert EvaluationSettings.from_dict({"heldout": False}).heldout is False
    with pytest.raises(ValueError, match="unknown evaluation setting.s.: held_out; known: executor, heldout"):
        EvaluationSettings.from_dict({"held_out": False})


def test_a_run_config_round_trips_its_settings(tmp_path):
    config = RunConfig.build("routing", workspace=tmp_path, evaluation={"executor": "local", "ray_address": None},
                             env={})
    assert config.evaluation == EvaluationSettings()
    assert config.to_json()["evaluation"] == {"executor": "local", "ray_address": None}
    again = RunConfig.from_json(config.to_json(), tmp_path)
    assert again.evaluation == config.evaluation and again.context().evaluation == config.evaluation
    with pytest.raises(ValueError, match="unknown executor 'gpu'"):
        RunConfig.build("routing", workspace=tmp_path, evaluation={"executor": "gpu"}, env={})
