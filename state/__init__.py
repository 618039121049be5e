"""The typed graph state and its reducers."""

from .schema import Budget, GliaState, add_usage, better_design, last_value, merge_by_id

__all__ = ["Budget", "GliaState", "add_usage", "better_design", "last_value", "merge_by_id"]
