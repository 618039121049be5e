"""Packages whose names load on first use (PEP 562), so that importing one of their modules (the CLI's command
definitions, a policy's base class) does not import all the others, numpy, DuckDB or LangChain with it.

    __getattr__, __dir__ = lazy_exports(__name__, {"Simulation": ".engine", ...})

Standard library only: the packages of every layer use it.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable


def lazy_exports(package: str, exports: dict[str, str]) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """A module ``__getattr__`` that imports ``exports[name]`` (a module, relative to ``package``) when ``name`` is
    first read and keeps the value in the package's namespace, and the matching ``__dir__``. Any other name that is a
    submodule of the package is imported as one (as an eager ``__init__`` made it an attribute)."""
    namespace = sys.modules[package].__dict__

    def __getattr__(name: str) -> object:
        if name in exports:
            value = getattr(importlib.import_module(exports[name], package), name)
        elif not name.startswith("__"):
            try:
                value = importlib.import_module(f"{package}.{name}")
            except ModuleNotFoundError as exc:
                if exc.name != f"{package}.{name}":
                    raise
                raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        else:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *exports})

    return __getattr__, __dir__
