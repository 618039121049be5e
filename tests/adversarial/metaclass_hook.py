# tries: run code at class creation through a metaclass and __init_subclass__
from glia.simulator import BaseGlobalScheduler


class Meta(type):
    def __call__(cls, *args, **kwargs):
        return super().__call__(*args, **kwargs)


class P(BaseGlobalScheduler, metaclass=Meta):
    def __init_subclass__(cls):
        pass

    def schedule(self):
        return [(0, self._request_queue.pop()) for _ in range(len(self._request_queue))]
