"""Run-wide limits of the orchestrator: stop signals, the spend cap and adaptive render slots.

- :class:`Stop`: Ctrl-C (cancel everything), "no more creates" (after a 401/402) and abort
  (the service cannot be reached at all: cancel everything and report that one error).
- :class:`BudgetGuard`: a create is only sent when its cost still fits under ``--budget``.
- :class:`AdaptiveLimiter`: at most N renders at once; a 429 lowers N and pauses new creates
  for ``Retry-After``; successful creates raise it back one step at a time. A free slot goes to
  the job with the lowest priority number that is waiting for one or still on its way to ask
  (``expect``): the runner ranks the longest sections first, and a long section still uploading
  is not overtaken by a short one that uploaded faster. Each slot of this run is also an
  account slot of its ``SlotPool`` (``otio_heygen.run.slots``): on a team ledger the account's
  limit holds across every workstation.

Used by ``otio_heygen.run.runner`` and ``otio_heygen.run.job``; no I/O here, time is injected.
(When renders are polled is ``otio_heygen.run.poll``'s business.)
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable

from otio_heygen.money import budget_micros, micros_to_usd, usd_micros
from otio_heygen.run.slots import ClaimWaitHandler, ProcessSlots, SlotPool, SlotWaitHandler

__all__ = ["AdaptiveLimiter", "BudgetGuard", "Event", "Stop"]

Event = dict[str, object]
"""A progress event: ``{"event": "state", "section": ..., "take": ..., "state": ..., "elapsed": ...}``."""


class Stop:
    """Run-wide stop signals: ``cancel`` (Ctrl-C: stop everything) and no-more-creates (401/402)."""

    def __init__(self) -> None:
        self.cancel = threading.Event()
        self._no_create = threading.Event()
        self._lock = threading.Lock()
        self.reason = ""
        self.fatal: BaseException | None = None
        """The error that aborted the run (see ``abort``), raised by the runner once the jobs stopped."""

    def stop_creating(self, reason: str) -> bool:
        """Returns True the first time."""
        with self._lock:
            first = not self._no_create.is_set()
            if first:
                self.reason = reason
                self._no_create.set()
        return first

    @property
    def creating_stopped(self) -> bool:
        return self._no_create.is_set()

    def interrupt(self) -> None:
        self.stop_creating("interrupted")
        self.cancel.set()

    def abort(self, error: BaseException) -> None:
        """Stop the whole run because of ``error`` (the first one is kept)."""
        with self._lock:
            if self.fatal is None:
                self.fatal = error
        self.stop_creating(str(error))
        self.cancel.set()


class BudgetGuard:
    """Running spend cap: a create is only sent when its cost fits under the budget.

    Counted in integer micro-dollars against the budget's whole cents (``otio_heygen.money``), the
    same arithmetic as the run's up-front check, so a budget equal to the estimate lets every job of
    the plan through and float rounding never refuses (or allows) the last one."""

    def __init__(self, budget_usd: float | None) -> None:
        self.budget_usd = budget_usd
        self._limit = None if budget_usd is None else budget_micros(budget_usd)
        self._committed = 0
        self._lock = threading.Lock()

    @property
    def committed_usd(self) -> float:
        return micros_to_usd(self._committed)

    def reserve(self, cost: float) -> bool:
        amount = usd_micros(cost)
        with self._lock:
            if self._limit is not None and self._committed + amount > self._limit:
                return False
            self._committed += amount
            return True

    def refund(self, cost: float) -> None:
        with self._lock:
            self._committed = max(0, self._committed - usd_micros(cost))


class AdaptiveLimiter:
    """Render slots: at most ``allowed`` (<= ``limit``) renders at once, adapted to 429 answers.

    A 429 drops ``allowed`` to one below the renders then running and holds new slots for
    ``Retry-After``; each run of successful creates (longer after every 429) gives one slot back.
    """

    def __init__(
        self,
        limit: int,
        *,
        clock: Callable[[], float],
        pause: Callable[[float], None],
        cancel: threading.Event,
        recover_after: int = 2,
        on_change: Callable[[Event], None] | None = None,
        slots: SlotPool | None = None,
    ) -> None:
        self.limit = max(1, limit)
        self.slots: SlotPool = slots if slots is not None else ProcessSlots()
        """The account's slots (``otio_heygen.run.slots``): shared by every workstation on a team ledger."""
        self._unheld = 0  # requeues cancelled while waiting: their release gives no account slot back
        self.allowed = self.limit
        self.in_use = 0
        self.rendering = 0
        self.max_in_use = 0
        self.rate_limits = 0
        self._clock = clock
        self._pause = pause
        self._cancel = cancel
        self._recover_after = max(1, recover_after)
        self._on_change = on_change
        self._hold_until = float("-inf")
        self._streak = 0
        self._cond = threading.Condition()
        self._waiting: dict[object, float] = {}
        self._expected: Counter[float] = Counter()

    def expect(self, priority: float) -> None:
        """A job of this priority will ask for a slot: lower priorities wait for it."""
        with self._cond:
            self._expected[priority] += 1

    def unexpect(self, priority: float) -> None:
        """A job that ``expect``-ed will not ask after all (it failed, was cancelled, was done)."""
        with self._cond:
            self._forget(priority)
            self._cond.notify_all()

    def _forget(self, priority: float) -> None:
        if self._expected[priority] > 1:
            self._expected[priority] -= 1
        else:
            self._expected.pop(priority, None)

    def acquire(
        self, priority: float = 0, *, expected: bool = False, on_wait: SlotWaitHandler | None = None
    ) -> bool:
        """A slot of this run (see ``_acquire_local``), then one of the account's (``on_wait``: told
        when every slot of the account is in use); False if the run was cancelled meanwhile
        (nothing held then)."""
        if not self._acquire_local(priority, expected=expected):
            return False
        if self.slots.take(self._cancel, on_wait):
            return True
        with self._cond:
            self.in_use -= 1
            self._cond.notify_all()
        return False

    def claim(
        self, job_key: str, priority: float | None = None, *, on_wait: ClaimWaitHandler | None = None
    ) -> bool:
        """Wait until no other process works on ``job_key`` (team ledger; ``on_wait``: told whose
        render it waits for), then hold it. A job that announced itself (``expect`` with
        ``priority``) withdraws while it waits, so it holds no other job of this run back, and
        announces itself again once it has the claim."""
        if priority is None:
            return self.slots.claim(job_key, self._cancel, on_wait=on_wait)
        if self.slots.claim(job_key, self._cancel, wait=False):
            return True
        self.unexpect(priority)
        got = self.slots.claim(job_key, self._cancel, on_wait=on_wait)
        self.expect(priority)
        return got

    def unclaim(self, job_key: str) -> None:
        self.slots.unclaim(job_key)

    def _acquire_local(self, priority: float, *, expected: bool) -> bool:
        """Wait for a slot (it goes to the lowest ``priority`` waiting or expected); False if the
        run was cancelled meanwhile. ``expected``: this job announced itself with ``expect``."""
        token = object()
        with self._cond:
            self._waiting[token] = priority
        try:
            while True:
                with self._cond:
                    if self._cancel.is_set():
                        return False
                    hold = self._hold_until - self._clock()
                    if hold <= 0:
                        first = min([*self._waiting.values(), *self._expected])
                        if self.in_use < self.allowed and priority <= first:
                            self.in_use += 1
                            self.max_in_use = max(self.max_in_use, self.in_use)
                            if expected:
                                self._forget(priority)
                            return True
                        self._cond.wait(0.25)
                        continue
                self._pause(hold)
        finally:
            with self._cond:
                del self._waiting[token]
                self._cond.notify_all()

    def admit(self, priority: float = 0) -> bool:
        """Called by a slot holder about to create: give the slot back and queue again when the
        limit dropped below the slots in use or a ``Retry-After`` hold is on."""
        with self._cond:
            if self._hold_until <= self._clock() and self.in_use <= self.allowed:
                return True
        return self.requeue(priority)

    def requeue(self, priority: float = 0) -> bool:
        """Give the held slot back and wait for one again. False if the run was cancelled
        meanwhile; the caller then still counts as holding its slot, so its one ``release``
        keeps the count right."""
        with self._cond:
            self.in_use -= 1
            self._cond.notify_all()
        self.slots.give()
        if self.acquire(priority):
            return True
        with self._cond:
            self.in_use += 1
            self._unheld += 1
        return False

    def adopt(self) -> None:
        """The slot holds a render created in an earlier run (re-polled)."""
        with self._cond:
            self.rendering += 1

    def release(self, *, rendered: bool = False) -> None:
        with self._cond:
            self.in_use -= 1
            if rendered:
                self.rendering -= 1
            self._cond.notify_all()
            unheld = self._unheld > 0
            if unheld:
                self._unheld -= 1
        if not unheld:
            self.slots.give()

    def rate_limited(self, retry_after: float | None) -> None:
        with self._cond:
            self.rate_limits += 1
            self.allowed = max(1, min(self.allowed, self.rendering))
            wait_s = retry_after if retry_after is not None else min(60.0, 2.0 * 2 ** min(self.rate_limits, 5))
            self._hold_until = max(self._hold_until, self._clock() + wait_s)
            self._streak = 0
            allowed = self.allowed
        self._notify({"event": "rate_limited", "retry_after": wait_s, "allowed": allowed})

    def created(self) -> None:
        """A create succeeded: its slot now holds a render (``release(rendered=True)`` later)."""
        with self._cond:
            self.rendering += 1
            if self.allowed >= self.limit:
                return
            self._streak += 1
            if self._streak < self._recover_after * 2 ** min(self.rate_limits - 1, 4):
                return
            self._streak = 0
            self.allowed += 1
            allowed = self.allowed
            self._cond.notify_all()
        self._notify({"event": "concurrency", "allowed": allowed})

    def _notify(self, event: Event) -> None:
        if self._on_change is not None:
            self._on_change(event)
