"""The agents: Researcher, Analyst, Supervisor, Summarizer, each with an LLM and an offline implementation."""

from .common import GliaContext
from .registry import IMPLEMENTATIONS, ROLES, register, resolve

__all__ = ["GliaContext", "IMPLEMENTATIONS", "ROLES", "register", "resolve"]
