"""A cache eviction policy. The evaluator owns the cache (which objects are in it, how much room is left) and replays
request traces through it; this policy decides, on each miss, which objects leave to make room, and may decline to
admit an object. The score is the fraction of requests that hit."""

from collections import OrderedDict

# EVOLVE-BLOCK-START
# the share of the capacity kept for objects requested again since they were admitted (a segmented LRU: new objects
# wait in a probation segment and are evicted from it first); 0.0: no protected segment, plain LRU
PROTECTED_FRACTION = 0.0


class EvictionPolicy:
    """Least recently used: evict the objects not requested for the longest time (with PROTECTED_FRACTION > 0, a
    segmented LRU)."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self.order = OrderedDict()      # probation: key -> size, least recently used first
        self.protected = OrderedDict()  # requested again since admitted: key -> size, least recently used first
        self.protected_size = 0

    def on_request(self, key: int, size: int, hit: bool, free: int) -> list:
        """Called for every request, in trace order. ``hit``: the object is in the cache; ``free``: the room left
        (in the same units as ``size``). On a miss, return the keys of cached objects to evict; the evaluator evicts
        them and admits the object if it then fits (return [] to leave the cache as it is). On a hit, return []."""
        if hit:
            if key in self.protected:
                self.protected.move_to_end(key)
            elif PROTECTED_FRACTION > 0:
                self.protected[key] = self.order.pop(key)
                self.protected_size += size
                while self.protected_size > PROTECTED_FRACTION * self.capacity and self.protected:
                    old, old_size = self.protected.popitem(last=False)  # back to probation, most recent there
                    self.protected_size -= old_size
                    self.order[old] = old_size
            else:
                self.order.move_to_end(key)
            return []
        victims = []
        while free < size and (self.order or self.protected):
            segment = self.order if self.order else self.protected
            old, old_size = segment.popitem(last=False)
            if segment is self.protected:
                self.protected_size -= old_size
            victims.append(old)
            free += old_size
        if free >= size:
            self.order[key] = size
        return victims
# EVOLVE-BLOCK-END
