"""When and how renders in flight are polled: the policy (pure) and the one poller thread of a run.

Policy (:class:`PollPolicy`, :func:`next_poll_at`): a render that has been running ``e`` seconds is
polled again within ``lag_fraction * e`` seconds (5 %), never more often than once a second and
never less often than every 30 s, so a finished render is noticed after at most about 5 % of its
running time (``max_lag_ratio``). One poll covers every render in flight, so the renders' own
schedules are merged: the next poll is at the earliest render's due time, pushed back a little
(``coalesce_s``) to also cover renders due just after it (renders created in a burst are then
polled together right when each is due, instead of one poll early and one poll late). Between two
polls there is at least ``min_interval_s`` and, when a poll costs several requests (per-render
fallback), enough time to stay within ``max_requests_per_s``; a ``Retry-After`` holds every poll.
``OTIO_HEYGEN_POLL_INTERVAL`` (``PollPolicy.fixed``) replaces all of that by one fixed interval
for tests and demos.

Poller (:class:`Poller`): one thread per run. Jobs ``watch`` their render and block on
``Watch.next()``, which returns each new observation (a ``RemoteStatus``) or raises the error the
status check met. It asks the backend for all renders at once when the backend has the
:class:`~otio_heygen.run.contract.BulkStatus` capability (ids missing from the answer are checked
one by one), and falls back to one ``status`` call per render for the rest of the run when the
bulk endpoint is refused. Polls advance in lockstep with the jobs (a poll waits until every job
has taken the previous observation), which also keeps injected fake clocks from running away.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from otio_heygen.planning.types import RemoteStatus
from otio_heygen.run.contract import Backend, BulkStatus, BulkStatusRefused, RateLimited

__all__ = [
    "BULK_MAX_IDS",
    "PollPolicy",
    "Poller",
    "Watch",
    "next_poll_at",
]

log = logging.getLogger(__name__)

BULK_MAX_IDS = 100
"""Renders one bulk status request can cover (HeyGen's limit); a poll of more costs more requests."""

Observation = RemoteStatus | Exception


@dataclass(frozen=True)
class PollPolicy:
    """The cadence of status polls (see the module docstring). All values in seconds."""

    lag_fraction: float = 0.05
    min_interval_s: float = 1.0
    max_interval_s: float = 30.0
    max_requests_per_s: float = 2.0
    """Request budget of status checks for the account (matters when polling one render per request)."""
    coalesce_s: float = 0.5
    """A poll waits up to this long (and at most half an interval) for renders due right after the first."""
    fixed_interval_s: float | None = None
    """Test/demo override: poll every this many seconds, whatever the render's age."""

    @classmethod
    def fixed(cls, interval_s: float) -> PollPolicy:
        return cls(fixed_interval_s=interval_s)

    def interval(self, elapsed_s: float) -> float:
        """Seconds until the next poll of a render that has been running ``elapsed_s`` seconds."""
        if self.fixed_interval_s is not None:
            return self.fixed_interval_s
        return min(self.max_interval_s, max(self.min_interval_s, self.lag_fraction * max(0.0, elapsed_s)))

    def gap(self, requests: int) -> float:
        """Least time between the start of a poll that cost ``requests`` requests and the next one."""
        if self.fixed_interval_s is not None:
            return self.fixed_interval_s
        return max(self.min_interval_s, requests / self.max_requests_per_s)

    def window(self, interval_s: float) -> float:
        """How far a poll may be pushed back to cover renders due right after the first one."""
        return min(self.coalesce_s, 0.5 * interval_s)

    def max_lag_ratio(self, elapsed_s: float) -> float:
        """Worst detection lag over elapsed time for a render finishing after ``elapsed_s`` (tests, docs)."""
        interval = self.interval(elapsed_s)
        return (interval + self.window(interval)) / max(elapsed_s, 1e-9)


def next_poll_at(
    policy: PollPolicy,
    renders: Sequence[tuple[float, float | None]],
    *,
    last_poll: float | None,
    last_cost: int,
    hold_until: float = -math.inf,
) -> float:
    """When the next poll should start (pure).

    ``renders`` holds ``(since, last_polled)`` per render in flight: ``since`` is when it started
    running (a render adopted from an earlier run passes its registration time and no
    ``last_polled`` with a due time of "now"); ``last_polled`` is None before its first poll.
    """
    if not renders:
        return math.inf
    dues = []
    for since, polled in renders:
        base = since if polled is None else polled
        interval = policy.interval(base - since)
        dues.append((base + interval, interval))
    first, interval = min(dues)
    at = max(due for due, _ in dues if due <= first + policy.window(interval))
    if last_poll is not None:
        at = max(at, last_poll + policy.gap(last_cost))
    return max(at, hold_until)


@dataclass
class _Render:
    video_id: str
    since: float
    last_polled: float | None = None
    seq: int = 0
    taken: int = 0
    result: Observation | None = None


@dataclass
class _Tick:
    results: dict[str, Observation] = field(default_factory=dict)
    requests: int = 0
    retry_after: float | None = None
    rate_limited: bool = False


class Watch:
    """A job's view of its render in the poller (see :meth:`Poller.watch`)."""

    def __init__(self, poller: Poller, render: _Render) -> None:
        self._poller = poller
        self._render = render

    def next(self) -> RemoteStatus | None:
        """The next observation of this render (blocks); raises the error the poll met; None when cancelled."""
        return self._poller._next(self._render)


class Poller:
    """One thread polling every render in flight of a run (see the module docstring)."""

    def __init__(
        self,
        backend: Backend,
        policy: PollPolicy,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> None:
        """``sleep`` None: real time (the thread waits on its condition and wakes when a render
        is added); otherwise an injected sleep (fake clocks in tests)."""
        self.backend = backend
        self.policy = policy
        self.bulk: BulkStatus | None = backend if isinstance(backend, BulkStatus) else None
        self.bulk_refused = False
        self.requests = 0
        self.polls = 0
        self._clock = clock
        self._sleep = sleep
        self._cancel = cancel or threading.Event()
        self._cond = threading.Condition()
        self._renders: dict[str, _Render] = {}
        self._last_poll: float | None = None
        self._last_cost = 0
        self._hold_until = -math.inf
        self._closed = False
        self._crashed: Exception | None = None
        self._thread: threading.Thread | None = None

    # -- the jobs' side ------------------------------------------------------------------------------
    @contextmanager
    def watch(self, video_id: str, *, poll_now: bool = False) -> Iterator[Watch]:
        """Follow ``video_id`` until the block ends. ``poll_now``: a render adopted from an earlier
        run (its age is unknown, it may be done already) is polled at once rather than in a second."""
        now = self._clock()
        render = _Render(video_id, since=now - (self.policy.interval(0.0) if poll_now else 0.0))
        with self._cond:
            if self._closed:
                raise RuntimeError("poller closed")
            self._renders[video_id] = render
            self._cond.notify_all()
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="otio-heygen-poller", daemon=True)
                self._thread.start()
        try:
            yield Watch(self, render)
        finally:
            with self._cond:
                if self._renders.get(video_id) is render:
                    del self._renders[video_id]
                self._cond.notify_all()

    def _next(self, render: _Render) -> RemoteStatus | None:
        with self._cond:
            while render.taken >= render.seq:
                if self._crashed is not None:
                    raise RuntimeError(f"the status poller stopped: {self._crashed}") from self._crashed
                if self._cancel.is_set() or self._closed:
                    return None
                self._cond.wait(0.25)
            render.taken = render.seq
            result = render.result
            self._cond.notify_all()
        if isinstance(result, Exception):
            raise result
        assert result is not None
        return result

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5.0)

    # -- the poller thread ---------------------------------------------------------------------------
    def _loop(self) -> None:
        try:
            self._polls()
        except Exception as exc:  # a bug here must fail the waiting jobs, not leave them waiting
            log.exception("status poller stopped")
            with self._cond:
                self._crashed = exc
                self._cond.notify_all()

    def _polls(self) -> None:
        while True:
            step = self._wait_for_poll()
            if step is None:
                return
            if isinstance(step, float):
                assert self._sleep is not None
                self._sleep(step)
                continue
            started = self._clock()
            tick = self._poll(step)
            with self._cond:
                for video_id, result in tick.results.items():
                    render = self._renders.get(video_id)
                    if render is not None:
                        render.result = result
                        render.seq += 1
                        render.last_polled = started
                self._last_poll = started
                self._last_cost = max(1, tick.requests)
                self.requests += tick.requests
                self.polls += 1
                if tick.rate_limited:
                    wait_s = tick.retry_after if tick.retry_after is not None else self.policy.gap(self._last_cost)
                    self._hold_until = max(self._hold_until, self._clock() + wait_s)
                self._cond.notify_all()

    def _wait_for_poll(self) -> list[str] | float | None:
        """Ids to poll now, seconds to sleep (injected clocks), or None when the run is over."""
        with self._cond:
            while True:
                if self._closed or self._cancel.is_set():
                    return None
                renders = list(self._renders.values())
                if not renders or any(r.taken < r.seq for r in renders):
                    self._cond.wait(0.25)  # nothing in flight, or a job has not seen the last poll yet
                    continue
                at = next_poll_at(
                    self.policy,
                    [(r.since, r.last_polled) for r in renders],
                    last_poll=self._last_poll,
                    last_cost=self._last_cost,
                    hold_until=self._hold_until,
                )
                delay = at - self._clock()
                if delay <= 0:
                    return [r.video_id for r in renders]
                if self._sleep is not None:
                    return delay
                self._cond.wait(min(delay, 0.25))

    def _poll(self, video_ids: list[str]) -> _Tick:
        tick = _Tick()
        rest = video_ids
        if self.bulk is not None and not self.bulk_refused:
            found: Mapping[str, RemoteStatus] = {}
            try:
                for first in range(0, len(video_ids), BULK_MAX_IDS):
                    tick.requests += 1
                    found = {**found, **self.bulk.statuses(video_ids[first : first + BULK_MAX_IDS])}
            except BulkStatusRefused as exc:
                log.info("bulk status refused (%s): polling renders one by one", exc)
                self.bulk_refused = True
            except Exception as exc:
                self._note(tick, exc)
                tick.results = {video_id: exc for video_id in video_ids}
                return tick
            else:
                tick.results.update({k: v for k, v in found.items() if k in set(video_ids)})
                rest = [video_id for video_id in video_ids if video_id not in found]
        for video_id in rest:
            if tick.rate_limited or self._cancel.is_set():
                break  # the others wait for the next poll
            tick.requests += 1
            try:
                tick.results[video_id] = self.backend.status(video_id)
            except Exception as exc:
                self._note(tick, exc)
                tick.results[video_id] = exc
        return tick

    @staticmethod
    def _note(tick: _Tick, exc: Exception) -> None:
        """A 429 holds every poll for its ``Retry-After`` (or one gap when it gave none)."""
        if isinstance(exc, RateLimited):
            tick.rate_limited = True
            if exc.retry_after is not None:
                tick.retry_after = max(tick.retry_after or 0.0, exc.retry_after)
