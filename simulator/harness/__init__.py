"""The harness that runs untrusted policy stacks and records them: benchmarks over seeds (``runner.py``), one forked
and confined process per seed (``sandbox.py``), the policy in a process of its own (``hardened.py``), results that
cross the process boundary as data (``wire.py``) and are checked by the parent (``verify.py``), telemetry in DuckDB
(``telemetry.py``, ``artifacts.py``), and the ``simulate``/``baselines``/``presets`` commands (``cli.py``)."""
