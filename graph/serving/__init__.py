"""Serving: a designed policy as a real HTTP router in front of OpenAI-compatible backends, a load generator that
replays a workload against any such endpoint, and the sim-to-real comparison. Needs the ``serve`` extra (aiohttp,
prometheus-client); nothing here is imported by the rest of Glia until a serving command runs."""
