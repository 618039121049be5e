"""Load a policy of one layer of the stack: a built-in name, or a Python file defining a subclass of the layer's
base class (``BaseGlobalScheduler`` for a router, ``BaseBatchPolicy`` for a batch policy, ``BaseAutoscaler`` for an
autoscaler).

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

from dataclasses import dataclass

from . import global_scheduler, replica, request
from .autoscaler import AUTOSCALERS, BaseAutoscaler
from .batch_policies import BATCH_POLICIES, BaseBatchPolicy
from .global_scheduler import BaseGlobalScheduler
from .policies import POLICIES


@dataclass(frozen=True)
class Layer:
    """A layer of the serving stack: its policies' base class, the method they implement, its built-ins."""

    name: str
    noun: str             # what a policy class of the layer is called in messages
    base: type
    method: str
    builtins: dict[str, type]
    where: str            # where to import the base class from, for the error message


LAYERS: dict[str, Layer] = {
    "router": Layer("router", "scheduler", BaseGlobalScheduler, "schedule", POLICIES,
                    "glia.simulator or vidur.scheduler.global_scheduler.base_global_scheduler"),
    "batch": Layer("batch", "batch policy", BaseBatchPolicy, "next_index", BATCH_POLICIES, "glia.simulator"),
    "autoscaler": Layer("autoscaler", "autoscaler", BaseAutoscaler, "desired_replicas", AUTOSCALERS, "glia.simulator"),
}


def get_layer(name: str) -> Layer:
    try:
        return LAYERS[name]
    except KeyError:
        raise ValueError(f"unknown layer {name!r}; layers: {', '.join(LAYERS)}") from None


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


def load_policy(spec: str, layer: str = "router") -> type:
    """``NAME`` of a built-in policy of ``layer``, or ``PATH.py`` / ``PATH.py:ClassName``."""
    lay = get_layer(layer)
    base = lay.base
    if spec in lay.builtins:
        return lay.builtins[spec]
    path, class_name = _split(spec)
    if path.suffix != ".py":
        raise PolicyLoadError(f"unknown policy {spec!r}: not a built-in {lay.name} policy "
                              f"({', '.join(lay.builtins)}) nor a .py file")
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
                  if isinstance(c, type) and issubclass(c, base) and c is not base and c.__module__ == mod_name}
    if class_name:
        cls = getattr(module, class_name, None)
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


def policy_source_hash(*specs: str | None) -> str | None:
    """SHA-256 of the sources of the policy files among ``specs`` (None when all are built-ins)."""
    paths = [_split(s)[0] for s in specs if s and s.endswith(".py") or s and ".py:" in s]
    paths = [p for p in paths if p.is_file()]
    if not paths:
        return None
    h = hashlib.sha256()
    for p in paths:
        h.update(p.read_bytes())
    return h.hexdigest()
