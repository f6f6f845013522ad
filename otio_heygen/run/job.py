"""One job's walk through a backend, journaled step by step (the runner's worker-thread body).

``planned -> uploading -> creating -> rendering -> downloading -> done | failed``: the
Idempotency-Key is committed before the create is sent and the video id right after it, so a
killed process resumes without a second bill. A render failed at HeyGen (not billed) forgets
its key so a rerun creates anew; a timeout or a download error keeps the video id so a rerun
re-polls it. Orchestration (threads, budget pre-check, reuse of done jobs) is in
``otio_heygen.run.runner``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from otio_heygen.errors import OtioHeygenError, PhotoError
from otio_heygen.planning.types import ClipResult, Job, RenderRequest
from otio_heygen.run.contract import (
    AssetKind,
    Backend,
    BackendError,
    NotFound,
    OutOfCredit,
    RateLimited,
    Refused,
    RemoteFailed,
    RenderTimeout,
    Unauthorized,
    Unreachable,
    idempotency_key_for,
    render_tag,
)
from otio_heygen.run.journal import ACTIVE_STATES, JobRecord, Journal, job_seconds
from otio_heygen.run.limits import AdaptiveLimiter, BudgetGuard, Event, Stop
from otio_heygen.run.poll import Poller, PollPolicy
from otio_heygen.run.reuse import AccountBook, Owned

__all__ = ["Cancelled", "JobStep", "RunOptions", "build_request", "describe_error", "ident"]


@dataclass(frozen=True)
class RunOptions:
    concurrency: int = 10
    budget_usd: float | None = None
    poll_deadline_s: float = 3 * 3600
    stuck_pending_s: float = 45 * 60
    poll_interval_s: float | None = None
    """None: the poll policy of ``otio_heygen.run.poll`` (5 % lag, 1-30 s); tests set a fixed interval."""
    recover_after: int = 2
    """Successful creates needed after a 429 before one more concurrent render is allowed."""
    longest_first: bool = True
    """Start the longest sections first (render time grows with length): the batch ends sooner."""

    def poll_policy(self) -> PollPolicy:
        if self.poll_interval_s is not None:
            return PollPolicy.fixed(self.poll_interval_s)
        return PollPolicy()


def build_request(job: Job, audio_path: Path) -> RenderRequest:
    settings = job.settings
    if settings.image is None:
        raise PhotoError(
            f"Section '{job.section.name}' has no photo", hint="pass --image or add 'image:' to its marker"
        )
    return RenderRequest(
        job_key=job.key,
        title=job.title,
        image_path=settings.image,
        audio_path=audio_path,
        seconds=job_seconds(job),
        rate=job.section.rate,
        motion_prompt=settings.motion_prompt,
        expressiveness=settings.expressiveness,
        resolution=settings.resolution,
        aspect_ratio=settings.aspect_ratio,
        fit=settings.fit,
        tag=render_tag(job.key),
    )


def describe_error(exc: BaseException) -> str:
    """One line for a job's failure reason."""
    if isinstance(exc, OtioHeygenError):
        return exc.one_line()
    text = " ".join(str(exc).split())
    if isinstance(exc, _JobFailed):
        return text  # our own reason, already a sentence for the editor
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class Cancelled(Exception):
    """Ctrl-C: leave the job where the journal says it is."""


class _JobFailed(Exception):
    """The job failed; the journal row is already updated (except the final ``failed`` state)."""


_PENDING_STATUSES = frozenset({"pending", "waiting", "queued"})
KEY_REPLAY_S = 23 * 3600.0
"""HeyGen replays an Idempotency-Key for 24 h (an hour of margin for clock drift). A create whose
answer was lost longer ago than this is not resent blindly: the resend could start a second render."""
LOST_SETTLE_S = 600.0
"""A create whose answer was lost and that its title tag does not find: younger than this, the
service may still be working on it (resend its key: replay-safe); older, nothing exists under it
(buy with a fresh key)."""
STATUS_OUTAGE_S = 600.0
"""How long status checks may keep failing (network down, laptop asleep) before the job fails
(its video id is kept, so a rerun picks the render up)."""


class JobStep:
    """Runs one job to the end in a worker thread, journaling each step."""

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

    # -- entry ---------------------------------------------------------------------------------------
    def run(self, job: Job) -> ClipResult | str | None:
        """The clip, a failure reason, or None when cancelled (journal left resumable).

        The runner announced the job to the limiter (``expect``) before it started; a job that
        ends without asking for a render slot withdraws, so it holds no other job back."""
        try:
            return self._guarded(job)
        finally:
            if job.key not in self._slotted:
                self.limiter.unexpect(self.priorities.get(job.key, 0))

    def _guarded(self, job: Job) -> ClipResult | str | None:
        timings: dict[str, float] = {}
        try:
            # team ledger: wait while another workstation has this section in hand
            if not self.limiter.claim(job.key, self.priorities.get(job.key, 0)):
                return None
            try:
                return self._run(job, timings)
            finally:
                self.limiter.unclaim(job.key)
        except Cancelled:
            return None
        except Unreachable as exc:
            self.stop.abort(exc)  # nothing can work: the runner stops the run and raises it
            return None
        except Exception as exc:
            reason = describe_error(exc)
            if self.stop.cancel.is_set() and isinstance(exc, _JobFailed) is False and self._is_active(job):
                return None  # interrupted mid-call: keep the resumable state
            self.journal.set_state(job.key, "failed", error=reason)
            self._state(job, "failed", error=reason)
            return reason

    def _is_active(self, job: Job) -> bool:
        record = self.journal.get(job.key)
        return record is not None and record.state in ACTIVE_STATES

    def _state(self, job: Job, state: str, **extra: object) -> None:
        self.emit({"event": "state", **ident(job), "state": state, **extra})

    def _record(self, job: Job) -> JobRecord:
        record = self.journal.get(job.key)
        assert record is not None, job.key
        return record

    def _run(self, job: Job, timings: dict[str, float]) -> ClipResult:
        record = self._record(job)
        if record.state == "done" and record.video_id:
            return self._download(job, record.video_id, None, timings)
        if record.video_id is None and self.book is not None:
            reused = self._from_account(job, self.book, timings)
            if reused is not None:
                return reused
            record = self._record(job)
        request: RenderRequest | None = None
        video_id = record.video_id
        image_asset = audio_asset = None
        if video_id is None:
            self._check_may_create()
            t0 = self.clock()
            request = self.make_request(job, self.prepare_audio(job))
            image_asset, audio_asset = record.image_asset, record.audio_asset
            if not (image_asset and audio_asset):
                self.journal.set_state(job.key, "uploading")
                self._state(job, "uploading")
                image_asset = self._upload(request.image_path, "image")
                audio_asset = self._upload(request.audio_path, "audio")
                self.journal.update(job.key, image_asset=image_asset, audio_asset=audio_asset)
            timings["upload_s"] = round(self.clock() - t0, 4)
        self._acquire(job)
        rendered = False
        try:
            if video_id is None:
                assert request is not None and image_asset and audio_asset
                video_id = self._create(job, request, image_asset, audio_asset, timings)
            else:
                self.limiter.adopt()
            rendered = True
            self._poll(job, video_id, timings, adopted=request is None)
        finally:
            self.limiter.release(rendered=rendered)
        return self._download(job, video_id, request, timings)

    def _acquire(self, job: Job) -> None:
        rank = self.priorities.get(job.key, 0)
        self._slotted.add(job.key)  # the slot's acquire settles the expectation (or we do, below)
        if not self.limiter.acquire(rank, expected=True):
            self.limiter.unexpect(rank)
            raise Cancelled

    def _from_account(self, job: Job, book: AccountBook, timings: dict[str, float]) -> ClipResult | None:
        """Reuse what the account owns for this job (see ``run.reuse``): the finished clip when a
        verified copy or a download gives it now, else None (a video adopted into the journal is
        then polled, or the job is bought)."""
        if self.stop.cancel.is_set():
            raise Cancelled
        owned = book.before_buying(job, self.media_dir / job.media_basename)
        if owned is None or owned.kind == "lost_key":
            if owned is not None:
                self._lost[job.key] = owned
            return None
        assert owned.video_id is not None
        bought = owned.kind == "found" and owned.billed and self.price > 0
        cost = round(job_seconds(job) * self.price, 6)
        if bought:
            with self._lock:  # found again after its answer was lost: this output's purchase
                self.created += 1
                self.spent_usd += cost
                self.bought_seconds += job_seconds(job)
                self._created_here.add(job.key)
        else:
            with self._lock:
                self._reused_here.add(job.key)
        self.journal.update(
            job.key, video_id=owned.video_id, billed=1 if bought else 0,
            idempotency_key=owned.intent.idempotency_key if owned.intent else None, error=None,
        )
        if owned.kind == "copy":
            return self._finish(job, owned.video_id, self.media_dir / job.media_basename, timings)
        if owned.kind == "video":
            return self._download(job, owned.video_id, None, timings)
        self.journal.set_state(job.key, "rendering")
        self._state(job, "rendering", video_id=owned.video_id, **({"cost_usd": cost} if bought else {"reused": True}))
        return None

    def _settle_lost_key(self, job: Job, record: JobRecord) -> JobRecord:
        """A create whose answer was lost and that its tag did not find: resend its key while the
        service may still be working on it, else (nothing exists under it) buy with a fresh key."""
        lost = self._lost.get(job.key)
        if lost is None or lost.intent is None or self.book is None:
            return record
        intent = lost.intent
        sent = intent.first_sent_at if intent.first_sent_at is not None else intent.recorded_at
        if self.journal.now() - sent > LOST_SETTLE_S:
            self.book.refused(intent.idempotency_key)  # searched for and absent: nothing was created
            if record.idempotency_key == intent.idempotency_key:
                self.journal.update(job.key, idempotency_key=None)
        elif record.idempotency_key is None:
            self.journal.update(job.key, idempotency_key=intent.idempotency_key, attempts=intent.attempt)
        del self._lost[job.key]
        return self._record(job)

    def _check_may_create(self) -> None:
        if self.stop.cancel.is_set():
            raise Cancelled
        if self.stop.creating_stopped:
            raise _JobFailed(f"not started: {self.stop.reason}")

    # -- steps ---------------------------------------------------------------------------------------
    def _upload(self, path: Path, kind: AssetKind) -> str:
        stat = path.stat()
        cache_key = (kind, str(path.resolve()), stat.st_mtime_ns, stat.st_size)
        with self._lock:
            lock = self._asset_locks.setdefault(cache_key, threading.Lock())
        with lock:
            cached = self._assets.get(cache_key)
            if cached is not None:
                return cached
            for attempt in range(4):
                if self.stop.cancel.is_set():
                    raise Cancelled
                try:
                    asset = self.backend.upload(path, kind)
                    break
                except RateLimited as exc:
                    if attempt == 3:
                        raise
                    self.pause(exc.retry_after if exc.retry_after is not None else 2.0 * 2**attempt)
                except Unauthorized as exc:
                    self._stop_creating(exc)
                    raise
            self._assets[cache_key] = asset
            return asset

    def _stop_creating(self, exc: OtioHeygenError) -> None:
        if self.stop.stop_creating(f"HeyGen refused new renders ({exc.one_line()})"):
            self.emit({"event": "stop_creating", "reason": exc.one_line()})

    def _create(
        self, job: Job, request: RenderRequest, image_asset: str, audio_asset: str, timings: dict[str, float]
    ) -> str:
        cost = round(job_seconds(job) * self.price, 6)
        t0 = self.clock()
        self._settle_lost_key(job, self._record(job))
        inherited = self._record(job).idempotency_key  # an earlier process may have sent it already
        while True:
            self._check_may_create()
            if not self.limiter.admit(self.priorities.get(job.key, 0)):
                raise Cancelled
            self._check_may_create()
            record = self._record(job)
            if record.idempotency_key is not None and self._replay_expired(record):
                self.journal.update(job.key, idempotency_key=None)  # the next run renders anew
                raise _JobFailed(
                    f"not sent again: a create for '{job.title}' went out "
                    f"{(self.journal.now() - (record.key_sent_at or 0.0)) / 3600:.0f} h ago and its answer was "
                    "lost; HeyGen remembers it for 24 h only, so a resend could pay twice - check your HeyGen "
                    "videos for it, then run again to render it anew"
                )
            if not self.budget.reserve(cost):
                raise _JobFailed(
                    f"not started: it would take spending over the budget of ${self.budget.budget_usd:.2f}"
                )
            key = record.idempotency_key
            attempts = record.attempts
            if key is None:
                # the ledger's attempts too: a key another output used for a failed render is never reused
                attempts = max(attempts, self.book.next_attempt(job) - 1 if self.book else 0) + 1
                key = idempotency_key_for(job.key, attempts)
            # the intent (and its key) is committed before the create is sent
            if self.book is not None:
                self.book.intent(job, key, attempts, cost)
            self.journal.set_state(job.key, "creating", idempotency_key=key, attempts=attempts, cost_usd=cost)
            self._state(job, "creating")
            if self.book is not None:
                self.book.sending(key)
            try:
                video_id = self.backend.create(request, image_asset, audio_asset, key)
            except RateLimited as exc:
                self.budget.refund(cost)
                self.limiter.rate_limited(exc.retry_after)
                if not self.limiter.requeue(self.priorities.get(job.key, 0)):
                    raise Cancelled from None
                continue
            except Refused as exc:
                self.budget.refund(cost)
                if isinstance(exc, (Unauthorized, OutOfCredit)):
                    self._stop_creating(exc)
                if key != inherited and not exc.reached_before:
                    # refused on its only send: nothing exists under it. A key sent before (by an
                    # earlier run, or by an attempt of this call whose answer was lost) is kept:
                    # that send may have rendered (and spent the last credit), and only the same
                    # key, or finding the render by its tag, gets it back instead of a second one.
                    self.journal.update(job.key, idempotency_key=None)
                    if self.book is not None:
                        self.book.refused(key)
                raise
            # any other failure (transport, server error): the key stays, a rerun re-sends it
            # and cannot bill twice
            new = self.book.created(job, key, video_id, cost) if self.book is not None else True
            paid = new and self.paid  # a paid service priced at 0 still bills (an unknown price)
            self.journal.set_state(job.key, "rendering", video_id=video_id, billed=1 if paid else 0)
            with self._lock:
                if new:
                    self.created += 1
                    self.spent_usd += cost
                    self.bought_seconds += job_seconds(job)
                    self._created_here.add(job.key)
                else:  # the key was replayed to a video the account already had: not a purchase
                    self._reused_here.add(job.key)
            self.limiter.created()
            timings["create_s"] = round(self.clock() - t0, 4)
            self._state(job, "rendering", video_id=video_id, **({"cost_usd": cost} if new else {"reused": True}))
            return video_id

    def _replay_expired(self, record: JobRecord) -> bool:
        """Whether HeyGen may have forgotten the row's Idempotency-Key (a resend could bill again)."""
        sent = record.key_sent_at
        return self.paid and sent is not None and self.journal.now() - sent > KEY_REPLAY_S

    def _poll(self, job: Job, video_id: str, timings: dict[str, float], *, adopted: bool) -> None:
        """Follow the render through the run's poller until it completes (or fails, or times out).

        The poller decides when to ask (and honours ``Retry-After``); this loop only judges each
        observation. A backend whose renders are done when created (``instant_renders``) is asked
        once right away; a render adopted from an earlier run is polled at once.
        """
        record = self._record(job)
        if record.state != "rendering":
            self.journal.set_state(job.key, "rendering", error=None)
            self._state(job, "rendering", video_id=video_id)
        t0 = self.clock()
        if getattr(self.backend, "instant_renders", False) and self.backend.status(video_id).state == "completed":
            timings["render_s"] = round(self.clock() - t0, 4)
            if self.book is not None:
                self.book.completed(video_id, None)
            return
        pending_since: float | None = None
        failing_since: float | None = None
        last_raw = ""
        with self.poller.watch(video_id, poll_now=adopted) as watch:
            while True:
                try:
                    status = watch.next()
                    if status is None:
                        raise Cancelled
                    failing_since = None
                except RateLimited as exc:
                    waited = self.clock() - t0
                    if waited > self.options.poll_deadline_s:  # a 429 storm does not outlast the deadline
                        raise RenderTimeout(
                            job.title, video_id, waited_s=waited, last_status=last_raw or "rate limited", stuck=False
                        ) from exc
                    continue  # the poller holds every poll for Retry-After
                except RemoteFailed as exc:
                    self._remote_failed(job, record, video_id)
                    raise _JobFailed(exc.one_line()) from exc
                except NotFound as exc:
                    self.journal.update(job.key, video_id=None, idempotency_key=None, billed=0)
                    if self.book is not None:
                        self.book.gone(video_id)
                    raise _JobFailed(
                        f"{_service(self.backend)} no longer knows video {video_id} - run again to render it anew"
                    ) from exc
                except Unauthorized as exc:
                    self._stop_creating(exc)
                    raise
                except (BackendError, OSError):
                    now = self.clock()
                    failing_since = now if failing_since is None else failing_since
                    if now - failing_since > STATUS_OUTAGE_S:
                        raise
                    continue
                now = self.clock()
                if status.raw_status != last_raw:
                    last_raw = status.raw_status
                    self._state(job, "rendering", remote=status.raw_status, video_id=video_id)
                if status.state == "completed":
                    timings["render_s"] = round(now - t0, 4)
                    if self.book is not None:
                        self.book.completed(video_id, status.duration)
                    return
                if status.state == "failed":
                    self._remote_failed(job, record, video_id)
                    raise RemoteFailed(
                        job.title, video_id, status.failure_code, status.failure_message, service=_service(self.backend)
                    )
                pending = status.raw_status.lower() in _PENDING_STATUSES
                pending_since = (now if pending_since is None else pending_since) if pending else None
                stuck = pending_since is not None and now - pending_since > self.options.stuck_pending_s
                if stuck or now - t0 > self.options.poll_deadline_s:
                    raise RenderTimeout(
                        job.title, video_id, waited_s=now - t0, last_status=status.raw_status, stuck=stuck
                    )

    def _remote_failed(self, job: Job, record: JobRecord, video_id: str) -> None:
        """A failed render is not billed: forget its video and key so a rerun creates a new one."""
        self.journal.update(job.key, video_id=None, idempotency_key=None, billed=0)
        if self.book is not None:
            self.book.failed(video_id)
        with self._lock:
            self._reused_here.discard(job.key)
            if job.key not in self._created_here:
                return
            self._created_here.discard(job.key)
            self.spent_usd = max(0.0, self.spent_usd - record.cost_usd)
            self.bought_seconds = max(0.0, self.bought_seconds - job_seconds(job))
        self.budget.refund(record.cost_usd)

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


def _service(backend: Backend) -> str:
    """The service's name for messages ("HeyGen" for ``heygen``)."""
    return str(getattr(backend, "display_name", backend.name))


def ident(job: Job) -> dict[str, Any]:
    return {"key": job.key, "section": job.section.name, "index": job.section.index, "take": job.take}
