"""One replica's scheduler, in the vLLM / Sarathi style, with runs of identical iterations skipped in closed form.

Queues: ``pending`` (routed here, nothing allocated) and ``active`` (KV blocks allocated, ordered by arrival).
Each iteration: every decoding request adds one token and needs a new 16-token block whenever its processed count
reaches ``16 k + 1``; if no block is free the youngest active request is preempted (blocks freed, progress lost,
back to the front of the pending queue, recomputed later with its processed tokens as the new prompt). Requests in
prefill then take chunks from the token budget in arrival order, and pending requests are admitted (blocks for the
whole prompt, a 1 % watermark kept free) while the budget, the batch-size cap and memory allow, in the order the
batch policy chooses. When the policy declines to admit, or its choice does not fit, it is asked again only once the
queues change (an arrival, a completion, a preemption): until then memory only shrinks and the pending queue is the
same, so stepping and skipping a run of iterations give the same schedule for any policy.

A decoding request's processed count is ``base + epoch`` where ``epoch`` counts this replica's iterations, so a
decode-only stretch with no admission, completion or preemption (a *run*) is applied in O(1): its iteration times
form an arithmetic series and its block needs repeat every 16 iterations.
"""

from __future__ import annotations

import heapq
import math
from bisect import bisect_right, insort
from dataclasses import dataclass
from itertools import accumulate
from operator import attrgetter
from typing import TYPE_CHECKING

from glia.simulator.execution import ExecutionModel
from glia.simulator.policy.batch import BaseBatchPolicy
from glia.simulator.request import Request

if TYPE_CHECKING:
    from glia.simulator.clock import Clock, Log


# the sort key of age, older first: (arrival time, id)
_age = attrgetter("_r_arr", "_r_id")


@dataclass(frozen=True)
class ReplicaConfig:
    """Per-replica scheduler settings (vidur's names where they exist)."""

    num_blocks: int
    block_size: int = 16
    chunk_size: int = 8192
    batch_size_cap: int = 128
    watermark_fraction: float = 0.01

    @property
    def watermark_blocks(self) -> int:
        return int(self.watermark_fraction * self.num_blocks)


IDLE, ITERATION, RUN = 0, 1, 2


class ReplicaAPI:
    """What a global scheduler may read of a replica (``simulator/policy/policy_api.md``), whatever holds the state: a
    ``ReplicaHandle`` on a live replica, or the hardened mode's view. Queues are tuples: a policy reads them, it does
    not change them."""

    __slots__ = ()

    def _state(self) -> tuple:  # (replica id, pending, active, config)
        raise NotImplementedError

    def _blocks(self) -> int:  # KV blocks allocated now
        raise NotImplementedError

    replica_id = property(lambda self: self._state()[0])
    pending_queue = _request_queue = property(lambda self: tuple(self._state()[1]))
    active_queue = _active_queue = property(lambda self: tuple(self._state()[2]))
    num_pending_requests = property(lambda self: len(self._state()[1]))
    num_active_requests = property(lambda self: len(self._state()[2]))
    num_allocated_blocks = _num_allocated_blocks = property(lambda self: self._blocks())
    _config = property(lambda self: self._state()[3])
    num_blocks = property(lambda self: self._state()[3].num_blocks)
    block_size = property(lambda self: self._state()[3].block_size)
    memory_usage_percent = property(lambda self: 100.0 * self._blocks() / self._state()[3].num_blocks)
    free_blocks = property(lambda self: self._state()[3].num_blocks - self._blocks())


class ReplicaHandle(ReplicaAPI):
    """A policy's handle on a live replica: the documented reads and nothing else (the replica itself, with its
    engine-side methods and lists, is behind a private name the policy check refuses)."""

    __slots__ = ("_rep",)

    def __init__(self, rep: ReplicaScheduler):
        self._rep = rep

    def _state(self) -> tuple:
        r = self._rep
        return r.replica_id, r.pending, r.active, r._config

    def _blocks(self) -> int:
        return self._rep.num_allocated_blocks

    # the reads a router makes of every replica at every call, each straight from the replica (the same values as
    # ReplicaAPI's, without building the state tuple): routing cost grows with the replica count through these
    replica_id = property(attrgetter("_rep.replica_id"))
    pending_queue = _request_queue = property(lambda self: tuple(self._rep.pending))
    active_queue = _active_queue = property(lambda self: tuple(self._rep.active))
    num_pending_requests = property(lambda self: len(self._rep.pending))
    num_active_requests = property(lambda self: len(self._rep.active))
    num_blocks = property(attrgetter("_rep._num_blocks"))
    block_size = property(attrgetter("_rep._block_size"))

    @property
    def now(self) -> float:
        """The simulated time, seconds (documented for batch policies, which are asked at moments of their own)."""
        return self._rep._clock.now


class ReplicaScheduler:
    """Replica-level scheduler; what a global scheduler may read is documented in ``simulator/policy/policy_api.md``."""

    def __init__(self, replica_id: int, config: ReplicaConfig, model: ExecutionModel, batch_policy: BaseBatchPolicy,
                 clock: Clock, log: Log, totals: list[int] | dict[int, int], fast: bool = True):
        self.replica_id = replica_id
        self._totals = totals  # request id -> prompt + decode length, owned by the engine (never on the request)
        self._config = config
        # the settings read at every iteration, as plain attributes (the configuration is frozen)
        self._num_blocks, self._block_size = config.num_blocks, config.block_size
        self._chunk_size, self._batch_cap = config.chunk_size, config.batch_size_cap
        self._watermark = config.watermark_blocks
        self._model = model
        self._coefficients: dict[int, tuple[float, float]] = {}  # decode batch size -> the model's coefficients
        self._policy = batch_policy
        self._clock = clock
        self._log = log
        self._fast = fast
        self.pending: list[Request] = []
        self.active: list[Request] = []
        self._prefilling: list[Request] = []
        self._buckets: list[dict[int, Request]] = [{} for _ in range(config.block_size)]
        # the buckets' sizes in reverse order, twice over (bucket b at block_size - 1 - b and 2 block_size - 1 - b):
        # the sizes in the order the iterations from the current epoch reach them are then one slice (_order_start)
        self._sizes = [0] * (2 * config.block_size)
        self._n_dec = 0
        self._sum_base = 0
        self._heap: list[tuple[int, float, int, int, Request]] = []
        self.epoch = 0
        self.alloc = 0
        self.busy_time = 0.0
        self.num_iterations = 0
        self.num_preemptions = 0
        self.version = 0
        self._kind = IDLE
        self._seg_start = 0.0
        self._seg_end = math.inf
        self._plan: list[tuple[Request, int]] = []
        self._run_len = 0
        self._run_t0 = 0.0
        self._run_g = 0.0
        self._synced_at = -1.0
        self._blocked = False  # the batch policy declined, or its choice did not fit, since the queues last changed
        self.accepting = True
        self.handle = ReplicaHandle(self)  # what a policy gets of this replica (its batch policy too)

    # -- what the engine reads (a policy reads a ReplicaHandle) ------------------------------------------------
    @property
    def num_blocks(self) -> int:
        return self._config.num_blocks

    @property
    def num_allocated_blocks(self) -> int:
        self._sync_now()
        return self.alloc

    def current_epoch(self) -> int:
        if self._kind == RUN and self._clock.now > self._synced_at:
            self._sync(self._clock.now)
        return self.epoch

    @property
    def is_idle(self) -> bool:
        return self._kind == IDLE

    @property
    def next_event_time(self) -> float:
        return self._seg_end

    # -- engine side ------------------------------------------------------------------------------------------
    def enqueue(self, request: Request, now: float) -> bool:
        """Add a routed request to the pending queue. Returns True when the replica's next event time changed."""
        request._r_replica_id = self.replica_id
        self.pending.append(request)
        self._blocked = False
        if self._kind == IDLE:
            self._start_segment(now)
            return True
        if self._kind == RUN:
            self._sync(now)
            if self._run_len > 1:  # stop the run after the iteration in flight, so the new request is seen
                self._run_len = 1
                self._seg_end = self._seg_start + self._run_t0
                self.version += 1
                return True
        return False

    def on_segment_end(self) -> list[Request]:
        """Apply the iteration (or run) that ends now, plan the next one; return the requests completed."""
        now = self._seg_end
        done: list[Request] = []
        if self._kind == RUN:
            self._apply_run(self._run_len)
        elif self._kind == ITERATION:
            self._finish_iteration(now, done)
        self._start_segment(now)
        return done

    # -- runs -----------------------------------------------------------------------------------------------
    def _sync_now(self) -> None:
        if self._kind == RUN and self._clock.now > self._synced_at:
            self._sync(self._clock.now)

    def _sync(self, t: float) -> None:
        """Apply the iterations of the current run that have completed by time ``t``."""
        self._synced_at = t
        k = self._done_by(t)
        if k:
            self._apply_run(k)

    def _done_by(self, t: float) -> int:
        """How many iterations of the current run have completed by time ``t`` (changes nothing)."""
        span = t - self._seg_start
        if span <= 0.0:
            return 0
        t0, g, n = self._run_t0, self._run_g, self._run_len
        if g > 0.0:
            b = t0 - 0.5 * g
            k = int((-b + math.sqrt(b * b + 2.0 * g * span)) / g)
        else:
            k = int(span / t0)
        k = min(max(k, 0), n)
        # the closed form's rounding corrected with the series itself (the run's first k iterations last
        # k * t0 + g * k * (k - 1) * 0.5: this expression, spelt the same wherever it is used, is the run's clock)
        while k < n:
            k1 = k + 1
            if k1 * t0 + g * k1 * (k1 - 1) * 0.5 > span:
                break
            k = k1
        while k > 0 and k * t0 + g * k * (k - 1) * 0.5 > span:
            k -= 1
        return k

    def peek(self) -> tuple[int, int]:
        """(iteration counter, allocated blocks) as a policy reading them now would see them, without applying the
        run's completed iterations (reading does that; the hardened mode's engine does it only for the replicas the
        remote policy read, so both modes evolve identically)."""
        if self._kind == RUN and self._clock.now > self._synced_at:
            k = self._done_by(self._clock.now)
            if k:
                return self.epoch + k, self.alloc + self._run_need(min(k + 1, self._run_len)) - self._run_need(1)
        return self.epoch, self.alloc

    def _order_start(self) -> int:
        """Where the bucket sizes start in ``_sizes`` in the order the next iterations reach them: the decoding
        requests that cross a block boundary in the next iteration are bucket ``(1 - epoch) % block_size``, in the
        one after it the bucket before that, and so on, wrapping."""
        bs = self._block_size
        return bs - 1 - (1 - self.epoch) % bs

    def _run_need(self, k: int) -> int:
        """Blocks the decoding requests need over the next ``k`` iterations: one each for every full block size of
        iterations, and one each for the buckets the rest reach."""
        bs = self._block_size
        start = bs - 1 - (1 - self.epoch) % bs  # _order_start()
        return (k // bs) * self._n_dec + sum(self._sizes[start:start + k % bs])

    def _apply_run(self, k: int) -> None:
        """Advance the run by ``k`` completed iterations. ``alloc`` always includes the blocks of the iteration in
        flight, as it does for single iterations, so a policy sees the same state either way."""
        t0, g = self._run_t0, self._run_g
        dt = k * t0 + g * k * (k - 1) * 0.5  # the first k iterations (an arithmetic series)
        m = min(k + 1, self._run_len)
        if m > 1:  # (nothing when the run ends now: the blocks of its last iteration are counted already)
            self.alloc += self._run_need(m) - self._run_need(1)
        self.epoch += k
        self.busy_time += dt
        self.num_iterations += k
        self._seg_start += dt
        self._run_t0 = t0 + g * k
        self._run_len -= k

    def _need_prefix(self) -> list[int]:
        """prefix[j] = blocks the decoding requests need over the next j iterations (j < block_size)."""
        start = self._order_start()
        return list(accumulate(self._sizes[start:start + self._block_size - 1], initial=0))

    def _try_run(self, now: float) -> bool:
        """Start a run of decode-only iterations if the state allows one of at least one iteration."""
        n_dec = self._n_dec
        if self._prefilling or not n_dec or (self.pending and self._can_admit()):
            return False
        heap = self._heap
        while heap:  # drop the entries of requests that completed or were preempted (see _valid)
            r = heap[0][4]
            if r._r_rep is self and r._r_decoding and r._r_gen == heap[0][3]:
                break
            heapq.heappop(heap)
        epoch = self.epoch
        first_completion = heap[0][0] - epoch - 1  # index of the iteration that completes a request
        # the run stops before the first iteration whose needs would use the last free block (see _preempt_walk)
        free = self._num_blocks - self.alloc - 1
        if free < 0:
            return False
        bs = self._block_size
        full, rest = divmod(free, n_dec)
        if first_completion < full * bs:  # a request completes before memory can run short
            n = first_completion
        else:
            # prefix is non-decreasing from 0 and rest < n_dec: j, the last index with prefix[j] <= rest
            exhaustion = full * bs + bisect_right(self._need_prefix(), rest) - 1  # the first iteration short of blocks
            n = min(first_completion, exhaustion)
        if n < 1:
            return False
        base, per = self._decode_coefficients(n_dec)
        self._run_t0 = t0 = base + per * (self._sum_base + n_dec * epoch)
        self._run_g = g = per * n_dec
        self._run_len = n
        self.alloc += self._run_need(1)  # blocks of the first iteration, allocated as it starts
        self._kind = RUN
        self._seg_start = now
        self._seg_end = now + (n * t0 + g * n * (n - 1) * 0.5)  # the run's n iterations
        return True

    def _decode_coefficients(self, n_dec: int) -> tuple[float, float]:
        """The execution model's decode-time coefficients for ``n_dec`` sequences, computed once per batch size (the
        same floats: a pure function of the batch size)."""
        out = self._coefficients.get(n_dec)
        if out is None:
            out = self._coefficients[n_dec] = self._model.decode_time_coefficients(n_dec)
        return out

    # -- single iterations ----------------------------------------------------------------------------------
    def _can_admit(self) -> bool:
        if self._blocked or not self.pending or len(self.active) >= self._batch_cap:
            return False
        i = self._policy.next_index(self.pending, self.handle)
        if i is not None:
            need = -(-self.pending[i]._r_prompt // self._block_size)
            if self._num_blocks - self.alloc - need >= self._watermark:
                return True
        self._blocked = True
        return False

    def _start_segment(self, now: float) -> None:
        self.version += 1
        self._seg_start = now
        if self._fast and self._try_run(now):
            return
        if not self._plan_iteration(now):
            self._kind = IDLE
            self._seg_end = math.inf

    def _plan_iteration(self, now: float) -> bool:
        bs, num_blocks = self._block_size, self._num_blocks
        needers = self._buckets[(1 - self.epoch) % bs]
        if len(needers) < num_blocks - self.alloc:
            self.alloc += len(needers)
        elif self._n_dec:
            self._preempt_walk(needers, now)
        n_dec = self._n_dec
        budget = self._chunk_size - n_dec
        processed = self._sum_base + n_dec * self.epoch
        # the batch's shape, summed in plan order as the plan is made (ExecutionModel.iteration_time's arguments):
        # new tokens, sequences that emit a token, attention units q * (p + (q + 1) / 2), KV tokens read
        tokens, emitting, units, kv = n_dec, n_dec, float(processed), float(processed)
        plan: list[tuple[Request, int]] = []
        for r in self._prefilling:
            if budget <= 0:
                break
            p = r._r_n
            q = min(r._r_prompt - p, budget)
            plan.append((r, q))
            budget -= q
            tokens += q
            units += q * (p + (q + 1) * 0.5)
            kv += p + q
            if p + q == r._r_prompt:
                emitting += 1
        pending, active, cap = self.pending, self.active, self._batch_cap
        while pending and budget > 0 and len(active) < cap and not self._blocked:
            i = self._policy.next_index(pending, self.handle)
            if i is None:
                self._blocked = True
                break
            r = pending[i]
            need = -(-r._r_prompt // bs)
            if num_blocks - self.alloc - need < self._watermark:
                self._blocked = True
                break
            del pending[i]
            self.alloc += need
            insort(active, r, key=_age)
            insort(self._prefilling, r, key=_age)
            r._r_rep = self
            r._r_n = 0
            if r._r_t_sched != r._r_t_sched:  # NaN: first admission
                r._r_t_sched = now
            self._log.add(now, "admit", r._r_id, self.replica_id, r._r_prompt)
            q = min(r._r_prompt, budget)
            plan.append((r, q))
            budget -= q
            tokens += q
            units += q * ((q + 1) * 0.5)  # p = 0
            kv += q
            if q == r._r_prompt:
                emitting += 1
        if not plan and not n_dec:
            return False
        self._plan = plan
        self._kind = ITERATION
        self._seg_end = now + self._model.iteration_time(tokens, emitting, n_dec + len(plan), units, kv)
        return True

    def _preempt_walk(self, needers: dict[int, Request], now: float) -> None:
        """vLLM's rule when blocks run short: walk the decoding requests oldest first; each needs at least one free
        block to be scheduled (and takes one if it crosses a block boundary); while none is free, the youngest
        active request is preempted, possibly the one being considered."""
        num_blocks = self._num_blocks
        for r in [a for a in self.active if a._r_decoding]:
            if r._r_rep is not self:
                continue  # preempted earlier in this walk
            while self.alloc >= num_blocks:
                victim = self.active[-1]
                self._preempt(victim, now)
                if victim is r:
                    break
            else:
                if r._r_id in needers:
                    self.alloc += 1

    def _finish_iteration(self, now: float, done: list[Request]) -> None:
        self.busy_time += now - self._seg_start
        self.num_iterations += 1
        self.epoch += 1
        epoch, bs, totals = self.epoch, self._block_size, self._totals
        for r, q in self._plan:
            if r._r_rep is not self:
                continue
            r._r_n += q
            if r._r_n < r._r_prompt:
                continue
            self._prefilling.remove(r)
            r._r_n += 1  # the prefill's last iteration samples the first output token
            if r._r_t_first != r._r_t_first:
                r._r_t_first = now
            if r._r_n >= totals[r._r_id]:
                self.alloc -= -(-r._r_prompt // bs)
                self._complete(r, now, done)
                continue
            base = r._r_n - epoch
            r._r_base = base
            r._r_decoding = True
            b = base % bs
            self._buckets[b][r._r_id] = r
            self._sizes[bs - 1 - b] += 1
            self._sizes[2 * bs - 1 - b] += 1
            self._n_dec += 1
            self._sum_base += base
            heapq.heappush(self._heap, (totals[r._r_id] - base, r._r_arr, r._r_id, r._r_gen, r))
        self._plan = []
        heap = self._heap
        while heap and heap[0][0] <= epoch:
            entry = heapq.heappop(heap)
            if self._valid(entry):
                r = entry[4]
                self._drop_decoder(r)
                r._r_n = self._totals[r._r_id]
                self._complete(r, now, done)

    def _valid(self, entry) -> bool:
        r = entry[4]
        return r._r_rep is self and r._r_decoding and r._r_gen == entry[3]

    def _drop_decoder(self, r: Request) -> None:
        """Take a decoding request out of the decode structures, freeing its blocks."""
        bs = self._block_size
        base = r._r_base
        b = base % bs
        del self._buckets[b][r._r_id]
        self._sizes[bs - 1 - b] -= 1
        self._sizes[2 * bs - 1 - b] -= 1
        self._n_dec -= 1
        self._sum_base -= base
        n = base + self.epoch
        self.alloc -= -(-(n - 1) // bs)
        r._r_decoding = False
        r._r_n = n

    def _complete(self, r: Request, now: float, done: list[Request]) -> None:
        self.active.remove(r)
        self._blocked = False
        r._r_rep = None
        r._r_t_done = now
        self._log.add(now, "complete", r._r_id, self.replica_id, r._r_n)
        done.append(r)

    def _preempt(self, r: Request, now: float) -> None:
        """Evict ``r``: free its blocks, lose its progress, put it at the front of the pending queue."""
        if r._r_decoding:
            self._drop_decoder(r)
        else:
            self._prefilling.remove(r)
            self.alloc -= -(-r._r_prompt // self._block_size)
        self.active.remove(r)
        lost = r._r_n
        r._r_prompt = max(r._r_orig_prompt, lost)
        r._r_wasted += lost
        r._r_n = 0
        r._r_restarts += 1
        r._r_gen += 1
        r._r_rep = None
        self.num_preemptions += 1
        self.pending.insert(0, r)
        self._blocked = False
        self._log.add(now, "preempt", r._r_id, self.replica_id, lost)
