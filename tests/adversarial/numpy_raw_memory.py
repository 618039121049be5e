# tries: raw memory through numpy: as_strided past an array's end, and an object exposing __array_interface__
# kind: forbidden
# message: {policy}:13: the policy reads .__array_interface__: special attributes are not part of the API (see
#+  simulator/policy/policy_api.md)
# message: {policy}:18: the policy uses .as_strided: raw memory views are not available to policies
import numpy as np

from glia.simulator import BaseGlobalScheduler


class Window:
    def __init__(self, address):
        self.__array_interface__ = {"data": (address, True), "shape": (64,), "typestr": "|u1", "version": 3}


class P(BaseGlobalScheduler):
    def schedule(self):
        self.leak = np.lib.stride_tricks.as_strided(np.zeros(1), shape=(10**6,), strides=(8,))
        return [(0, self._request_queue.pop()) for _ in range(len(self._request_queue))]
