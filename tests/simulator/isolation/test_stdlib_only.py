"""OS isolation stays at the bottom: ``confine.py`` is started as a script (``python -I -S confine.py``), in
tens of milliseconds and with nothing of Glia importable, so it imports the standard library only (import-linter
keeps Glia's own modules out of it; this keeps everything else out)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

from glia.simulator.isolation import confine


def test_confine_imports_only_the_standard_library():
    tree = ast.parse(Path(confine.__file__).read_text())
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    relative = [n.lineno for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level]
    assert not relative, f"a script has no package: relative imports at lines {relative}"
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}, imported - set(sys.stdlib_module_names)
