# tries: with the audit hook off, add events to the records it sends (a second admission of a request, the
#+ issue's "extra record events accepted unchecked")
# door: policy
# kind: tampered_records
# message: seed 0: the records fail the harness's checks: request 5 was admitted 2 times but restarted 0 times
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
            send = attr(attr(g["sys"], "modules")["glia.simulator.harness.sandbox"], "_send")

            def more(conn, seed, run, err, limits):
                if run is not None:
                    events = attr(run, "events")
                    admit = next(e for e in events if e[1] == "admit" and e[2] == 5)
                    events.append((events[-1][0], "admit", 5, admit[3], admit[4]))
                send(conn, seed, run, err, limits)
            attr(send, dunder("globals"))["_send"] = more
        return [(0, self._request_queue.pop()) for _ in range(len(self._request_queue))]


DONE = []
