# tries: the getattr gadget (functools.update_wrapper copying a named attribute onto an object of a class
#+ made with three-argument type()) reaches the audit hook's module globals and turns the hook off; then, from the
#+ seed process: descriptors inherited from Glia (multiprocessing's forkserver pipe, its resource tracker), keys in
#+ the environment, a write into the home, a read of /etc/passwd, a signal to its parent, a socket
# door: policy
# kind: ok
# output: guard off: True
# output: open descriptors: [0, 1, 2, 3]
# output: environment beyond locale and PATH: []
# output: write {home}/glia-was-here.txt: PermissionError
# output: read /etc/passwd: PermissionError
# output: signal the parent: PermissionError
# output: socket: PermissionError
import functools

from glia.simulator import BaseGlobalScheduler


def dunder(name):
    return "_" * 2 + name + "_" * 2  # built at run time: the source check refuses the literal


def attr(obj, name):
    got = {}
    sink = type("Sink", (), {dunder("setattr"): lambda self, k, v: got.__setitem__(k, v)})()
    functools.update_wrapper(sink, obj, assigned=(name,), updated=())
    return got[name]


def attempt(what, fn):
    try:
        fn()
        print(f"{what}: done")
    except Exception as exc:
        print(f"{what}: {type(exc).__name__}")


class P(BaseGlobalScheduler):
    def schedule(self):
        if not DONE:
            DONE.append(1)
            g = attr(attr(type(functools), dunder("getattr")), dunder("globals"))
            g["_STATE"]["busy"] = True  # the audit hook now returns at once for every event
            os, sys = g["os"], g["sys"]
            print("guard off:", g["_STATE"]["busy"])
            fstat = attr(os, "fstat")
            fds = []
            for fd in range(1024):
                try:
                    fstat(fd)
                    fds.append(fd)
                except OSError:
                    pass
            print("open descriptors:", fds)
            safe = ("LANG", "LC_ALL", "LC_CTYPE", "LC_NUMERIC", "LC_COLLATE", "LC_MESSAGES", "TZ", "TERM", "PATH")
            print("environment beyond locale and PATH:", sorted(k for k in attr(os, "environ") if k not in safe))
            attempt("write {home}/glia-was-here.txt",
                    lambda: attr(os, "open")("{home}/glia-was-here.txt", 0o101, 0o644))
            attempt("read /etc/passwd", lambda: attr(os, "open")("/etc/passwd", 0))
            attempt("signal the parent", lambda: attr(os, "kill")(attr(os, "getppid")(), 0))
            attempt("socket", lambda: attr(attr(sys, "modules")["socket"], "socket")())
        return [(0, self._request_queue.pop()) for _ in range(len(self._request_queue))]


DONE = []
