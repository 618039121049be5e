# tries: the first door: a policy that `glia simulate` runs confined, served by `glia route`, where it ran
#+ in the router's own process: with the audit hook off it writes into the home and counts the environment's keys
# door: route
# output: write {home}/glia-was-here.txt: PermissionError
# output: keys, tokens or endpoints in the environment: []
import functools

from glia.simulator import BaseGlobalScheduler


def dunder(name):
    return "_" * 2 + name + "_" * 2  # built at run time: the source check refuses the literal


def attr(obj, name):
    got = {}
    sink = type("Sink", (), {dunder("setattr"): lambda self, k, v: got.__setitem__(k, v)})()
    functools.update_wrapper(sink, obj, assigned=(name,), updated=())
    return got[name]


class P(BaseGlobalScheduler):
    def schedule(self):
        if not DONE:
            DONE.append(1)
            g = attr(attr(type(functools), dunder("getattr")), dunder("globals"))
            g["_STATE"]["busy"] = True
            os = g["os"]
            try:
                attr(os, "close")(attr(os, "open")("{home}/glia-was-here.txt", 0o101, 0o644))
                print("write {home}/glia-was-here.txt: done")
            except Exception as exc:
                print(f"write {home}/glia-was-here.txt: {type(exc).__name__}")
            words = ("KEY", "TOKEN", "SECRET", "URL", "ENDPOINT")
            print("keys, tokens or endpoints in the environment:",
                  sorted(k for k in attr(os, "environ") if any(w in k.upper() for w in words)))
        rs = self._replica_schedulers
        return [(min(rs, key=lambda i: rs[i].num_active_requests), r) for r in self._request_queue]


DONE = []
