"""The agents (Researcher, Analyst, Supervisor, Summarizer, each with an LLM and an offline implementation) and the
harness's own nodes."""

from .registry import IMPLEMENTATIONS, ROLES, choose_implementations, register

__all__ = ["IMPLEMENTATIONS", "ROLES", "choose_implementations", "register"]
