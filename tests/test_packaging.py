"""The install has every package: ``pyproject.toml`` lists exactly the folders that
are packages (a sub-package left out installs without its folder, while an editable checkout still finds it), and
maps each top folder into ``glia.*``."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOPS = ("simulator", "tools", "state", "nodes", "graph", "tui")


def test_pyproject_lists_every_package_and_nothing_else():
    setup = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    on_disk = {"glia." + ".".join(init.parent.relative_to(ROOT).parts)
               for top in TOPS for init in (ROOT / top).rglob("__init__.py")}
    assert set(setup["packages"]) == on_disk
    assert setup["package-dir"] == {f"glia.{top}": top for top in TOPS}
