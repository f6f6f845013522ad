"""Reuse before buying: what the account already owns for a job, and what a job buys, in the ledger.

:class:`AccountBook` is the run layer's view of the account ledger (``otio_heygen.run.ledger``)
for one run: one backend, one output. Before a job uploads anything, :meth:`AccountBook.before_buying`
answers with what the account has for the job's key, most useful first:

1. ``copy``: a completed video with a verified local copy (size + sha256): linked or copied
   into the output's media folder, no network at all;
2. ``video``: a completed video without a usable copy: downloaded again by id (a fresh URL);
3. ``in_flight``: a video still rendering (paid): polled, not bought again;
4. ``found``: a create whose answer was lost (intent sent, no video id) that the backend finds
   again by its title tag (``FindsByTag``), inside or outside the replay window;
5. ``lost_key``: a lost answer not found (or a backend that cannot look): the intent's
   Idempotency-Key and when it was first sent, for the create step to decide on;
6. nothing: buy.

A video the service no longer has (404 / not found) is marked ``gone`` and the job is bought
again, with a notice event first. While buying, the job step records the intent before the
create is sent (:meth:`intent`, :meth:`sending`), the video id after (:meth:`created`, which
also says whether the id is new to the account: a replayed key is not a second purchase), and
each verified copy after a download (:meth:`copied`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from otio_heygen.planning.types import Job, RemoteStatus
from otio_heygen.run.contract import Backend, FindsByTag, NotFound, TransportError, render_tag
from otio_heygen.run.ledger import (
    PREVIEW_ACCOUNT,
    AccountLedger,
    Intent,
    LedgerEntry,
    LocalCopy,
    OwnedVideo,
    place_copy,
)

__all__ = ["AccountBook", "Owned"]

Event = dict[str, object]


@dataclass(frozen=True)
class Owned:
    """What the account already has for a job (see the module docstring for ``kind``)."""

    kind: Literal["copy", "video", "in_flight", "found", "lost_key"]
    video_id: str | None = None
    copy: LocalCopy | None = None
    intent: Intent | None = None
    billed: bool = False
    """For ``found``: the video was bought by the lost create (this run reports it as bought)."""


class AccountBook:
    """The ledger of one account, as one run with one backend uses it (thread-safe: the store is)."""

    def __init__(
        self,
        ledger: AccountLedger,
        backend: Backend,
        *,
        now: Callable[[], float],
        output: str | None,
        emit: Callable[[Event], None] = lambda event: None,
    ) -> None:
        self.ledger = ledger
        self.backend = backend
        self.now = now
        self.output = output
        self.emit = emit
        self._attempts_seen: dict[str, int] = {}
        """Per job key: the next attempt as ``before_buying`` read it (used once, by ``next_attempt``)."""
        self._completed: set[str] = set()
        """Video ids this run knows the ledger has as completed (set here or read so)."""

    @property
    def account(self) -> str:
        return self.ledger.account

    def status(self, job: Job) -> str:
        """``owned``, ``in_flight`` or ``new`` (what ``plan`` shows and the estimate skips)."""
        return self._status(job, self.ledger.entry(job.key))

    def statuses(self, jobs: Sequence[Job]) -> dict[str, str]:
        """``status`` of every job, asking the ledger once (per key on a store without ``entries``)."""
        known = self.ledger.entries([job.key for job in jobs])
        return {job.key: self._status(job, known.get(job.key)) for job in jobs}

    def _status(self, job: Job, entry: LedgerEntry | None) -> str:
        if entry is None:
            return "new"
        if entry.status == "owned" and not self._usable(job, entry.owned):
            return "new"
        return entry.status

    def _usable(self, job: Job, video: OwnedVideo | None) -> bool:
        # a preview draws the section's name into the picture: never reuse it under another name
        return video is not None and (self.account != PREVIEW_ACCOUNT or video.section == job.section.name)

    # -- before buying -------------------------------------------------------------------------------
    def before_buying(self, job: Job, dest: Path) -> Owned | None:
        """What the account has for ``job`` (``copy`` already placed at ``dest``), or None: buy it."""
        entry = self.ledger.entry(job.key)
        self._attempts_seen[job.key] = entry.next_attempt if entry is not None else 1
        if entry is None:
            return None
        owned = entry.owned
        if owned is not None and self._usable(job, owned):
            self._completed.add(owned.video_id)
            copy = self.ledger.verified_copy(job.key, owned.video_id)
            if copy is not None and place_copy(copy, dest):
                return Owned("copy", owned.video_id, copy=copy)
            remote = self._remote(job, owned)
            if remote is not None and remote.state == "completed":
                return Owned("video", owned.video_id)
            if remote is not None and remote.state == "rendering":
                return Owned("in_flight", owned.video_id)
        flying = entry.in_flight
        if flying is not None and self._remote(job, flying) is not None:
            return Owned("in_flight", flying.video_id)
        lost = entry.lost_intent
        if lost is None:
            return None
        found = self._find(job, lost)
        if found is not None:
            return found
        return Owned("lost_key", intent=lost)

    def _remote(self, job: Job, video: OwnedVideo) -> RemoteStatus | None:
        """The owned video's status at the service; None (and the ledger says why) when it is gone."""
        try:
            status = self.backend.status(video.video_id)
        except NotFound:
            self.ledger.store.set_video_state(self.account, video.video_id, "gone", now=self.now())
            self.emit({"event": "notice", "message": (
                f"{_service(self.backend)} no longer has video {video.video_id} of {job.title!r}: "
                "it will be bought again")})
            return None
        if status.state == "failed":
            self.ledger.store.set_video_state(self.account, video.video_id, "failed", now=self.now(), billed=False)
            return None
        return status

    def _find(self, job: Job, lost: Intent) -> Owned | None:
        """Look for the lost create's video by the tag its title carries."""
        if not isinstance(self.backend, FindsByTag):
            return None
        try:
            found = self.backend.find_by_tag(render_tag(job.key))
        except TransportError:
            return None  # cannot look now: the create step decides with the key it has
        for video in found:  # newest first
            if video.status.state == "failed":
                continue
            self.ledger.store.record_video(
                self.account, job.key, video.video_id, idempotency_key=lost.idempotency_key,
                section=job.section.name, seconds=_seconds(job), cost_usd=_seconds(job) * self.backend.price_per_second,
                billed=self.backend.price_per_second > 0, state="rendering", now=self.now(),
            )
            self.emit({"event": "notice", "message": (
                f"found {job.title!r} at {_service(self.backend)} (video {video.video_id}) although its answer "
                "was lost: reused, not bought again")})
            return Owned("found", video.video_id, intent=lost, billed=True)
        return None

    # -- while buying --------------------------------------------------------------------------------
    def next_attempt(self, job: Job) -> int:
        """The attempt after every one the ledger has for ``job``: read by ``before_buying`` just
        before this job's first create (nothing here changes attempts, and on a team ledger the job
        holds its claim meanwhile), else read now."""
        seen = self._attempts_seen.pop(job.key, None)
        if seen is not None:
            return seen
        entry = self.ledger.entry(job.key)
        return entry.next_attempt if entry is not None else 1

    def intent(self, job: Job, key: str, attempt: int, cost_usd: float) -> None:
        self._attempts_seen.pop(job.key, None)  # what was read is out of date from now on
        self.ledger.store.record_intent(
            self.account, job.key, idempotency_key=key, attempt=attempt, section=job.section.name,
            seconds=_seconds(job), cost_usd=cost_usd, now=self.now(),
        )

    def sending(self, key: str) -> None:
        self.ledger.store.mark_sending(self.account, key, now=self.now())

    def refused(self, key: str) -> None:
        """The key's only send was refused: nothing exists under it."""
        self.ledger.store.mark_refused(self.account, key)

    def created(self, job: Job, key: str, video_id: str, cost_usd: float) -> bool:
        """Record the create's video id; True when it is new to the account (a purchase), False when
        the key was replayed to a video the ledger already knew."""
        return self.ledger.store.record_video(
            self.account, job.key, video_id, idempotency_key=key, section=job.section.name,
            seconds=_seconds(job), cost_usd=cost_usd, billed=cost_usd > 0, state="rendering", now=self.now(),
        )

    def completed(self, video_id: str, duration: float | None) -> None:
        self.ledger.store.set_video_state(self.account, video_id, "completed", now=self.now(), seconds=duration)
        self._completed.add(video_id)

    def failed(self, video_id: str) -> None:
        self.ledger.store.set_video_state(self.account, video_id, "failed", now=self.now(), billed=False)

    def gone(self, video_id: str) -> None:
        self.ledger.store.set_video_state(self.account, video_id, "gone", now=self.now())

    def copied(self, job: Job, video_id: str, path: Path) -> None:
        """Record the verified local copy at ``path`` (the output's media) for other outputs to reuse."""
        if video_id in self._completed:  # the ledger has it, completed: only the copy is new
            self.ledger.remember_copy(video_id, path, output=self.output, now=self.now())
            return
        entry = self.ledger.entry(job.key)
        if entry is None or not any(v.video_id == video_id for v in entry.videos):
            # a video the ledger never saw (journaled before the ledger existed): remember it now
            self.ledger.store.record_video(
                self.account, job.key, video_id, idempotency_key=None, section=job.section.name,
                seconds=_seconds(job), cost_usd=0.0, billed=False, state="completed", now=self.now(),
            )
        elif any(v.video_id == video_id and v.state != "completed" for v in entry.videos):
            self.completed(video_id, None)  # downloaded and verified: it is complete
        self.ledger.remember_copy(video_id, path, output=self.output, now=self.now())


def _seconds(job: Job) -> float:
    return (job.audio_end_frame - job.audio_start_frame) / job.section.rate


def _service(backend: Backend) -> str:
    return str(getattr(backend, "display_name", backend.name))
