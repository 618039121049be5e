"""Load a policy of one layer of the stack: a built-in name, or a Python file defining a subclass of the layer's
base class (``BaseGlobalScheduler`` for a router, ``BaseBatchPolicy`` for a batch policy, ``BaseAutoscaler`` for an
autoscaler).

A file is checked before it runs (``guard.check_source``: only the documented API) and runs in a namespace of
restricted builtins whose imports are served by ``guard`` (allowed modules as facades), whatever its layer. A file
may import from vidur's module paths (``vidur.entities``, ``vidur.scheduler.global_scheduler.base_global_scheduler``,
...) as the paper's policies do: those paths serve this simulator's classes, so the file loads unchanged.
"""

from __future__ import annotations

import hashlib
import linecache
import sys
import types
from dataclasses import dataclass
from pathlib import Path

from glia.simulator.policy import guard
from glia.simulator.policy.layers import Layer, get_layer
from glia.simulator.policy.router import BaseGlobalScheduler
from glia.simulator.replica import ReplicaScheduler
from glia.simulator.request import PolicyViolation, Request


class PolicyLoadError(Exception):
    """The policy could not be loaded; the message says why and where."""


@dataclass(frozen=True)
class PolicySource:
    """A policy as the harness read it before any policy code ran: a built-in's name, or a file's path and bytes."""

    spec: str
    path: str = ""
    class_name: str = ""
    source: bytes = b""
    layer: str = "router"

    @property
    def builtin(self) -> bool:
        return not self.path


def _split(spec: str) -> tuple[Path, str]:
    """``PATH.py:ClassName`` -> (PATH.py, ClassName); a plain path -> (path, "")."""
    head, sep, tail = spec.rpartition(":")
    if sep and head.endswith(".py") and tail.isidentifier():
        return Path(head), tail
    return Path(spec), ""


def read_policy(spec: str, layer: str = "router") -> PolicySource:
    """``NAME`` of a built-in policy of ``layer``, or ``PATH.py`` / ``PATH.py:ClassName`` read from disk."""
    lay = get_layer(layer)
    if spec in lay.builtins:
        return PolicySource(spec, layer=layer)
    path, class_name = _split(spec)
    if path.suffix != ".py":
        raise PolicyLoadError(f"unknown policy {spec!r}: not a built-in {lay.name} policy "
                              f"({', '.join(lay.builtins)}) nor a .py file")
    if not path.is_file():
        raise PolicyLoadError(f"policy file not found: {path}")
    return PolicySource(spec, str(path), class_name, path.read_bytes(), layer)


def load_policy(spec: str | PolicySource, layer: str = "router", api: dict[str, types.ModuleType] | None = None
                ) -> type:
    """The policy's class (of ``layer``, or of the source's own layer). A file is checked, then run in its
    restricted namespace, where ``api`` serves the documented modules (by default this process's own classes)."""
    src = spec if isinstance(spec, PolicySource) else read_policy(spec, layer)
    lay = get_layer(src.layer)
    if src.builtin:
        return lay.builtins[src.spec]
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
    return _policy_class(module, mod_name, path, src.class_name, lay)


def _policy_class(module: types.ModuleType, mod_name: str, path: str, class_name: str, lay: Layer):
    base = lay.base
    candidates = {n: c for n, c in vars(module).items()
                  if isinstance(c, type) and issubclass(c, base) and c is not base and c.__module__ == mod_name}
    if class_name:
        cls = vars(module).get(class_name)
        if not (isinstance(cls, type) and issubclass(cls, base)):
            raise PolicyLoadError(f"{path} defines no {lay.noun} class {class_name!r} (a subclass of "
                                  f"{base.__name__}); it defines: {', '.join(candidates) or 'none'}")
        return cls
    if not candidates:
        raise PolicyLoadError(f"{path} defines no subclass of {base.__name__} (import it from {lay.where})")
    concrete = {n: c for n, c in candidates.items() if lay.method in vars(c)} or candidates
    if len(concrete) > 1:
        raise PolicyLoadError(f"{path} defines several {lay.noun} classes ({', '.join(concrete)}): name one as "
                              f"{path}:ClassName")
    return next(iter(concrete.values()))


def is_builtin(spec: str, layer: str = "router") -> bool:
    return spec in get_layer(layer).builtins


def stack_sources(config, policy: str | PolicySource) -> dict[str, PolicySource]:
    """Every policy a run of ``config`` under the router ``policy`` executes, read before any policy code runs:
    the router, the configuration's batch policy and, when it scales, its autoscaler."""
    router = policy if isinstance(policy, PolicySource) else read_policy(policy)
    out = {"router": router, "batch": read_policy(config.cluster.batch_policy, "batch")}
    if config.autoscaler is not None:
        out["autoscaler"] = read_policy(config.autoscaler.policy, "autoscaler")
    return out


def policy_source_hash(*specs: str | None) -> str | None:
    """SHA-256 of the sources of the policy files among ``specs`` (None when all are built-ins)."""
    paths = [_split(s)[0] for s in specs if s and (s.endswith(".py") or ".py:" in s)]
    paths = [p for p in paths if p.is_file()]
    if not paths:
        return None
    h = hashlib.sha256()
    for p in paths:
        h.update(p.read_bytes())
    return h.hexdigest()
