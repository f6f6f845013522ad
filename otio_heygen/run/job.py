"""One job's walk through a backend, journaled step by step (the runner's worker-thread body).

``planned -> uploading -> creating -> rendering -> downloading -> done | failed``: the
Idempotency-Key is committed before the create is sent and the video id right after it, so a
killed process resumes without a second bill. A render failed at HeyGen (not billed) forgets
its key so a rerun creates anew; a timeout or a download error keeps the video id so a rerun
re-polls it. Orchestration (threads, budget pre-check, reuse of done jobs) is in
``otio_heygen.run.runner``; the step's shared state and its end (download, finish) in
``otio_heygen.run.job_base``, its reuse of what the account owns in ``otio_heygen.run.job_reuse``.
"""

from __future__ import annotations

import threading
from pathlib import Path

from otio_heygen.planning.types import ClipResult, Job, RenderRequest
from otio_heygen.run.contract import (
    AssetKind,
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
)
from otio_heygen.run.job_reuse import AccountReuse
from otio_heygen.run.journal import job_seconds
from otio_heygen.run.journal_records import JobRecord
from otio_heygen.run.slots import ClaimWait, SlotWait
from otio_heygen.run.steps import Cancelled, JobFailed, describe_error, service_name

__all__ = ["JobStep"]

_PENDING_STATUSES = frozenset({"pending", "waiting", "queued"})
KEY_REPLAY_S = 23 * 3600.0
"""HeyGen replays an Idempotency-Key for 24 h (an hour of margin for clock drift). A create whose
answer was lost longer ago than this is not resent blindly: the resend could start a second render."""
STATUS_OUTAGE_S = 600.0
"""How long status checks may keep failing (network down, laptop asleep) before the job fails
(its video id is kept, so a rerun picks the render up)."""


class JobStep(AccountReuse):
    """Runs one job to the end in a worker thread, journaling each step."""

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
            rank = self.priorities.get(job.key, 0)
            if not self.limiter.claim(job.key, rank, on_wait=lambda wait: self._waiting(job, wait)):
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
            if self.stop.cancel.is_set() and isinstance(exc, JobFailed) is False and self._is_active(job):
                return None  # interrupted mid-call: keep the resumable state
            self.journal.set_state(job.key, "failed", error=reason)
            self._state(job, "failed", error=reason)
            return reason

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
        if not self.limiter.acquire(rank, expected=True, on_wait=lambda w: self._waiting(job, w)):
            self.limiter.unexpect(rank)
            raise Cancelled

    def _waiting(self, job: Job, wait: SlotWait | ClaimWait) -> None:
        """The job waits for the account: another workstation's render of it, or a free slot."""
        if isinstance(wait, ClaimWait):
            extra: dict[str, object] = {"workstation": wait.workstation}
            if wait.video_id:
                extra["video_id"] = wait.video_id
        else:
            extra = {"slots_in_use": wait.in_use, "slot_limit": wait.limit}
        self._state(job, "waiting", waiting_for=wait.describe(), **extra)

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
                raise JobFailed(
                    f"not sent again: a create for '{job.title}' went out "
                    f"{(self.journal.now() - (record.key_sent_at or 0.0)) / 3600:.0f} h ago and its answer was "
                    "lost; HeyGen remembers it for 24 h only, so a resend could pay twice - check your HeyGen "
                    "videos for it, then run again to render it anew"
                )
            if not self.budget.reserve(cost):
                raise JobFailed(
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
                    raise JobFailed(exc.one_line()) from exc
                except NotFound as exc:
                    self.journal.update(job.key, video_id=None, idempotency_key=None, billed=0)
                    if self.book is not None:
                        self.book.gone(video_id)
                    raise JobFailed(
                        f"{service_name(self.backend)} no longer knows video {video_id} - run again to render it anew"
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
                        job.title, video_id, status.failure_code, status.failure_message,
                        service=service_name(self.backend),
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
