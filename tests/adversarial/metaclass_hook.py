# tries: run code at class creation through a metaclass and __init_subclass__
# kind: forbidden
# message: {policy}:15: the policy class P passes metaclass= to its class statement; metaclasses and class keywords
#+  are not available to policies (subclass BaseGlobalScheduler plainly)
# message: {policy}:16: the policy defines __init_subclass__, a special name policies may not define (ordinary
#+  special methods such as __init__, __lt__, __repr__ are allowed)
from glia.simulator import BaseGlobalScheduler


class Meta(type):
    def __call__(cls, *args, **kwargs):
        return super().__call__(*args, **kwargs)


class P(BaseGlobalScheduler, metaclass=Meta):
    def __init_subclass__(cls):
        pass

    def schedule(self):
        return [(0, self._request_queue.pop()) for _ in range(len(self._request_queue))]
