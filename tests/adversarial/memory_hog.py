# tries: take all the machine's memory
# kind: memory
# message: the simulation ran out of memory (memory cap reached; MemoryError)
from glia.simulator import BaseGlobalScheduler


class P(BaseGlobalScheduler):
    def schedule(self):
        self.hoard = bytearray(16 * 1024**3)
        return []
