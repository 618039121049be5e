# tries: the forgery: with the audit hook off, wrap the seed process's _send so that every record it sends
#+ claims each request finished halfway between its honest time and the fastest it could alone (never faster than
#+ that, so the physics checks pass), events, makespan and samples made to agree
# door: policy
# kind: tampered_records
# match: seed 0: the records fail the harness's checks: replica \d replayed from the records gives request \d+ (scheduled at|first token at|completed at) [0-9.]+ s; the records say [0-9.]+ s; run again with the policy in a process of its own, it gives mean e2e [0-9.]+ s against the [0-9.]+ s its records claim
import functools

from glia.simulator import BaseGlobalScheduler


def dunder(name):
    return "_" * 2 + name + "_" * 2  # built at run time: the source check refuses the literal


def attr(obj, name):
    got = {}
    sink = type("Sink", (), {dunder("setattr"): lambda self, k, v: got.__setitem__(k, v)})()
    functools.update_wrapper(sink, obj, assigned=(name,), updated=())
    return got[name]


def forge(run, cluster, metrics, np):
    req = attr(run, "requests")
    iso = metrics.request_metrics(run, cluster.execution_model(), cluster.chunk_size)["isolated_s"]
    arr = req["arrived_at"]
    done = arr + np.maximum(iso, 0.5 * (iso + (req["completed_at"] - arr)))
    shift = req["completed_at"] - done
    first = np.minimum(req["first_token_at"], done)
    sched = np.minimum(req["scheduled_at"], first)
    events = []
    for t, kind, rid, rep, value in attr(run, "events"):
        if kind == "complete":
            t = float(done[rid])
        elif kind == "admit" and t == req["scheduled_at"][rid]:
            t = float(sched[rid])
        elif kind != "route":
            t = max(t - float(shift[rid]), float(sched[rid]))
        events.append((t, kind, rid, rep, value))
    events.sort(key=lambda e: e[0])
    req["completed_at"], req["first_token_at"], req["scheduled_at"] = done, first, sched
    run.events, run.makespan_s = events, float(done.max())
    run.samples = [s for s in attr(run, "samples") if s[0] <= run.makespan_s]


class P(BaseGlobalScheduler):
    def schedule(self):
        if not DONE:
            DONE.append(1)
            g = attr(attr(type(functools), dunder("getattr")), dunder("globals"))
            g["_STATE"]["busy"] = True
            modules = attr(g["sys"], "modules")
            sandbox, cluster = modules["glia.simulator.harness.sandbox"], attr(self._config, "cluster")
            send = attr(sandbox, "_send")

            def forged(conn, seed, run, err, limits):
                if run is not None:
                    forge(run, cluster, modules["glia.simulator.metrics"], modules["numpy"])
                send(conn, seed, run, err, limits)
            sandbox_globals = attr(send, dunder("globals"))
            sandbox_globals["_send"] = forged
        rs = self._replica_schedulers
        out = []
        while self._request_queue:
            best = min(rs, key=lambda i: rs[i].num_pending_requests + rs[i].num_active_requests)
            out.append((best, self._request_queue.pop(0)))
        return out


DONE = []
