"""The batch (admission) policy API: which pending request a replica admits next, if any.

A replica asks its policy whenever it could admit a request (token budget, batch-size cap and a pending request
permitting); the replica itself then checks memory. The API is documented in ``simulator/policy/batch_policy_api.md``.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from glia.simulator.request import Request


class BaseBatchPolicy:
    """Base class of batch policies; one instance per replica.

    ``next_index(pending, replica)`` returns the index in ``pending`` of the request to admit next, or None to admit
    nothing now. Readable state: ``_config`` (the cluster settings and the seed), ``rng`` (seeded with the run's
    seed), and the replica and requests as documented.
    """

    def __init__(self, config: Any = None):
        self._config = config
        self.rng = random.Random(getattr(config, "seed", 0))

    def next_index(self, pending: Sequence[Request], replica: Any) -> int | None:
        raise NotImplementedError
