# tries: crash the interpreter (CPython 3.11 overflows the C stack on deeply nested iterators: SIGSEGV)
# timeout: 120
# kind: crashed
# message: the simulation process was killed by signal 11
from glia.simulator import BaseGlobalScheduler


class P(BaseGlobalScheduler):
    def schedule(self):
        x = iter([1])
        for _ in range(1_000_000):
            x = map(abs, x)
        return list(x)
