# tries: fetch open() and __import__ from the builtins mapping instead of by name
# kind: forbidden
# message: {policy}:12: the policy names the special attribute '__import__' in a string (functools, type() and
#+  the like would reach it); special attributes are not part of the API
# message: {policy}:12: the policy uses __builtins__, which is not available to policies: use the builtin functions
#+  directly
from glia.simulator import BaseGlobalScheduler


class P(BaseGlobalScheduler):
    def schedule(self):
        self.leak = __builtins__["__import__"]("os").environ
        return [(0, self._request_queue.pop()) for _ in range(len(self._request_queue))]
