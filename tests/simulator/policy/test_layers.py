"""The stack's layers are defined once (``simulator/policy/layers.py``): the type, the registry, the readers agree."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import pytest

from glia.simulator.policy import loader
from glia.simulator.policy.layers import LAYERS, NONE, LayerName, get_layer

REPO = Path(__file__).resolve().parents[3]


def test_the_type_names_the_registry_in_the_stacks_order():
    assert get_args(LayerName) == tuple(LAYERS) == ("router", "batch", "autoscaler")
    assert all(lay.name == name for name, lay in LAYERS.items())


def test_each_layer_has_its_defaults_among_its_builtins_and_its_api_page():
    for lay in LAYERS.values():
        assert lay.default_baseline in lay.builtins
        assert hasattr(lay.base, lay.method)
        assert (REPO / lay.api_doc).is_file(), lay.api_doc


def test_only_the_autoscaler_may_be_left_out():
    assert [lay.name for lay in LAYERS.values() if lay.knows(NONE)] == ["autoscaler"]
    assert LAYERS["router"].knows("llq") and not LAYERS["router"].knows("nosuch")


def test_the_loader_and_the_task_reader_use_the_same_registry():
    from glia.state.tasks import task
    assert loader.get_layer is get_layer
    assert task.DEFAULT_BASELINE == {n: lay.default_baseline for n, lay in LAYERS.items()}
    assert task.DEFAULT_SPACE == {n: lay.default_space for n, lay in LAYERS.items()}
    assert set(task.DEFAULT_SPACE.values()) <= set(task.OFFLINE_SPACES)


def test_an_unknown_layer_is_named_with_the_known_ones():
    with pytest.raises(ValueError, match="unknown layer 'gpu'; layers: router, batch, autoscaler"):
        get_layer("gpu")
