"""What policy code may do inside its process.

Three layers, each refusing with a message that names the file, the line and what to use instead:

- ``check_source``: a static check of the policy file at load time. Attribute names starting with an underscore are
  refused unless documented (``simulator/policy/policy_api.md``: ``_request_queue``, ``_replica_schedulers``,
  ``_arrived_at``, ...) or the policy's own (``self._x``); dunders are refused but for ordinary special methods;
  dynamic access and code execution (``getattr``, ``vars``, ``eval``, ``exec``, ``open``, ``str.format``, ...) and
  frame attributes are refused by name; imports must be on the allowlist.
- ``policy_globals``: the namespace the file runs in: builtins without those functions, and an ``__import__`` that
  serves allowed modules as *facades* (their public, non-module attributes only, so ``typing.sys`` or
  ``dataclasses.inspect`` lead nowhere) and the documented ``glia.simulator`` / vidur names.
- ``install_audit_hook``: once the process is confined, a ``sys.addaudithook`` hook refuses what a policy has no
  reason to do whatever the path to it: writing files, reading outside the Python installation, sockets, processes,
  signals, ctypes, ``gc`` introspection, threads, tracing, frame walking from policy code, modifying harness classes,
  and importing modules off the allowlist. A refusal raises ``Forbidden`` and is also recorded, so a policy that
  swallows the exception still fails its run (``first_refusal``).

This is a courtesy, not a boundary: it turns what a policy should not do into an error that names the line and
what to use instead, but Python offers gadgets no list can close (the adversarial corpus has one that turns the
hook off: ``tests/adversarial/door_guard_off_kernel_holds.py``). The boundary is the kernel's confinement of the
process (``confine.py``: no writes, no network, no processes, reads of the Python installation only, nothing
inherited from Glia); the scores are computed and checked outside the policy's process (``verify.py``), and what is
reported (a new best, its held-out figures) is measured with the policy in a process of its own that holds nothing
but what it is sent (``hardened.py``).
"""

from __future__ import annotations

import ast
import builtins
import logging
import os
import re
import sys
import types

from glia.simulator.policy.autoscaler import BaseAutoscaler, ClusterView, ReplicaLoad
from glia.simulator.policy.batch import BaseBatchPolicy
from glia.simulator.policy.forms import DRIVERS, BatchFunctions, RoutingFunctions, ScalingFunctions
from glia.simulator.request import PolicyViolation

DOCS = "simulator/policy/policy_api.md"

# the underscore names of the documented API (vidur's), readable on any object
DOCUMENTED_PRIVATE = frozenset({
    "_request_queue", "_replica_schedulers", "_num_replicas", "_config", "_active_queue", "_num_allocated_blocks",
    "_id", "_arrived_at", "_num_prefill_tokens", "_num_processed_tokens", "_num_restarts", "_is_prefill_complete",
    "_scheduled", "_scheduled_at"})
# special methods a policy may define or call; every other dunder is refused
ALLOWED_DUNDERS = frozenset({
    "__init__", "__name__", "__doc__", "__all__", "__slots__", "__post_init__", "__repr__", "__str__", "__hash__",
    "__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__bool__", "__len__", "__iter__", "__next__",
    "__contains__", "__getitem__", "__setitem__", "__delitem__", "__call__", "__enter__", "__exit__", "__add__",
    "__sub__", "__mul__", "__truediv__", "__floordiv__", "__mod__", "__neg__", "__abs__"})
# names a policy may not use at all (dynamic access, code execution, files, the debugger)
REFUSED_NAMES = {
    "getattr": "read the documented attributes directly (rs.num_allocated_blocks)",
    "setattr": "assign your own state as self.name = value",
    "delattr": "policy state is yours to keep; harness objects are read-only",
    "vars": "read the documented attributes directly",
    "globals": "use module-level names directly",
    "locals": "use the names directly",
    "eval": "write the expression as code",
    "exec": "write the statements as code",
    "compile": "write the code directly",
    "__import__": "use an import statement with an allowed module",
    "open": "a policy reads no files; keep what it needs in the code",
    "breakpoint": "debug the policy outside the simulator",
    "input": "a policy reads no input",
    "help": "see " + DOCS,
    "exit": "return from schedule() instead",
    "quit": "return from schedule() instead",
    "__builtins__": "use the builtin functions directly",
    "__loader__": "a policy has no use for its loader",
    "__spec__": "a policy has no use for its import spec",
}
# attribute names refused on any object: format strings traverse attributes, frames reach everything
REFUSED_ATTRIBUTES = {
    "format": "use an f-string (str.format can read any attribute)",
    "format_map": "use an f-string (str.format_map can read any attribute)",
    "tofile": "a policy writes no files",
    "as_strided": "raw memory views are not available to policies",
    "ctypeslib": "ctypes is not available to policies",
    "ctypes": "ctypes is not available to policies",
    "mro": "the class hierarchy of harness objects is not part of the API",
    **{n: "frames and code objects are not part of the API" for n in (
        "f_back", "f_locals", "f_globals", "f_builtins", "f_code", "f_trace", "f_lasti", "tb_frame", "tb_next",
        "gi_frame", "gi_code", "gi_yieldfrom", "cr_frame", "cr_code", "cr_await", "ag_frame", "ag_code", "ag_await",
        "co_code", "co_consts", "co_names")},
    **{n: f"not available to policies: {REFUSED_NAMES[n]}" for n in (
        "getattr", "setattr", "delattr", "vars", "globals", "locals", "eval", "exec", "compile", "open",
        "breakpoint")},
}
# modules a policy may import: served as facades; numpy's submodules random and linalg only
ALLOWED_MODULES = ("math", "random", "heapq", "collections", "collections.abc", "itertools", "functools", "bisect",
                   "statistics", "dataclasses", "typing", "enum", "abc", "numpy", "numpy.random", "numpy.linalg",
                   "__future__")
VIDUR_MODULES = ("vidur", "vidur.entities", "vidur.entities.request", "vidur.logger", "vidur.scheduler",
                 "vidur.scheduler.global_scheduler", "vidur.scheduler.global_scheduler.base_global_scheduler",
                 "vidur.scheduler.replica_scheduler", "vidur.scheduler.replica_scheduler.base_replica_scheduler")
API_MODULES = ("glia", "glia.simulator")
API_NAMES = ("BaseGlobalScheduler", "Request", "PolicyViolation", "BaseBatchPolicy", "BaseAutoscaler", "ClusterView",
             "ReplicaLoad", *DRIVERS)
# names left out of the facades: they evaluate strings as code or touch files and raw memory
FACADE_EXCLUDED = {
    "typing": {"get_type_hints", "ForwardRef", "get_overloads", "clear_overloads"},
    "functools": {"singledispatch", "singledispatchmethod"},
    "numpy": {"load", "save", "savez", "savez_compressed", "savetxt", "loadtxt", "genfromtxt", "fromfile",
              "fromregex", "memmap", "frombuffer", "from_dlpack", "show_config", "show_runtime", "get_include",
              "info", "DataSource", "ctypeslib", "lib", "testing", "f2py", "distutils"},
}


_DUNDER = re.compile(r"__\w+__")


class ForbiddenCode(PolicyViolation):
    """The policy does something policy code may not do (found in its source or refused at run time)."""

    def __init__(self, message: str):
        super().__init__("forbidden", message)


def allowed_imports() -> str:
    return (", ".join(ALLOWED_MODULES[:-1]) + "; glia.simulator (BaseGlobalScheduler, BaseBatchPolicy, BaseAutoscaler, "
            "ClusterView, Request) and vidur's paths")


def _module_allowed(name: str) -> bool:
    return name in ALLOWED_MODULES or name in VIDUR_MODULES or name in API_MODULES


# -- the static check -------------------------------------------------------------------------------------------
class _Checker(ast.NodeVisitor):
    def __init__(self, path: str, tree: ast.AST):
        self.path = path
        self.problems: list[tuple[int, str]] = []
        self.own: set[str] = set()       # the policy's own private names (self._x = ..., class-level _x)
        self.imported: set[str] = set()  # module-level names bound by imports
        self.receivers = [{"self", "cls"}]
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                for item in node.body:
                    if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                        self.own.add(item.name)
                    elif isinstance(item, (ast.Assign, ast.AnnAssign)):
                        for t in (item.targets if isinstance(item, ast.Assign) else [item.target]):
                            if isinstance(t, ast.Name):
                                self.own.add(t.id)
            elif (isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store)
                  and isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
                self.own.add(node.attr)
        for node in getattr(tree, "body", []):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for a in node.names:
                    self.imported.add((a.asname or a.name).split(".")[0])

    def refuse(self, node: ast.AST, what: str) -> None:
        self.problems.append((getattr(node, "lineno", 0), what))

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._definition(node, node.name)
        args = node.args.posonlyargs + node.args.args
        self.receivers.append({args[0].arg} if args else set())
        self.generic_visit(node)
        self.receivers.pop()

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for item in node.body:
            targets = item.targets if isinstance(item, ast.Assign) else [item.target] if isinstance(
                item, ast.AnnAssign) else []
            for t in targets:
                if isinstance(t, ast.Name):
                    self._definition(t, t.id)
        for kw in node.keywords:
            self.refuse(node, f"class {node.name} passes {kw.arg}= to its class statement; metaclasses and class "
                              "keywords are not available to policies (subclass BaseGlobalScheduler plainly)")
        self.generic_visit(node)

    def _definition(self, node: ast.AST, name: str) -> None:
        if name.startswith("__") and name.endswith("__") and name not in ALLOWED_DUNDERS:
            self.refuse(node, f"defines {name}, a special name policies may not define (ordinary special methods "
                              "such as __init__, __lt__, __repr__ are allowed)")

    def visit_Name(self, node: ast.Name) -> None:
        if node.id in REFUSED_NAMES:
            self.refuse(node, f"uses {node.id}, which is not available to policies: {REFUSED_NAMES[node.id]}")
        elif node.id.startswith("__") and node.id.endswith("__") and node.id not in ALLOWED_DUNDERS | {"__file__"}:
            self.refuse(node, f"uses {node.id}, which is not available to policies")

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str) and _DUNDER.fullmatch(node.value) and node.value not in ALLOWED_DUNDERS:
            self.refuse(node, f"names the special attribute {node.value!r} in a string (functools, type() and the "
                              "like would reach it); special attributes are not part of the API")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        name = node.attr
        recv = node.value
        if name in REFUSED_ATTRIBUTES:
            self.refuse(node, f"uses .{name}: {REFUSED_ATTRIBUTES[name]}")
        elif name.startswith("__") and name.endswith("__"):
            if name not in ALLOWED_DUNDERS:
                self.refuse(node, f"reads .{name}: special attributes are not part of the API (see {DOCS})")
        elif name.startswith("_") and name not in DOCUMENTED_PRIVATE:
            mine = isinstance(recv, ast.Name) and recv.id in self.receivers[-1] | {"self", "cls"}
            if mine and name not in self.own:
                self.refuse(node, f"reads {recv.id}.{name}, which the policy never assigns: its own private "
                                  f"attributes may be read once the class sets them ({recv.id}.{name} = ... in "
                                  "__init__ or a method); other private names must be in " + DOCS)
            elif not mine:
                self.refuse(node, f"reads .{name}, a private name outside the documented API; a policy may use the "
                                  f"names in {DOCS} (e.g. _request_queue, _replica_schedulers, _arrived_at) and its "
                                  "own attributes as self._name")
        if (isinstance(node.ctx, (ast.Store, ast.Del)) and isinstance(recv, ast.Name) and recv.id in self.imported):
            self.refuse(node, f"modifies {recv.id}.{name}: imported modules and harness classes are read-only to "
                              "policies (keep your own state on self)")
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for a in node.names:
            if not _module_allowed(a.name):
                self.refuse(node, f"imports {a.name}; a policy may import only {allowed_imports()}")

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        mod = node.module or ""
        if node.level:
            self.refuse(node, "uses a relative import; a policy is one file and may import only "
                              f"{allowed_imports()}")
        elif not _module_allowed(mod):
            self.refuse(node, f"imports from {mod}; a policy may import only {allowed_imports()}")
        elif mod in API_MODULES:
            for a in node.names:
                if a.name not in API_NAMES + ("simulator", "*"):
                    self.refuse(node, f"imports {a.name} from {mod}; policies may use only "
                                      f"{', '.join(API_NAMES)} from it (see {DOCS})")


def check_source(source: str, path: str) -> None:
    """Refuse a policy file that uses names outside the documented API; the error names every line at fault."""
    try:
        tree = ast.parse(source, filename=path)
    except SyntaxError:
        return  # compiling reports it with its line
    checker = _Checker(path, tree)
    checker.visit(tree)
    if checker.problems:
        lines = sorted(set(checker.problems))
        first = f"{path}:{lines[0][0]}: the policy {lines[0][1]}"
        more = "".join(f"\n{path}:{ln}: the policy {what}" for ln, what in lines[1:6])
        extra = f"\n(and {len(lines) - 6} more)" if len(lines) > 6 else ""
        raise ForbiddenCode(first + more + extra)


# -- the namespace a policy file runs in ---------------------------------------------------------------------------
class ForbiddenAttribute(ForbiddenCode, AttributeError):
    """A name an allowed module has but policies may not use (``hasattr`` sees it as missing)."""


class Facade(types.ModuleType):
    """A module's public, non-module attributes; anything else is an error naming what policies may use."""

    def __getattr__(self, name: str):
        f = sys._getframe(1)
        raise ForbiddenAttribute(f"{f.f_code.co_filename}:{f.f_lineno}: the policy uses {self.__name__}.{name}, which "
                                 f"is not available to policies (see {DOCS})")


_FACADES: dict[str, Facade] = {}


def prepare_facades() -> None:
    """Build every facade now (before the audit hook, so that no module is imported lazily afterwards)."""
    for name in ALLOWED_MODULES:
        if name != "__future__":
            _facade(name)


def _facade(name: str) -> Facade:
    if name in _FACADES:
        return _FACADES[name]
    real = sys.modules.get(name) or __import__(name, fromlist=["_"])
    fac = Facade(name)
    excluded = FACADE_EXCLUDED.get(name, set())
    for attr, value in list(vars(real).items()):
        if attr.startswith("_") or attr in excluded or isinstance(value, types.ModuleType):
            continue
        setattr(fac, attr, value)
    for sub in ALLOWED_MODULES:
        if sub.startswith(name + ".") and "." not in sub[len(name) + 1:]:
            setattr(fac, sub.rsplit(".", 1)[1], _facade(sub))
    _FACADES[name] = fac
    return fac


def api_modules(request_cls: type, scheduler_cls: type, replica_cls: type) -> dict[str, types.ModuleType]:
    """The documented names at glia.simulator's and vidur's paths (the classes of this process's mode; the batch
    policy's and the autoscaler's base classes and the autoscaler's views are the same in every mode)."""

    def module(name: str, **attrs) -> Facade:
        m = Facade(name)
        for k, v in attrs.items():
            setattr(m, k, v)
        return m

    entities = dict(Request=request_cls)
    base_gs = dict(BaseGlobalScheduler=scheduler_cls)
    base_rs = dict(BaseReplicaScheduler=replica_cls)
    mods = {
        "glia.simulator": module("glia.simulator", BaseGlobalScheduler=scheduler_cls, Request=request_cls,
                                 PolicyViolation=PolicyViolation, BaseBatchPolicy=BaseBatchPolicy,
                                 BaseAutoscaler=BaseAutoscaler, ClusterView=ClusterView, ReplicaLoad=ReplicaLoad,
                                 RoutingFunctions=RoutingFunctions, BatchFunctions=BatchFunctions,
                                 ScalingFunctions=ScalingFunctions),
        "vidur.entities.request": module("vidur.entities.request", **entities),
        "vidur.logger": module("vidur.logger", init_logger=logging.getLogger),
        "vidur.scheduler.global_scheduler.base_global_scheduler":
            module("vidur.scheduler.global_scheduler.base_global_scheduler", **base_gs),
        "vidur.scheduler.replica_scheduler.base_replica_scheduler":
            module("vidur.scheduler.replica_scheduler.base_replica_scheduler", **base_rs),
    }
    mods["glia"] = module("glia", simulator=mods["glia.simulator"])
    mods["vidur.entities"] = module("vidur.entities", request=mods["vidur.entities.request"], **entities)
    mods["vidur.scheduler.global_scheduler"] = module(
        "vidur.scheduler.global_scheduler",
        base_global_scheduler=mods["vidur.scheduler.global_scheduler.base_global_scheduler"], **base_gs)
    mods["vidur.scheduler.replica_scheduler"] = module(
        "vidur.scheduler.replica_scheduler",
        base_replica_scheduler=mods["vidur.scheduler.replica_scheduler.base_replica_scheduler"], **base_rs)
    mods["vidur.scheduler"] = module("vidur.scheduler", global_scheduler=mods["vidur.scheduler.global_scheduler"],
                                     replica_scheduler=mods["vidur.scheduler.replica_scheduler"])
    mods["vidur"] = module("vidur", entities=mods["vidur.entities"], scheduler=mods["vidur.scheduler"],
                           logger=mods["vidur.logger"])
    return mods


def policy_globals(path: str, module_name: str, api: dict[str, types.ModuleType]) -> dict:
    """The globals a policy file runs in: restricted builtins and an ``__import__`` serving facades."""
    def policy_import(name, globals=None, locals=None, fromlist=(), level=0):
        if level:
            raise ForbiddenCode(f"{path}: the policy uses a relative import; it may import only {allowed_imports()}")
        if name == "__future__":
            return sys.modules["__future__"]
        if not _module_allowed(name):
            # C code of an allowed module (numpy's lazy imports) imports through the caller's builtins too
            if name.split(".")[0] == "numpy" and not name.startswith(_LAZY_REFUSED):
                return builtins.__import__(name, globals, locals, fromlist, 0)
            raise ForbiddenCode(f"{path}: the policy imports {name}; a policy may import only {allowed_imports()}")
        get = (lambda n: api[n]) if name.split(".")[0] in ("glia", "vidur") else _facade
        return get(name) if fromlist else get(name.split(".")[0])

    safe = {k: v for k, v in vars(builtins).items() if k not in REFUSED_NAMES}
    safe["__import__"] = policy_import
    return {"__builtins__": safe, "__name__": module_name, "__file__": path, "__doc__": None}


# -- the audit hook ---------------------------------------------------------------------------------------------
_REFUSED: list[ForbiddenCode] = []
_STATE: dict = {"files": frozenset(), "roots": (), "hidden": (), "busy": False}
# events a policy process never needs (the harness's own work happens before the hook is installed)
_PROCESS_EVENTS = ("os.system", "os.exec", "os.fork", "os.forkpty", "os.posix_spawn", "os.spawn", "os.startfile",
                   "subprocess.Popen", "pty.spawn")
_SIGNAL_EVENTS = ("os.kill", "os.killpg", "signal.pthread_kill")
_INTROSPECTION = ("object.__getattr__", "sys._getframe", "sys._current_frames", "sys._current_exceptions")
# modules the interpreter or the allowed modules may still load lazily
_LAZY_OK = ("numpy", "encodings", "unicodedata", "decimal", "_decimal", "fractions", "numbers", "math", "cmath",
            "random", "statistics", "heapq", "bisect", "collections", "itertools", "functools", "operator",
            "dataclasses", "typing", "enum", "abc", "copy", "copyreg", "weakref", "re", "sre_compile", "sre_parse",
            "sre_constants", "_strptime", "locale", "textwrap", "reprlib", "keyword", "contextlib", "types",
            "warnings", "string")
_LAZY_REFUSED = ("numpy.ctypeslib", "numpy.f2py", "numpy.distutils", "numpy.testing", "numpy.lib._npyio_impl")


def first_refusal() -> ForbiddenCode | None:
    """The first thing the audit hook refused in this process (a policy that caught the exception still fails)."""
    return _REFUSED[0] if _REFUSED else None


def _where() -> str:
    f = sys._getframe(2)
    while f is not None:
        if f.f_code.co_filename in _STATE["files"]:
            return f" (at {f.f_code.co_filename}:{f.f_lineno})"
        f = f.f_back
    return ""


def _from_policy() -> bool:
    f = sys._getframe(3)  # 0: this function, 1: _check, 2: _hook, 3: where the event was raised
    return f is not None and f.f_code.co_filename in _STATE["files"]


def _under_roots(path) -> bool:
    if isinstance(path, int):
        return True
    try:
        real = os.path.realpath(os.fsdecode(path))
    except (TypeError, ValueError):
        return False
    def inside(roots: tuple[str, ...]) -> bool:
        return any(real == r or real.startswith(r + os.sep) for r in roots)
    return inside(_STATE["roots"]) and not inside(_STATE["hidden"])


def _refuse(message: str) -> None:
    exc = ForbiddenCode(message + _where())
    _REFUSED.append(exc)
    raise exc


def _writing(mode, flags) -> bool:
    if isinstance(mode, str) and any(c in mode for c in "wax+"):
        return True
    return isinstance(flags, int) and bool(flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND))


def _hook(event: str, args: tuple) -> None:
    if _STATE["busy"]:
        return
    _STATE["busy"] = True
    try:
        _check(event, args)
    finally:
        _STATE["busy"] = False


def _check(event: str, args: tuple) -> None:
    if event in ("exec", "compile", "marshal.loads", "builtins.id", "time.sleep", "os.listdir", "os.scandir"):
        return
    if event == "open":
        path, mode, flags = (tuple(args) + (None, None))[:3]
        if _writing(mode, flags):
            if isinstance(path, int) and path in (1, 2):
                return
            _refuse(f"the policy tried to write {os.fsdecode(path) if not isinstance(path, int) else path}: "
                    "policy code may not write files")
        if not _under_roots(path):
            _refuse(f"the policy tried to read {os.fsdecode(path)}: policy code may not read files")
        return
        return
    if event == "import":
        name = args[0]
        if name in sys.modules:
            return
        if name.split(".")[0] in _LAZY_OK and not any(name == r or name.startswith(r + ".") for r in _LAZY_REFUSED):
            return
        _refuse(f"the policy tried to import {name}: a policy may import only {allowed_imports()}")
    if event in _INTROSPECTION:
        if _from_policy():
            what = f" {args[1]}" if event == "object.__getattr__" and len(args) > 1 else ""
            _refuse(f"the policy tried to walk the interpreter's frames ({event}{what}): frames and code objects "
                    "are not part of the API")
        return
    if event == "object.__setattr__" or event == "object.__delattr__":
        obj = args[0]
        if isinstance(obj, type) and str(getattr(obj, "__module__", "")).startswith(("glia.", "vidur")):
            _refuse(f"the policy tried to modify the harness class {obj.__name__} ({args[1]}): harness classes are "
                    "read-only to policies")
        return
    if event.startswith("socket."):
        _refuse(f"the policy tried to use the network ({event}): policy code has no network")
    if event in _PROCESS_EVENTS:
        _refuse(f"the policy tried to start a process ({event}): policy code may not create processes")
    if event in _SIGNAL_EVENTS:
        _refuse(f"the policy tried to send a signal ({event}): policy code may not signal processes")
    if event.startswith("ctypes."):
        _refuse(f"the policy tried to use ctypes ({event}): raw memory and foreign functions are not available to "
                "policy code")
    if event.startswith("gc."):
        _refuse(f"the policy tried {event}: introspection of the simulator's objects is not allowed")
    if event == "_thread.start_new_thread":
        _refuse("the policy tried to start a thread: policy code runs on the simulator's thread only")
    if event in ("sys.settrace", "sys.setprofile", "sys.addaudithook"):
        _refuse(f"the policy tried {event}: tracing and audit hooks are reserved to the harness")
    _refuse(f"the policy tried {event}: not available to policy code")


def install_audit_hook(policy_files: list[str], read_roots: list[str], hidden: list[str] = ()) -> None:
    """Refuse, from now on and in this process, what a policy has no reason to do (irreversible: call it in the
    policy's own process, after the harness has done its own file work)."""
    _STATE["files"] = frozenset(str(p) for p in policy_files)
    _STATE["roots"] = tuple(os.path.realpath(r) for r in read_roots)
    _STATE["hidden"] = tuple(os.path.realpath(r) for r in hidden)
    sys.addaudithook(_hook)
