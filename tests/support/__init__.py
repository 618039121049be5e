"""What tests and benchmarks share: emulated OpenAI-compatible servers (``servers.py``), an emulated vLLM backend
(``emulated_backend.py``), real llama-cpp-python servers (``llama_servers.py``), scripted chat models (``fakes.py``)
and small configurations (``helpers.py``). Import as ``tests.support.X`` (the repository root is on ``sys.path``
under pytest, and for ``python -m benchmarks.NAME``)."""
