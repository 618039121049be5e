"""The candidate program in a confined process of its own, and the stand-in the evaluator loads instead of it.

An evaluator written for OpenEvolve or ShinkaEvolve loads the candidate into its own process (``importlib`` on the
path it is given) and calls it. Had the candidate run there, it could read whatever the evaluator reads (its test
cases, expected answers, traces) and write its results (``metrics.json``, the returned metrics). So the file the
evaluator is given is a *stand-in* (``stand_in``): when the evaluator imports it, ``attach`` starts the real program
in a child process (this file run as a script, ``host``) that confines itself further before any program code runs
(Landlock: it reads only the Python installation and the program's own directory, writes only its scratch directory;
seccomp: no processes, programs, sockets or signals to others; rlimits), and fills the stand-in's namespace with
proxies. The evaluator then uses the program as if it were loaded: functions are called, classes instantiated,
methods called, constants read; values cross the pipe by copy (``None``, numbers, strings, bytes, lists, tuples,
named tuples, dicts, sets, numpy arrays), anything else by reference (a proxy that forwards attribute access,
calls, indexing, iteration). When the evaluator runs the stand-in as a script (``python program.py``), the program
runs as ``__main__`` in the confined process with the same arguments, standard streams and exit status.

The program's failures reach the evaluator as exceptions it can catch (``ProgramError``, which also derives from the
built-in class the program raised, e.g. ``ValueError``; ``ProgramTimeout`` when the program used up its time and was
killed; ``ProgramCrashed`` when its process died) and, whatever the evaluator does with them, as lines in a status
file only the evaluator's process can write, which the runner reads to tell the program's failures from the
evaluator's.

The wire carries JSON frames with tags for the other types: nothing received is unpickled or executed. Objects the
evaluator passes to the program cross by reference; the program may read their public attributes and call their
public methods, never an underscore attribute, a module, a class or a built-in function of the evaluator's process.

Standard library only: the evaluator's process loads this file by path, and the program's process runs it as a
script (``python -I bridge.py SPEC``).
"""

from __future__ import annotations

import base64
import builtins
import collections
import importlib.util
import json
import os
import select
import struct
import subprocess
import sys
import time
import traceback
import types
import weakref

MODULE_NAME = "glia_program_bridge"
MAX_FRAME = 256 * 1024 * 1024
EVENTS_MAX = 50  # status lines about the program's exceptions (timeouts, crashes and load errors always)


# -- errors the evaluator sees ---------------------------------------------------------------------------------------
class ProgramError(Exception):
    """The candidate program raised (``type_name``, ``program_traceback``: its traceback, in its process)."""

    type_name = "Exception"
    program_traceback = ""


class ProgramTimeout(ProgramError, TimeoutError):
    """The candidate program used up its time: its process was killed."""


class ProgramCrashed(ProgramError):
    """The candidate program's process died (killed by a limit, exited, or was stopped earlier)."""


class EvaluatorError(Exception):
    """(In the program's process) an object of the evaluator raised when the program called it."""

    type_name = "Exception"


_EXC_CLASSES: dict[tuple[type, str], type] = {}
_NOT_MIXED = (SystemExit, KeyboardInterrupt, GeneratorExit, StopIteration, StopAsyncIteration)


def _exception_class(base: type, type_name: str, builtin_name: str = "") -> type:
    """``base``, mixed with the built-in exception class the other side's exception derives from (``builtin_name``,
    or ``type_name`` itself), so that an evaluator's ``except ValueError`` still catches a program's ValueError."""
    builtin_name = builtin_name or type_name
    key = (base, type_name, builtin_name)
    if key not in _EXC_CLASSES:
        builtin = getattr(builtins, builtin_name, None)
        if (isinstance(builtin, type) and issubclass(builtin, Exception) and not issubclass(builtin, _NOT_MIXED)
                and not issubclass(base, builtin)):
            try:
                _EXC_CLASSES[key] = type(type_name, (base, builtin), {"__module__": "program"})
            except TypeError:  # incompatible layouts (e.g. OSError's)
                _EXC_CLASSES[key] = base
        else:
            _EXC_CLASSES[key] = base
    return _EXC_CLASSES[key]


def _builtin_name(exc: BaseException) -> str:
    """The nearest built-in class of ``exc`` (``AttributeError`` for a subclass of it)."""
    return next((c.__name__ for c in type(exc).__mro__ if getattr(builtins, c.__name__, None) is c), "Exception")


# -- the wire --------------------------------------------------------------------------------------------------------
class Channel:
    """Length-prefixed JSON frames over a pair of pipes."""

    def __init__(self, rfd: int, wfd: int):
        self.rfd, self.wfd = rfd, wfd
        self.buf = bytearray()

    def send(self, msg) -> None:
        data = json.dumps(msg, separators=(",", ":"), allow_nan=True).encode()
        if len(data) > MAX_FRAME:
            raise ValueError(f"a message of {len(data)} bytes is over the {MAX_FRAME} byte limit")
        view = memoryview(struct.pack("<I", len(data)) + data)
        while view:
            n = os.write(self.wfd, view)
            view = view[n:]

    def _fill(self, need: int, deadline: float | None) -> None:
        while len(self.buf) < need:
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([self.rfd], [], [], left)[0]:
                    raise TimeoutError
            chunk = os.read(self.rfd, max(65536, need - len(self.buf)))
            if not chunk:
                raise EOFError
            self.buf += chunk

    def recv(self, deadline: float | None = None):
        self._fill(4, deadline)
        (size,) = struct.unpack("<I", self.buf[:4])
        if size > MAX_FRAME:
            raise ValueError(f"a message of {size} bytes is over the {MAX_FRAME} byte limit")
        self._fill(4 + size, deadline)
        data = bytes(self.buf[4:4 + size])
        del self.buf[:4 + size]
        return json.loads(data)


class _Bound:
    """A method of an exported object, sent as (object, name) so that calling it later is one round trip."""

    __slots__ = ("obj", "name")

    def __init__(self, obj, name: str):
        self.obj, self.name = obj, name


class Refused(AttributeError):
    """The program asked the evaluator's process for something it may not have."""


def _numpy(v) -> bool:
    return type(v).__module__ == "numpy"


class Codec:
    """Values to JSON and back. Plain data crosses by copy; other objects are exported by reference (``~r``: an id
    in the sender's table) and come back as themselves (``~p``). ``guarded``: this side is the evaluator's, whose
    objects the program may only use through public attributes (no modules, classes or built-in functions)."""

    def __init__(self, peer: Peer, guarded: bool):
        self.peer, self.guarded = peer, guarded
        self.exports: dict[int, object] = {}
        self.export_ids: dict[int, int] = {}
        self.next_id = 1
        self.proxies: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
        self.released: list[int] = []
        self.tuples: dict[tuple, type] = {}

    def export(self, v) -> int:
        if self.guarded and isinstance(v, (types.ModuleType, type, types.BuiltinFunctionType,
                                           types.BuiltinMethodType, types.FrameType, types.CodeType)):
            raise Refused(f"the evaluator passed the program a {type(v).__name__}; only data, functions and objects "
                          "cross to the program")
        key = id(v)
        if key in self.export_ids and self.exports.get(self.export_ids[key]) is v:
            return self.export_ids[key]
        ref = self.next_id
        self.next_id += 1
        self.exports[ref] = v
        self.export_ids[key] = ref
        return ref

    def encode(self, v):
        t = type(v)
        if v is None or t is bool or t is int or t is float or t is str:
            return v
        if t is list:
            return [self.encode(x) for x in v]
        if t is dict:
            if all(type(k) is str and not k.startswith("~") for k in v):
                return {k: self.encode(x) for k, x in v.items()}
            return {"~d": [[self.encode(k), self.encode(x)] for k, x in v.items()]}
        if t is tuple:
            return {"~t": [self.encode(x) for x in v]}
        if isinstance(v, tuple) and hasattr(t, "_fields") and all(type(f) is str for f in t._fields):
            return {"~nt": [t.__name__, list(t._fields), [self.encode(x) for x in v]]}
        if t is bytes or t is bytearray:
            return {"~b": base64.b64encode(v).decode()}
        if t is set or t is frozenset:
            return {"~s" if t is set else "~f": [self.encode(x) for x in v]}
        if t is complex:
            return {"~c": [v.real, v.imag]}
        if isinstance(v, dict):  # OrderedDict, defaultdict, Counter...: as a plain dict
            return {"~d": [[self.encode(k), self.encode(x)] for k, x in v.items()]}
        if isinstance(v, Remote) and v._codec is self:
            return {"~p": v._ref}
        if t is _Bound:
            return {"~m": [self.export(v.obj), v.name]}
        if _numpy(v):
            if t.__name__ == "ndarray" and v.dtype.kind in "biufc" and not v.dtype.fields:
                return {"~n": [v.dtype.str, list(v.shape), base64.b64encode(v.tobytes()).decode()]}
            if hasattr(v, "item") and getattr(v, "shape", None) == () and v.dtype.kind in "biufc":
                return self.encode(v.item())
        for plain in (int, float, str):  # a subclass of a plain type (an IntEnum, a str Enum): its value
            if isinstance(v, plain):
                return plain(v)
        return {"~r": self.export(v)}

    def decode(self, v):
        t = type(v)
        if t is list:
            return [self.decode(x) for x in v]
        if t is not dict:
            return v
        if len(v) == 1:
            tag, x = next(iter(v.items()))
            if tag.startswith("~"):
                return self._tagged(tag, x)
        return {k: self.decode(x) for k, x in v.items()}

    def _tagged(self, tag: str, x):
        if tag == "~t":
            return tuple(self.decode(e) for e in x)
        if tag == "~d":
            return {self.decode(k): self.decode(e) for k, e in x}
        if tag == "~b":
            return base64.b64decode(x)
        if tag == "~s":
            return {self.decode(e) for e in x}
        if tag == "~f":
            return frozenset(self.decode(e) for e in x)
        if tag == "~c":
            return complex(x[0], x[1])
        if tag == "~nt":
            name, fields, values = x
            key = (str(name), tuple(str(f) for f in fields))
            if key not in self.tuples:
                try:
                    self.tuples[key] = collections.namedtuple(key[0], key[1])
                except ValueError:
                    self.tuples[key] = None
            cls = self.tuples[key]
            vals = [self.decode(e) for e in values]
            return cls(*vals) if cls is not None and len(vals) == len(key[1]) else tuple(vals)
        if tag == "~n":
            import numpy as np  # only reached when the other side sent an array (so numpy is in use)
            dtype = np.dtype(str(x[0]))
            if dtype.kind not in "biufc" or dtype.fields:
                raise ValueError(f"refused array dtype {x[0]!r}")
            return np.frombuffer(base64.b64decode(x[2]), dtype=dtype).reshape([int(s) for s in x[1]]).copy()
        if tag == "~r":
            return self.proxy(int(x))
        if tag == "~m":
            return RemoteMethod(self.proxy(int(x[0])), str(x[1]))
        if tag == "~p":
            try:
                return self.exports[int(x)]
            except KeyError:
                raise ValueError(f"unknown object reference {x}") from None
        raise ValueError(f"unknown tag {tag!r}")

    def proxy(self, ref: int) -> Remote:
        proxy = self.proxies.get(ref)
        if proxy is None:
            proxy = Remote(self, ref)
            self.proxies[ref] = proxy
        return proxy

    def release(self, refs) -> None:
        for ref in refs or ():
            obj = self.exports.pop(int(ref), None)
            if obj is not None and self.export_ids.get(id(obj)) == int(ref):
                del self.export_ids[id(obj)]

    def take_released(self) -> list[int]:
        out, self.released = self.released, []
        return out


class Remote:
    """An object of the other process: attribute access, calls, indexing and iteration are forwarded to it."""

    __slots__ = ("_codec", "_ref", "_methods", "__weakref__")

    def __init__(self, codec: Codec, ref: int):
        object.__setattr__(self, "_codec", codec)
        object.__setattr__(self, "_ref", ref)
        object.__setattr__(self, "_methods", {})

    def _op(self, op: str, *args):
        return self._codec.peer.request(op, self._ref, *args)

    def __getattr__(self, name: str):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        method = self._methods.get(name)
        if method is not None:
            return method
        value = self._op("getattr", name)
        if isinstance(value, RemoteMethod) and value._owner is self:
            self._methods[name] = value  # a method of the object's class: later calls are one round trip each
        return value

    def __setattr__(self, name: str, value) -> None:
        self._methods.pop(name, None)
        self._op("setattr", name, value)

    def __delattr__(self, name: str) -> None:
        self._op("delattr", name)

    def __call__(self, *args, **kwargs):
        return self._op("call", list(args), kwargs)

    def __getitem__(self, key):
        return self._op("getitem", key)

    def __setitem__(self, key, value) -> None:
        self._op("setitem", key, value)

    def __delitem__(self, key) -> None:
        self._op("delitem", key)

    def __len__(self) -> int:
        return self._op("len")

    def __contains__(self, item) -> bool:
        return self._op("contains", item)

    def __iter__(self):
        it = self._op("iter")
        while True:
            try:
                yield it._op("next") if isinstance(it, Remote) else next(it)
            except StopIteration:
                return

    def __bool__(self) -> bool:
        return self._op("bool")

    def __repr__(self) -> str:
        try:
            return self._op("repr")
        except Exception:  # noqa: BLE001 - a repr must not raise
            return f"<remote object {self._ref}>"

    def __str__(self) -> str:
        return self._op("str")

    def __del__(self) -> None:
        try:
            self._codec.released.append(self._ref)
        except Exception:  # noqa: BLE001 - at interpreter exit
            pass


class RemoteMethod:
    """A method of an object of the other process (its class's function, bound to it)."""

    __slots__ = ("_owner", "_name")

    def __init__(self, owner: Remote, name: str):
        self._owner, self._name = owner, name

    def __call__(self, *args, **kwargs):
        return self._owner._op("callmethod", self._name, list(args), kwargs)

    def __repr__(self) -> str:
        return f"<remote method {self._name} of object {self._owner._ref}>"


def _public(name: str) -> str:
    if not isinstance(name, str) or name.startswith("_"):
        raise Refused(f"the program may not reach {name!r} of the evaluator's objects (underscore names are the "
                      "evaluator's own)")
    return name


class Peer:
    """One end of the conversation: sends requests and waits for their answers, serving the other side's requests
    (calls back) meanwhile."""

    def __init__(self, channel: Channel, guarded: bool, error_base: type):
        self.channel = channel
        self.codec = Codec(self, guarded)
        self.error_base = error_base
        self.seq = 0
        self.deadline: float | None = None  # monotonic; None: wait for ever
        self.on_timeout = None               # called (then raises) when the deadline passes
        self.on_eof = None
        self.on_protocol = None              # called (and raises) when the other side broke the protocol

    def request(self, op: str, target: int, *args):
        self.seq += 1
        seq = self.seq
        frame = ["c", seq, op, target, [self.codec.encode(a) for a in args], self.codec.take_released()]
        try:
            self.channel.send(frame)
            while True:
                msg = self._recv()
                kind = msg[0]
                if kind == "c":
                    self.serve(msg)
                elif kind == "r" and msg[1] == seq:
                    self.codec.release(msg[3])
                    return self.codec.decode(msg[2])
                elif kind == "e" and msg[1] == seq:
                    self.codec.release(msg[5])
                    raise self._error(msg[2], msg[3], msg[4], msg[6] if len(msg) > 6 else "")
                else:
                    raise ValueError(f"unexpected message {str(msg)[:200]}")
        except (self.error_base, StopIteration):
            raise
        except Exception as exc:  # noqa: BLE001 - a closed pipe or a malformed message: the other side's doing
            if self.on_protocol is None:
                raise
            self.on_protocol(exc)
            raise

    def _recv(self):
        try:
            return self.channel.recv(self.deadline)
        except TimeoutError:
            if self.on_timeout:
                self.on_timeout()
            raise
        except EOFError:
            if self.on_eof:
                self.on_eof()
            raise

    def _error(self, type_name: str, message: str, tb: str, builtin_name: str = "") -> BaseException:
        if type_name == "StopIteration":
            return StopIteration()
        cls = _exception_class(self.error_base, str(type_name), str(builtin_name))
        exc = cls(message if cls is not self.error_base else f"{type_name}: {message}")
        exc.type_name, exc.program_traceback = str(type_name), str(tb)
        return exc

    def serve(self, msg) -> None:
        _, seq, op, target, args, released = msg
        self.codec.release(released)
        try:
            obj = self.codec.exports[int(target)]
            value = self._apply(obj, op, [self.codec.decode(a) for a in args])
            self.channel.send(["r", seq, self.codec.encode(value), self.codec.take_released()])
        except BaseException as exc:  # noqa: BLE001 - every failure goes back to the caller
            if isinstance(exc, (KeyboardInterrupt, SystemExit)) and not self.codec.guarded:
                pass  # the program's sys.exit() in a call is that call's error, not the end of the conversation
            tb = "" if self.codec.guarded else "".join(traceback.format_exception(exc)[-12:])
            self.channel.send(["e", seq, type(exc).__name__, str(exc)[:2000], tb[-8000:],
                               self.codec.take_released(), _builtin_name(exc)])

    def _apply(self, obj, op: str, args: list):
        g = self.codec.guarded
        if op == "callmethod":
            return getattr(obj, _public(args[0]) if g else args[0])(*args[1], **args[2])
        if op == "getattr":
            name = _public(args[0]) if g else args[0]
            value = getattr(obj, name)
            if (type(value) is types.MethodType and value.__self__ is obj and not isinstance(obj, type)
                    and name not in getattr(obj, "__dict__", {})):
                return _Bound(obj, name)
            return value
        if op == "setattr":
            return setattr(obj, _public(args[0]) if g else args[0], args[1])
        if op == "delattr":
            return delattr(obj, _public(args[0]) if g else args[0])
        if op == "call":
            return obj(*args[0], **args[1])
        if op == "getitem":
            return obj[args[0]]
        if op == "setitem":
            obj[args[0]] = args[1]
            return None
        if op == "delitem":
            del obj[args[0]]
            return None
        if op == "len":
            return len(obj)
        if op == "contains":
            return args[0] in obj
        if op == "iter":
            return iter(obj)
        if op == "next":
            return next(obj)
        if op == "bool":
            return bool(obj)
        if op == "repr":
            return repr(obj)[:2000]
        if op == "str":
            return str(obj)
        raise ValueError(f"unknown operation {op!r}")

    def serve_forever(self) -> None:
        while True:
            try:
                msg = self.channel.recv()
            except EOFError:
                return
            if msg[0] == "x":
                return
            if msg[0] == "c":
                self.serve(msg)


# -- the evaluator's side --------------------------------------------------------------------------------------------
class _Status:
    """Lines about the program for the runner, in a file of the evaluator's process (the program cannot reach it)."""

    def __init__(self, path: str | None):
        self.path = path
        self.raised = 0

    def write(self, event: str, **fields) -> None:
        if not self.path:
            return
        if event == "program_raised":
            self.raised += 1
            if self.raised > EVENTS_MAX:
                return
        line = json.dumps({"event": event, "t": time.time(), **fields}, default=str)
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, (line + "\n").encode())
            finally:
                os.close(fd)
        except OSError:
            pass


class _Program:
    """The running program's process, seen from the evaluator's."""

    def __init__(self, spec: dict, mode: str, argv: list[str] | None = None, stdio: bool = False):
        self.spec = spec
        self.status = _Status(spec.get("status"))
        self.busy_s = 0.0
        self.calls = 0
        self.dead: str | None = None
        host = {"program": spec["program"], "mode": mode, "argv": argv or [spec["program"]], "box": spec["box"],
                "iso": spec["iso"], "confine": spec["confine"]}
        env = {k: v for k, v in spec.get("env", {}).items()}
        if stdio:  # run as a script: the evaluator's streams are the program's
            out, err, pass_fds = None, None, ()
            host["rfd"] = host["wfd"] = -1
        else:
            r1, w1 = os.pipe()
            r2, w2 = os.pipe()
            host["rfd"], host["wfd"] = r1, w2
            pass_fds = (r1, w2)
            out = open(spec["stdout"], "ab") if spec.get("stdout") else subprocess.DEVNULL
            err = open(spec["stderr"], "ab") if spec.get("stderr") else subprocess.DEVNULL
        try:
            self.proc = subprocess.Popen([sys.executable, "-I", spec["bridge"], json.dumps(host)],
                                         stdin=None if stdio else subprocess.DEVNULL, stdout=out, stderr=err,
                                         pass_fds=pass_fds, close_fds=True, cwd=spec["cwd"], env=env)
        finally:
            if not stdio:
                os.close(r1)
                os.close(w2)
                for f in (out, err):
                    if hasattr(f, "close"):
                        f.close()
        if not stdio:
            self.peer = Peer(Channel(r2, w1), guarded=True, error_base=ProgramError)
            self.peer.on_timeout = self._timed_out
            self.peer.on_eof = self._ended
            self.peer.on_protocol = self._broke
            self._wrap_request()

    # the program's time: what it spends answering, within its budget and before the evaluator's own deadline
    def deadline(self) -> float:
        left = self.spec["budget_s"] - self.busy_s
        wall = self.spec.get("deadline_epoch")
        if wall:
            left = min(left, wall - time.time())
        return time.monotonic() + max(0.0, left)

    def _wrap_request(self) -> None:
        raw = self.peer.request

        def request(op, target, *args):
            if self.dead:
                raise ProgramCrashed(f"the program is not running any more ({self.dead})")
            nested = self.peer.deadline is not None
            if not nested:
                self.peer.deadline = self.deadline()
            start = time.monotonic()
            try:
                self.calls += 1
                return raw(op, target, *args)
            except ProgramError as exc:
                probing = op == "getattr" and isinstance(exc, AttributeError)  # hasattr(): not a failure
                if not isinstance(exc, (ProgramTimeout, ProgramCrashed)) and not probing:
                    self.status.write("program_raised", type=exc.type_name, message=str(exc)[:2000],
                                      traceback=exc.program_traceback[-4000:], op=op)
                raise
            finally:
                if not nested:
                    self.busy_s += time.monotonic() - start
                    self.peer.deadline = None
        self.peer.request = request

    def _kill(self) -> None:
        try:
            self.proc.kill()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass

    def _timed_out(self) -> None:
        self._kill()
        self.dead = "it was killed when its time ran out"
        self.status.write("program_timeout", budget_s=self.spec["budget_s"], calls=self.calls)
        raise ProgramTimeout(f"the program did not answer within its time ({self.spec['budget_s']:g} s in all for "
                             "this evaluation, or the evaluation's deadline): it was killed")

    def _ended(self) -> None:
        try:  # the pipe closed: the process is ending (or closed it and carries on: then it is killed)
            code = self.proc.wait(timeout=min(2.0, max(0.5, self.deadline() - time.monotonic())))
        except subprocess.TimeoutExpired:
            self._kill()
            code = self.proc.returncode
        self.dead = f"its process ended with exit status {code}"
        tail = _tail(self.spec.get("stderr"))
        self.status.write("program_crashed", exit=code, stderr=tail)
        what = ("killed by signal " + str(-code)) if code < 0 else f"exited with status {code}"
        raise ProgramCrashed(f"the program's process stopped ({what}); its stderr ends: {tail[-500:]}")

    def _broke(self, exc: Exception) -> None:
        if isinstance(exc, (BrokenPipeError, EOFError)):
            self._ended()
        self._kill()
        self.dead = "it broke the bridge's protocol"
        self.status.write("program_crashed", exit=self.proc.returncode, stderr=f"protocol: {exc}"[:2000])
        raise ProgramCrashed(f"the program's process sent what the bridge cannot read ({type(exc).__name__}: "
                             f"{str(exc)[:200]}): it was stopped")

    def stats(self) -> None:
        self.status.write("program_stats", calls=self.calls, program_s=round(self.busy_s, 6))


def _tail(path: str | None, n: int = 2000) -> str:
    if not path:
        return ""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - n))
            return f.read().decode(errors="replace")
    except OSError:
        return ""


_LIVE: list[_Program] = []


def _stop_all() -> None:
    """At the evaluator's exit: the programs' figures to the status file, then their processes end."""
    for prog in _LIVE:
        prog.stats()
        try:
            prog.peer.channel.send(["x"])
        except (OSError, ValueError):
            pass
        try:
            prog.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            prog._kill()
    _LIVE.clear()


def attach(namespace: dict, spec: dict) -> None:
    """Start the program in its confined process and fill ``namespace`` (the stand-in module's) with its names."""
    import atexit
    prog = _Program(spec, "module")
    if not _LIVE:
        atexit.register(_stop_all)
    _LIVE.append(prog)
    prog.peer.deadline = prog.deadline()
    start = time.monotonic()
    try:
        msg = prog.peer._recv()
    finally:
        prog.busy_s += time.monotonic() - start
        prog.peer.deadline = None
    if msg[0] == "load_error":
        prog.dead = "it failed to load"
        prog.status.write("program_load_error", type=msg[1], message=msg[2], traceback=msg[3])
        cls = _exception_class(ProgramError, msg[1])
        exc = cls(msg[2] if cls is not ProgramError else f"{msg[1]}: {msg[2]}")
        exc.type_name, exc.program_traceback = msg[1], msg[3]
        raise exc
    if msg[0] == "refused":
        prog.dead = "its sandbox could not start"
        prog.status.write("program_sandbox", message=msg[1])
        raise ProgramCrashed(f"the program's sandbox could not start: {msg[1]}")
    prog.status.write("program_loaded", isolation=msg[2], load_s=round(time.monotonic() - start, 4))
    names = prog.peer.codec.decode(msg[1])
    module_ref = Remote(prog.peer.codec, 0)
    namespace.update(names)
    def module_getattr(name: str):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return module_ref._op("getattr", name)
    namespace["__getattr__"] = module_getattr
    namespace["__glia_program__"] = module_ref


def run_main(spec: dict, argv: list[str]) -> int:
    """The stand-in run as a script: the program runs as ``__main__`` in its confined process; its exit status."""
    prog = _Program(spec, "main", argv=[spec["program"], *argv[1:]], stdio=True)
    try:
        code = prog.proc.wait(timeout=max(0.0, prog.deadline() - time.monotonic()))
    except subprocess.TimeoutExpired:
        prog._kill()
        prog.status.write("program_timeout", budget_s=spec["budget_s"], mode="main")
        sys.stderr.write(f"glia: the program did not finish within its time ({spec['budget_s']:g} s): killed\n")
        return 124
    if code != 0:
        prog.status.write("program_exit", exit=code, mode="main")
    return code


def stand_in(spec: dict, program_text: str = "") -> str:
    """The text of the file the evaluator is given instead of the program; the program's own text follows as
    comments, so that an evaluator that reads the file (a blocklist of calls, a length) still reads the program."""
    text = "".join(f"# {line}\n" if line else "#\n" for line in program_text.splitlines())
    return _STAND_IN.format(module=repr(MODULE_NAME), bridge=repr(spec["bridge"]), spec=repr(json.dumps(spec))) + (
        "\n# ---- The candidate program's text, for evaluators that read it (it runs in its own process, not "
        "here) ----\n" + text if text else "")


_STAND_IN = '''# Glia: this file stands in for the candidate program. The program runs in a confined process of its own
# (no access to the evaluator's files, its results or the network); this module forwards every use of its
# functions, classes and values to that process. See glia/tools/programs/bridge.py.
import importlib.util as _glia_util
import sys as _glia_sys

_glia = _glia_sys.modules.get({module})
if _glia is None:
    _glia_spec = _glia_util.spec_from_file_location({module}, {bridge})
    _glia = _glia_util.module_from_spec(_glia_spec)
    _glia_sys.modules[{module}] = _glia
    _glia_spec.loader.exec_module(_glia)
_GLIA_SPEC = {spec}
if __name__ == "__main__":
    _glia_sys.exit(_glia.run_main(_glia.json.loads(_GLIA_SPEC), _glia_sys.argv))
_glia.attach(globals(), _glia.json.loads(_GLIA_SPEC))
del _glia_util, _glia_sys, _glia, _GLIA_SPEC
'''


# -- the program's side ----------------------------------------------------------------------------------------------
def _load_confine(path: str):
    spec = importlib.util.spec_from_file_location("glia_confine", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["glia_confine"] = module
    spec.loader.exec_module(module)
    return module


def _confine(host: dict) -> str:
    """Confine this process before any program code runs; the mechanisms applied."""
    confine = _load_confine(host["confine"])
    iso = confine.Isolation(**host["iso"])
    box = confine.Box(**host["box"])
    applied = confine.apply(box, iso)
    return "+".join(applied) or "none"


def host(host: dict) -> int:
    """This file run as a script: the program's process."""
    sys.dont_write_bytecode = True
    chan = Channel(host["rfd"], host["wfd"]) if host["rfd"] >= 0 else None
    try:
        isolation = _confine(host)
    except BaseException as exc:  # noqa: BLE001 - never run the program unconfined
        if chan:
            chan.send(["refused", f"{type(exc).__name__}: {exc}"])
        sys.stderr.write(f"glia: the program's sandbox could not start: {exc}\n")
        return 126
    path = host["program"]
    sys.path.insert(0, os.path.dirname(path))
    if host["mode"] == "main":
        import runpy
        sys.argv = list(host["argv"])
        runpy.run_path(path, run_name="__main__")  # its SystemExit is this process's exit status
        return 0
    name = os.path.splitext(os.path.basename(path))[0]
    peer = Peer(chan, guarded=False, error_base=EvaluatorError)
    try:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    except BaseException as exc:  # noqa: BLE001 - the program's own failure to load
        chan.send(["load_error", type(exc).__name__, str(exc)[:2000],
                   "".join(traceback.format_exception(exc)[-12:])[-8000:]])
        return 1
    peer.codec.exports[0] = module
    names = {}
    for key, value in vars(module).items():
        if key.startswith("__") or isinstance(value, types.ModuleType):
            continue
        names[key] = value
    chan.send(["ready", peer.codec.encode(names), isolation])
    peer.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(host(json.loads(sys.argv[1])))
