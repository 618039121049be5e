"""Candidate policies run in child processes: every way a policy can go wrong gives a structured error that names
the problem, the caller never crashes or hangs, and the other seeds go on."""

from __future__ import annotations

import pytest

from glia.simulator.harness.sandbox import run_seeds
from tests.support.helpers import small_config

CONFIG = small_config([(i * 0.05, 30 + i, 20) for i in range(40)], num_replicas=2, num_blocks=200)

HEADER = "from glia.simulator import BaseGlobalScheduler\n\nclass P(BaseGlobalScheduler):\n    def schedule(self):\n"

BAD = {
    "exception": "        return [(0, r) for r in self._request_queue] + [1 / 0]\n",
    "invalid_replica": "        out = [(7, r) for r in self._request_queue]\n        self._request_queue.clear()\n"
                       "        return out\n",
    "routed_twice": "        return [(0, r) for r in self._request_queue for _ in range(2)]\n",
    "never_routed": "        return []\n",
    "mutated_request": "        for r in self._request_queue:\n            r.arrived_at = 0.0\n        return []\n",
    "hidden_field": "        return [(0, r) for r in self._request_queue if r.num_decode_tokens > 0]\n",
    "bad_return": "        return None\n",
    "timeout": "        while True:\n            pass\n",
    "memory": "        self.hoard = bytearray(8 * 1024 ** 3)\n        return []\n",
    "crashed": "        x = iter([1])\n        for _ in range(1_000_000):\n            x = map(abs, x)\n"
               "        return list(x)\n",  # CPython 3.11 overflows the C stack: SIGSEGV
}

MESSAGES = {
    "exception": "ZeroDivisionError", "invalid_replica": "replica 7", "routed_twice": "routed twice",
    "never_routed": "never routed", "mutated_request": "request.arrived_at", "hidden_field": "num_decode_tokens",
    "bad_return": "returned None", "timeout": "did not finish within 4 s", "memory": "memory",
    "crashed": "killed by signal 11",
}


@pytest.mark.parametrize("kind", sorted(BAD))
def test_a_bad_policy_gives_a_structured_error(kind, tmp_path):
    path = tmp_path / f"{kind}.py"
    path.write_text(HEADER + BAD[kind])
    [outcome] = run_seeds(CONFIG, str(path), [0], timeout_s=4.0, memory_mb=2048)
    assert outcome.summary is None
    assert outcome.error["kind"] == kind, outcome.error
    assert MESSAGES[kind] in outcome.error["message"]


def test_the_error_names_the_policy_line(tmp_path):
    path = tmp_path / "raises.py"
    path.write_text(HEADER + BAD["exception"])
    [outcome] = run_seeds(CONFIG, str(path), [0], timeout_s=10)
    assert f"{path}:5" in outcome.error["message"]


def test_other_seeds_go_on_when_one_fails(tmp_path):
    path = tmp_path / "flaky.py"
    path.write_text(HEADER + "        if self._config.seed == 1:\n            raise RuntimeError('seed one')\n"
                    "        out = [(0, r) for r in self._request_queue]\n        self._request_queue.clear()\n"
                    "        return out\n")
    outcomes = run_seeds(CONFIG, str(path), [0, 1, 2], jobs=2, timeout_s=20)
    assert [o.error is None for o in outcomes] == [True, False, True]
    assert outcomes[1].error["kind"] == "exception" and "seed one" in outcomes[1].error["message"]
    assert outcomes[0].summary["num_requests"] == 40


def test_a_load_error_is_reported_not_raised(tmp_path):
    path = tmp_path / "broken.py"
    path.write_text("from glia.simulator import BaseGlobalScheduler\n\nclass P(BaseGlobalScheduler)\n")
    [outcome] = run_seeds(CONFIG, str(path), [0], timeout_s=10)
    assert outcome.error == {"kind": "load_error", "message": f"{path}:3: syntax error: expected ':'"}


def test_seed_processes_inherit_nothing_run_in_sessions_of_their_own_and_stop_on_the_parents_hook(tmp_path):
    """The ux hook: Ctrl-C goes to the parent only (children are in sessions of their own), which stops them."""
    import os
    import threading
    import time

    from glia.simulator.harness import sandbox, zygote

    path = tmp_path / "slow.py"
    path.write_text(HEADER + "        while True:\n            pass\n")
    out = {}
    earlier = {id(c) for c in list(zygote._LIVE)}
    t = threading.Thread(target=lambda: out.update(r=run_seeds(CONFIG, str(path), [0, 1], timeout_s=120)))
    t.start()

    def mine():
        return [c for c in list(zygote._LIVE) if id(c) not in earlier and not c.poll()]

    def in_own_session(c):
        try:
            return os.getsid(c.pid) == c.pid != os.getsid(0)
        except ProcessLookupError:
            return False

    deadline = time.monotonic() + 60  # the children take their sessions first thing, but first they must start
    while time.monotonic() < deadline and not (len(mine()) == 2 and all(map(in_own_session, mine()))):
        time.sleep(0.05)
    assert len(mine()) == 2 and all(map(in_own_session, mine()))
    assert sandbox.stop_all() >= 2
    t.join(60)
    assert [o.error["kind"] for o in out["r"]] == ["crashed", "crashed"]
    assert "killed by signal 9" in out["r"][0].error["message"]


def test_the_parent_reads_no_more_than_a_workloads_records_can_take(tmp_path):
    import socket

    from glia.simulator.harness import wire

    a, b = socket.socketpair()
    inbox = wire.Inbox(a)
    wire.send_frame(b, b"x" * 100)
    b.sendall(wire.FRAME.pack(1 << 40))  # announces a terabyte
    inbox.pump(1000)
    assert inbox.frames == [b"x" * 100] and inbox.too_big == 1 << 40 and len(inbox.buf) == 8
    assert wire.max_bytes(8241) == wire.BASE_BYTES + 8241 * wire.PER_REQUEST_BYTES < 40 << 20
    inbox.close()
    b.close()
