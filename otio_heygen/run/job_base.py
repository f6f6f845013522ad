"""The state every part of a job step shares, and how a job ends with its clip.

:class:`JobStepBase` holds the step's collaborators (backend, journal, ledger book, limiter,
poller), the run's counters (created, spent, reused, resumed) and their lock, and the small
helpers every step uses (journal row, state events, the may-create check). It also ends a job:
:meth:`JobStepBase._download` fetches the clip and :meth:`JobStepBase._finish` checks it,
journals it done and remembers the copy in the ledger. The steps themselves are in
``otio_heygen.run.job`` (buying and following a render) and ``otio_heygen.run.job_reuse``
(reusing what the account owns).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from otio_heygen.errors import OtioHeygenError
from otio_heygen.planning.types import ClipResult, Job, RenderRequest
from otio_heygen.run.contract import Backend
from otio_heygen.run.journal import Journal, job_seconds
from otio_heygen.run.journal_records import ACTIVE_STATES, JobRecord
from otio_heygen.run.limits import AdaptiveLimiter, BudgetGuard, Event, Stop
from otio_heygen.run.poll import Poller
from otio_heygen.run.reuse import AccountBook, Owned
from otio_heygen.run.steps import Cancelled, JobFailed, RunOptions, ident

__all__ = ["JobStepBase"]


class JobStepBase:
    """A job step's collaborators, counters and shared helpers (see the module docstring)."""

    def __init__(
        self,
        *,
        backend: Backend,
        journal: Journal,
        prepare_audio: Callable[[Job], Path],
        finish_clip: Callable[[Job, Path, dict[str, object]], ClipResult],
        make_request: Callable[[Job, Path], RenderRequest],
        media_dir: Path,
        options: RunOptions,
        limiter: AdaptiveLimiter,
        stop: Stop,
        emit: Callable[[Event], None],
        pause: Callable[[float], None],
        clock: Callable[[], float],
        price: float,
        poller: Poller,
        book: AccountBook | None = None,
    ) -> None:
        self.backend = backend
        self.book = book
        """The account ledger (None: no reuse across outputs, e.g. library callers without one)."""
        self.journal = journal
        self.prepare_audio = prepare_audio
        self.finish_clip = finish_clip
        self.make_request = make_request
        self.media_dir = media_dir
        self.options = options
        self.limiter = limiter
        self.stop = stop
        self.emit = emit
        self.pause = pause
        self.clock = clock
        self.price = price
        self.paid: bool = getattr(backend, "paid", True)
        """Whether the backend bills its renders. Not ``price > 0``: a paid service whose price is set
        to 0 is a price not known, and its renders are still paid for (and replayed for 24 h only)."""
        self.budget = BudgetGuard(options.budget_usd)
        self.poller = poller
        self.priorities: dict[str, int] = {}
        """Rank of each job for a render slot (lower first: the runner's longest-first order)."""
        self._slotted: set[str] = set()
        self.created = 0
        self.spent_usd = 0.0
        self.bought_seconds = 0.0
        self.reused = 0
        self.resumed = 0
        """Jobs finished from what the account already owned (a copy, a download, a render in flight)."""
        self.reused_seconds = 0.0
        self._reused_here: set[str] = set()
        self._lost: dict[str, Owned] = {}
        """Per job key: the ledger's lost create (answer lost, not found by its tag) to settle before buying."""
        self._created_here: set[str] = set()
        self._lock = threading.Lock()
        self._assets: dict[tuple[str, str, int, int], str] = {}
        self._asset_locks: dict[tuple[str, str, int, int], threading.Lock] = {}

    def _is_active(self, job: Job) -> bool:
        record = self.journal.get(job.key)
        return record is not None and record.state in ACTIVE_STATES

    def _state(self, job: Job, state: str, **extra: object) -> None:
        self.emit({"event": "state", **ident(job), "state": state, **extra})

    def _record(self, job: Job) -> JobRecord:
        record = self.journal.get(job.key)
        assert record is not None, job.key
        return record

    def _check_may_create(self) -> None:
        if self.stop.cancel.is_set():
            raise Cancelled
        if self.stop.creating_stopped:
            raise JobFailed(f"not started: {self.stop.reason}")

    def _stop_creating(self, exc: OtioHeygenError) -> None:
        if self.stop.stop_creating(f"HeyGen refused new renders ({exc.one_line()})"):
            self.emit({"event": "stop_creating", "reason": exc.one_line()})

    def _download(
        self, job: Job, video_id: str, request: RenderRequest | None, timings: dict[str, float]
    ) -> ClipResult:
        if self.stop.cancel.is_set():
            raise Cancelled
        if request is None:
            request = self.make_request(job, self.prepare_audio(job))
        self.journal.set_state(job.key, "downloading")
        self._state(job, "downloading", video_id=video_id)
        t0 = self.clock()
        self.media_dir.mkdir(parents=True, exist_ok=True)
        dest = self.media_dir / job.media_basename
        self.backend.download(video_id, request, dest)
        timings["download_s"] = round(self.clock() - t0, 4)
        return self._finish(job, video_id, dest, timings)

    def _finish(self, job: Job, video_id: str, dest: Path, timings: dict[str, float]) -> ClipResult:
        """Check the clip at ``dest`` (sync, duration), journal it done, remember the copy in the ledger."""
        record = self._record(job)
        info: dict[str, object] = {
            "video_id": video_id,
            "cost_usd": record.cost_usd if record.billed else 0.0,
            "backend": self.backend.name,
            "idempotency_key": record.idempotency_key,
            "timings": dict(timings),
        }
        result = self.finish_clip(job, dest, info)
        finish = {
            "media_duration_frames": result.media_duration_frames,
            "sync_offset_ms": result.sync_offset_ms,
            "provenance": result.provenance,
            "media_size": result.media_path.stat().st_size,
        }
        self.journal.set_state(
            job.key, "done", media_path=str(result.media_path), finish_info=finish, error=None, timings=timings
        )
        if self.book is not None:
            self.book.copied(job, video_id, result.media_path)
        with self._lock:
            reused = job.key in self._reused_here
            if reused:
                self._reused_here.discard(job.key)
                self.reused += 1
                self.reused_seconds += job_seconds(job)
            elif job.key not in self._created_here:
                self.resumed += 1  # created by an earlier, interrupted run; finished by this one
        self._state(job, "done", video_id=video_id, **({"reused": True} if reused else {}))
        return result
