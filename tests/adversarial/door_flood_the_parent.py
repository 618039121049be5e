# tries: with the audit hook off, send the harness 100 MB in place of its records (the flood: the
#+ unconfined parent grew from 158 MB to 856 MB reading it)
# door: policy
# kind: tampered_records
# message: seed 0: the seed process sent a message of 104857600 bytes, more than the 16859136 this workload's
#+  records can take; nothing of it was read
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
            modules = attr(g["sys"], "modules")
            send_frame = attr(modules["glia.simulator.harness.wire"], "send_frame")
            send = attr(modules["glia.simulator.harness.sandbox"], "_send")

            def flood(conn, seed, run, err, limits):
                send_frame(conn, bytes(100 << 20))
            attr(send, dunder("globals"))["_send"] = flood
        return [(0, self._request_queue.pop()) for _ in range(len(self._request_queue))]


DONE = []
