"""Load a routing policy: a built-in name, or a Python file defining a ``BaseGlobalScheduler`` subclass.

A file is checked before it runs (``guard.check_source``: only the documented API) and runs in a namespace of
restricted builtins whose imports are served by ``guard`` (allowed modules as facades). A file may import from vidur's
module paths (``vidur.entities``, ``vidur.scheduler.global_scheduler.base_global_scheduler``, ...) as the paper's
policies do: those paths serve this simulator's classes, so the file loads unchanged.
"""

from __future__ import annotations

import hashlib
import linecache
import sys
import types
from dataclasses import dataclass
from pathlib import Path

from . import guard
from .global_scheduler import BaseGlobalScheduler
from .policies import POLICIES
from .replica import ReplicaScheduler
from .request import PolicyViolation, Request


class PolicyLoadError(Exception):
    """The policy could not be loaded; the message says why and where."""


@dataclass(frozen=True)
class PolicySource:
    """A policy as the harness read it before any policy code ran: a built-in's name, or a file's path and bytes."""

    spec: str
    path: str = ""
    class_name: str = ""
    source: bytes = b""

    @property
    def builtin(self) -> bool:
        return not self.path


def _split(spec: str) -> tuple[Path, str]:
    """``PATH.py:ClassName`` -> (PATH.py, ClassName); a plain path -> (path, "")."""
    head, sep, tail = spec.rpartition(":")
    if sep and head.endswith(".py") and tail.isidentifier():
        return Path(head), tail
    return Path(spec), ""


def read_policy(spec: str) -> PolicySource:
    """``NAME`` of a built-in policy, or ``PATH.py`` / ``PATH.py:ClassName`` read from disk."""
    if spec in POLICIES:
        return PolicySource(spec)
    path, class_name = _split(spec)
    if path.suffix != ".py":
        raise PolicyLoadError(f"unknown policy {spec!r}: not a built-in ({', '.join(POLICIES)}) nor a .py file")
    if not path.is_file():
        raise PolicyLoadError(f"policy file not found: {path}")
    return PolicySource(spec, str(path), class_name, path.read_bytes())


def load_policy(spec: str | PolicySource, api: dict[str, types.ModuleType] | None = None
                ) -> type[BaseGlobalScheduler]:
    """The policy's scheduler class. A file is checked, then run in its restricted namespace, where ``api`` serves
    the documented modules (by default this process's own classes)."""
    src = spec if isinstance(spec, PolicySource) else read_policy(spec)
    if src.builtin:
        return POLICIES[src.spec]
    path = src.path
    try:
        text = src.source.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PolicyLoadError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    guard.check_source(text, path)
    mod_name = "glia_policy_" + hashlib.sha1(src.source + path.encode()).hexdigest()[:12]
    try:
        code = compile(text, path, "exec")
    except SyntaxError as exc:
        raise PolicyLoadError(f"{path}:{exc.lineno}: syntax error: {exc.msg}") from None
    linecache.cache[path] = (len(text), None, text.splitlines(True), path)  # tracebacks without reading the file
    module = types.ModuleType(mod_name)
    module.__dict__.update(guard.policy_globals(path, mod_name, api or guard.api_modules(
        Request, BaseGlobalScheduler, ReplicaScheduler)))
    sys.modules[mod_name] = module
    try:
        exec(code, module.__dict__)
    except PolicyViolation:
        raise
    except Exception as exc:  # the file's top level failed: name it and where
        raise PolicyLoadError(f"{path}: loading failed with {type(exc).__name__}: {exc}") from None
    refused = guard.first_refusal()
    if refused:
        raise refused
    return _scheduler_class(module, mod_name, path, src.class_name)


def _scheduler_class(module: types.ModuleType, mod_name: str, path: str, class_name: str):
    candidates = {n: c for n, c in vars(module).items()
                  if isinstance(c, type) and issubclass(c, BaseGlobalScheduler) and c is not BaseGlobalScheduler
                  and c.__module__ == mod_name}
    if class_name:
        cls = vars(module).get(class_name)
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
