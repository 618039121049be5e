"""The four roles of a run, by name (their implementations are in ``registry.py``)."""

ROLES = ("researcher", "analyst", "supervisor", "summarizer")
