"""A cache eviction policy. The evaluator owns the cache (which objects are in it, how much room is left) and replays
request traces through it; this policy decides, on each miss, which objects leave to make room, and may decline to
admit an object. The score is the fraction of requests that hit."""

from collections import OrderedDict


# EVOLVE-BLOCK-START
# objects larger than this share of the capacity are not admitted (1.0: admit everything, plain LRU)
ADMIT_MAX_FRACTION = 1.0


class EvictionPolicy:
    """Least recently used: evict the objects not requested for the longest time."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self.order = OrderedDict()  # key -> size, least recently used first

    def on_request(self, key: int, size: int, hit: bool, free: int) -> list:
        """Called for every request, in trace order. ``hit``: the object is in the cache; ``free``: the room left
        (in the same units as ``size``). On a miss, return the keys of cached objects to evict; the evaluator evicts
        them and admits the object if it then fits (return [] to leave the cache as it is). On a hit, return []."""
        if hit:
            self.order.move_to_end(key)
            return []
        if ADMIT_MAX_FRACTION < 1.0 and size > ADMIT_MAX_FRACTION * self.capacity:
            return []  # not admitted: the cache stays as it is
        victims = []
        while free < size and self.order:
            old, old_size = self.order.popitem(last=False)
            victims.append(old)
            free += old_size
        if free >= size:
            self.order[key] = size
        return victims
# EVOLVE-BLOCK-END
