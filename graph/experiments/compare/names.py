"""The comparison's methods, by name (their implementations are in ``methods.py``; the command line reads the
names without loading them)."""

METHODS = ("glia", "offline", "best_shot", "openevolve", "eoh", "funsearch")
