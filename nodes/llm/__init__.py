"""The endpoint library: an OpenAI-compatible chat model per role (``client.py``), what an endpoint supports, probed
and cached (``endpoint.py``), the tool and answer modes chosen from that (``modes.py``), replies parsed however a
model writes them (``replies.py``) and structured answers (``structured.py``). Knows no agent."""
