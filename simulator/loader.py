"""Load a routing policy: a built-in name, or a Python file defining a ``BaseGlobalScheduler`` subclass.

A file may import from vidur's module paths (``vidur.entities``,
``vidur.scheduler.global_scheduler.base_global_scheduler``, ...) as the paper's policies do: those paths are
served by this simulator's own classes, so the file loads unchanged.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import sys
import types
from pathlib import Path

from . import global_scheduler, replica, request
from .global_scheduler import BaseGlobalScheduler
from .policies import POLICIES


class PolicyLoadError(Exception):
    """The policy could not be loaded; the message says why and where."""


def _vidur_modules() -> dict[str, types.ModuleType]:
    def module(name: str, **attrs) -> types.ModuleType:
        m = types.ModuleType(name)
        m.__path__ = []  # importable as a package too
        m.__dict__.update(attrs)
        return m

    entities = dict(Request=request.Request)
    base_gs = dict(BaseGlobalScheduler=global_scheduler.BaseGlobalScheduler)
    base_rs = dict(BaseReplicaScheduler=replica.ReplicaScheduler)
    return {
        "vidur": module("vidur"),
        "vidur.entities": module("vidur.entities", **entities),
        "vidur.entities.request": module("vidur.entities.request", **entities),
        "vidur.logger": module("vidur.logger", init_logger=logging.getLogger),
        "vidur.scheduler": module("vidur.scheduler"),
        "vidur.scheduler.global_scheduler": module("vidur.scheduler.global_scheduler", **base_gs),
        "vidur.scheduler.global_scheduler.base_global_scheduler":
            module("vidur.scheduler.global_scheduler.base_global_scheduler", **base_gs),
        "vidur.scheduler.replica_scheduler": module("vidur.scheduler.replica_scheduler", **base_rs),
        "vidur.scheduler.replica_scheduler.base_replica_scheduler":
            module("vidur.scheduler.replica_scheduler.base_replica_scheduler", **base_rs),
    }


def install_vidur_aliases() -> None:
    """Serve vidur's module paths from this simulator (idempotent)."""
    for name, mod in _vidur_modules().items():
        sys.modules.setdefault(name, mod)


def _split(spec: str) -> tuple[Path, str]:
    """``PATH.py:ClassName`` -> (PATH.py, ClassName); a plain path -> (path, "")."""
    head, sep, tail = spec.rpartition(":")
    if sep and head.endswith(".py") and tail.isidentifier():
        return Path(head), tail
    return Path(spec), ""


def load_policy(spec: str) -> type[BaseGlobalScheduler]:
    """``NAME`` of a built-in policy, or ``PATH.py`` / ``PATH.py:ClassName``."""
    if spec in POLICIES:
        return POLICIES[spec]
    path, class_name = _split(spec)
    if path.suffix != ".py":
        raise PolicyLoadError(f"unknown policy {spec!r}: not a built-in ({', '.join(POLICIES)}) nor a .py file")
    if not path.is_file():
        raise PolicyLoadError(f"policy file not found: {path}")
    install_vidur_aliases()
    source = path.read_bytes()
    mod_name = "glia_policy_" + hashlib.sha1(source + str(path.resolve()).encode()).hexdigest()[:12]
    spec_obj = importlib.util.spec_from_file_location(mod_name, path)
    module = importlib.util.module_from_spec(spec_obj)
    sys.modules[mod_name] = module
    try:
        spec_obj.loader.exec_module(module)
    except SyntaxError as exc:
        raise PolicyLoadError(f"{path}:{exc.lineno}: syntax error: {exc.msg}") from None
    except Exception as exc:  # the file's top level failed: name it and where
        raise PolicyLoadError(f"{path}: loading failed with {type(exc).__name__}: {exc}") from None
    candidates = {n: c for n, c in vars(module).items()
                  if isinstance(c, type) and issubclass(c, BaseGlobalScheduler) and c is not BaseGlobalScheduler
                  and c.__module__ == mod_name}
    if class_name:
        cls = getattr(module, class_name, None)
        if not (isinstance(cls, type) and issubclass(cls, BaseGlobalScheduler)):
            raise PolicyLoadError(f"{path} defines no scheduler class {class_name!r}; it defines: "
                                  f"{', '.join(candidates) or 'none'}")
        return cls
    if not candidates:
        raise PolicyLoadError(f"{path} defines no subclass of BaseGlobalScheduler (import it from "
                              "glia.simulator or vidur.scheduler.global_scheduler.base_global_scheduler)")
    concrete = {n: c for n, c in candidates.items() if "schedule" in vars(c)} or candidates
    if len(concrete) > 1:
        raise PolicyLoadError(f"{path} defines several scheduler classes ({', '.join(concrete)}): name one as "
                              f"{path}:ClassName")
    return next(iter(concrete.values()))


def policy_source_hash(spec: str) -> str | None:
    """SHA-256 of a policy file's source (None for a built-in)."""
    if spec in POLICIES:
        return None
    path = _split(spec)[0]
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None
