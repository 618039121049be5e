# tries: run code hidden in a string annotation, evaluated by typing.get_type_hints (no eval in the source)
# kind: forbidden
# message: {policy}:16: the policy uses typing.get_type_hints, which is not available to policies (see
#+  simulator/policy/policy_api.md)
import typing

from glia.simulator import BaseGlobalScheduler


def probe(x: "__import__('os').getcwd()"):
    return x


class P(BaseGlobalScheduler):
    def schedule(self):
        self.leak = typing.get_type_hints(probe)
        return [(0, self._request_queue.pop()) for _ in range(len(self._request_queue))]
