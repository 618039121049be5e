"""The rule-driven (offline) researcher and its design spaces: the node (``researcher.py``), the spaces by kind of
task (``spaces.py``, one ``*_designs.py`` per space) and the rules they share (``rules.py``). A space that starts
from a known design says so."""
