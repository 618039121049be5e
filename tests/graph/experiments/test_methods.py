"""The comparison's methods are defined once (``compare/names.py``): every method has a way to run, a library method
names its module and how to install it, and the tables that used to be parallel read from the record."""

from __future__ import annotations

import importlib.util
from typing import get_args

import pytest

from glia.graph.experiments.compare import methods, report
from glia.graph.experiments.compare.names import METHODS, RunKind


def test_every_kind_of_run_has_its_function_and_every_method_a_kind():
    assert set(methods.RUNS) == set(get_args(RunKind))
    assert all(m.name == name and m.run in methods.RUNS for name, m in METHODS.items())


def test_a_library_method_names_its_module_and_how_to_install_it():
    for m in METHODS.values():
        assert (m.run == "library") == (m.library is not None) == (m.install is not None), m.name
        if m.library:
            assert importlib.util.find_spec(m.library) is not None


def test_what_the_tables_said_the_record_says():
    assert {n for n, m in METHODS.items() if m.needs_model} == {"glia", "best_shot", "openevolve", "eoh", "funsearch"}
    assert {n: m.temperature for n, m in METHODS.items() if n != "offline"} == {
        "glia": 0.8, "best_shot": 0.8, "openevolve": 0.7, "eoh": 0.8, "funsearch": 0.8}
    assert report.NAMES["offline"] == "Glia, heuristic researcher (offline)" and report.NAMES["eoh"] == "EoH"


def test_an_unknown_method_is_named_with_the_known_ones():
    with pytest.raises(ValueError, match="unknown method 'magic'; one of glia, offline, best_shot, openevolve"):
        methods.check_available("magic")
