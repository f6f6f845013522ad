"""What a run hands back and what it will cost: owns ``RunReport`` / ``JobFailure``, the
pending-cost estimate used for the budget pre-check (``estimate_pending_cost``,
``pending_cost_micros``) and the ``finished`` event built from a report.

Used by ``otio_heygen.run.runner`` (which fills the report) and its callers (``session``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from otio_heygen.money import cost_micros, micros_to_usd
from otio_heygen.planning.types import ClipResult, Job
from otio_heygen.run.journal import Journal, job_seconds
from otio_heygen.run.journal_records import JobRecord
from otio_heygen.run.limits import Event
from otio_heygen.run.reuse import AccountBook

__all__ = ["JobFailure", "RunReport", "estimate_pending_cost", "finished_event", "pending_cost_micros"]


@dataclass(frozen=True)
class JobFailure:
    job: Job
    reason: str


@dataclass
class RunReport:
    results: list[ClipResult]
    failures: list[JobFailure]
    spent_usd: float
    """Cost of the renders bought during this run (replays and reuses are not spending)."""
    created: int
    """Renders bought during this run."""
    reused: int
    """Clips this run did not buy: finished in this output before, or owned by the account."""
    resumed: int = 0
    """Renders an earlier, interrupted run created (and paid for) that this run finished."""
    run_id: int = 0
    interrupted: bool = False
    timings: dict[str, float] = field(default_factory=dict)
    bought_seconds: float = 0.0
    reused_seconds: float = 0.0


def finished_event(report: RunReport) -> Event:
    """The ``finished`` event announcing ``report``."""
    return {
        "event": "finished",
        "done": len(report.results),
        "failed": len(report.failures),
        "created": report.created,
        "reused": report.reused,
        "spent_usd": report.spent_usd,
        "bought_seconds": report.bought_seconds,
        "reused_seconds": report.reused_seconds,
    }


def _is_paid_or_done(record: JobRecord | None) -> bool:
    return record is not None and (record.state == "done" or record.video_id is not None)


def estimate_pending_cost(
    jobs: Sequence[Job], journal: Journal, price_per_second: float, book: AccountBook | None = None
) -> float:
    """Estimated cost of the jobs still to buy: done jobs, renders already created and what the
    account owns or has in flight (``book``) are free. Summed exactly as the journal records each
    job's cost (see ``otio_heygen.money``)."""
    return micros_to_usd(pending_cost_micros(jobs, journal, price_per_second, book))


def pending_cost_micros(
    jobs: Sequence[Job], journal: Journal, price_per_second: float, book: AccountBook | None = None
) -> int:
    total = 0
    seen: set[str] = set()
    todo = [job for job in jobs if not _is_paid_or_done(journal.get(job.key))]
    owned = book.statuses(todo) if book is not None and todo else {}  # the ledger asked once
    for job in todo:
        if job.key in seen:
            continue
        seen.add(job.key)
        if owned.get(job.key, "new") != "new":
            continue
        total += cost_micros(job_seconds(job), price_per_second)
    return total
