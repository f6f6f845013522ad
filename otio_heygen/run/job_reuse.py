"""The job step's reuse of what the account already owns (see ``otio_heygen.run.reuse``).

:class:`AccountReuse` adds to the job step: finishing a job from a verified copy, a download or a
render in flight the account ledger knows (:meth:`AccountReuse._from_account`), and settling a
create whose answer was lost and that its title tag did not find
(:meth:`AccountReuse._settle_lost_key`) before buying.
"""

from __future__ import annotations

from otio_heygen.planning.types import ClipResult, Job
from otio_heygen.run.job_base import JobStepBase
from otio_heygen.run.journal import job_seconds
from otio_heygen.run.journal_records import JobRecord
from otio_heygen.run.reuse import AccountBook
from otio_heygen.run.steps import Cancelled

__all__ = ["LOST_SETTLE_S", "AccountReuse"]

LOST_SETTLE_S = 600.0
"""A create whose answer was lost and that its title tag does not find: younger than this, the
service may still be working on it (resend its key: replay-safe); older, nothing exists under it
(buy with a fresh key)."""


class AccountReuse(JobStepBase):
    """The job step's account-reuse steps (see the module docstring)."""

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

