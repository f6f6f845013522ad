"""The one orchestrator: runs a plan's jobs through a backend, concurrently, resumably, within budget.

Each job walks ``planned -> uploading -> creating -> rendering -> downloading -> done``, every
step committed to the :class:`~otio_heygen.run.journal.Journal` before the next network call that
depends on it: the Idempotency-Key before the create is sent, the video id before any wait.
A rerun therefore skips done jobs (no API call), re-polls renders, and re-sends an interrupted
create with the same key, so nothing is billed twice.

The per-job steps live in ``otio_heygen.run.job``, the run-wide limits in
``otio_heygen.run.limits``, the polling in ``otio_heygen.run.poll``. Threads: a pool of
``2 x concurrency`` workers runs whole jobs, longest section first (render time grows with
length, so the batch ends as early as the account's slots allow; results stay in timeline
order); a render slot (``AdaptiveLimiter``) is held from create to completion so at most
``concurrency`` renders run at once, while other workers upload ahead and download behind; one
poller thread checks every render in flight at once. A 429 lowers the allowed concurrency and
pauses new creates for ``Retry-After``; successes raise it back one step at a time. 401/402 stop
new creates; renders already paid for are still polled and downloaded. A service that cannot be
reached at all (``Unreachable``) stops the whole run at once and is raised.

Events passed to ``on_event`` (plain JSON-able dicts, each with ``elapsed`` seconds):
``plan`` (jobs, reused, to_render, estimated_cost_usd, concurrency, run_id); ``state`` (key,
section, index, take, state, plus video_id / remote status / cost_usd / error / reused);
``rate_limited`` (retry_after, allowed); ``concurrency`` (allowed); ``stop_creating`` (reason);
``interrupted``; ``notice`` (message: e.g. a video the service no longer has is bought again);
``finished`` (done, failed, created, reused, spent_usd, bought_seconds, reused_seconds).

With an account ledger (``ledger=``), a job is first looked up there: what the account already
owns is reused (a verified local copy, else a fresh download), a render in flight is polled, a
create whose answer was lost is found by its title tag; only the rest is bought, and only that
counts in the estimate, the budget check and ``spent_usd``.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from otio_heygen.errors import BudgetExceededError, ConfigError, InterruptedRunError, OutputPathError
from otio_heygen.money import cost_micros, fits_budget, format_usd, micros_to_usd
from otio_heygen.planning.types import ClipResult, Job, RenderRequest
from otio_heygen.run.contract import Backend
from otio_heygen.run.job import JobStep
from otio_heygen.run.journal import Journal, job_seconds
from otio_heygen.run.journal_records import ACTIVE_STATES, JobRecord
from otio_heygen.run.ledger import AccountLedger
from otio_heygen.run.limits import AdaptiveLimiter, BudgetGuard, Event, Stop
from otio_heygen.run.poll import Poller
from otio_heygen.run.reuse import AccountBook
from otio_heygen.run.slots import SlotPool
from otio_heygen.run.steps import RunOptions, build_request, describe_error, ident
from otio_heygen.run.takes import plan_regenerations

__all__ = [
    "AdaptiveLimiter",
    "BudgetGuard",
    "Event",
    "JobFailure",
    "RunOptions",
    "RunReport",
    "build_request",
    "describe_error",
    "estimate_pending_cost",
    "pending_cost_micros",
    "plan_regenerations",
    "run_jobs",
]


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
    for job in jobs:
        if job.key in seen:
            continue
        seen.add(job.key)
        if _is_paid_or_done(journal.get(job.key)):
            continue
        if book is not None and book.status(job) != "new":
            continue
        total += cost_micros(job_seconds(job), price_per_second)
    return total


def _place_media(job: Job, record: JobRecord, media_dir: Path) -> Path | None:
    """The done job's media inside ``media_dir`` (hardlinked/copied from where it was), or None.

    A file only counts when its size is the one journaled when the job finished, so a clip of an
    edited version of the section that took the same file name is never passed off as this one.
    """
    expected = (record.finish_info or {}).get("media_size")

    def valid(path: Path) -> bool:
        try:
            size = path.stat().st_size
        except OSError:
            return False
        return size > 0 and (not isinstance(expected, int) or size == expected)

    dest = media_dir / job.media_basename
    if valid(dest):
        return dest
    if record.media_path and Path(record.media_path) != dest and valid(Path(record.media_path)):
        src = Path(record.media_path)
        media_dir.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copy2(src, tmp)
        os.replace(tmp, dest)
        return dest
    return None


def _refuse_backend_switch(jobs: Sequence[Job], journal: Journal, backend: str) -> None:
    """Rendering with another backend over renders already paid for would lose (and re-buy) them."""
    paid = []
    for job in jobs:
        record = journal.get(job.key)
        if (
            record is not None
            and record.backend not in (None, backend)
            and (record.billed or (record.cost_usd > 0 and (record.video_id is not None or record.state == "creating")))
        ):
            paid.append(record)
    if paid:
        raise OutputPathError(
            f"{journal.path.parent.parent} already holds {len(paid)} {paid[0].backend} render(s) "
            f"(e.g. '{paid[0].section_name}'); a {backend} render there would replace them",
            hint=f"write the {backend} render to another folder, or use --backend {paid[0].backend}",
        )


def _check_budget_can_be_kept(backend: Backend, budget_usd: float | None) -> None:
    """A paid backend priced at 0 would let every render through any ``--budget``: refuse instead."""
    if budget_usd is not None and backend.price_per_second <= 0 and getattr(backend, "paid", True):
        raise ConfigError(
            f"--budget ${budget_usd:.2f} cannot be kept: the price of a second of {backend.name} video is set to 0",
            hint="set the real price (OTIO_HEYGEN_PRICE_PER_SECOND or price_per_second in otio-heygen.toml), "
            "or render without --budget",
        )


def _made_for(job: Job, record: JobRecord, backend: Backend) -> bool:
    """Whether a finished clip may stand for ``job``: a backend that draws the section's title into
    the picture (``draws_title``, the preview) only reuses a clip drawn with the same title, so an
    identical-content section (or a renamed marker) never shows another section's name."""
    if not getattr(backend, "draws_title", False):
        return True
    provenance = (record.finish_info or {}).get("provenance")
    title = provenance.get("rendered_title") if isinstance(provenance, dict) else None
    if isinstance(title, str):
        return title == job.title
    # a clip journaled before titles were recorded: its file name says which section and take it was
    return record.media_path is not None and Path(record.media_path).name == job.media_basename


def _result_from_record(job: Job, record: JobRecord, media: Path) -> ClipResult | None:
    info = record.finish_info or {}
    frames = info.get("media_duration_frames")
    if not isinstance(frames, int):
        return None
    provenance = info.get("provenance")
    offset = info.get("sync_offset_ms")
    return ClipResult(
        job=job,
        media_path=media,
        media_duration_frames=frames,
        provenance=dict(provenance) if isinstance(provenance, dict) else {},
        sync_offset_ms=float(offset) if isinstance(offset, (int, float)) else None,
    )


def run_jobs(
    jobs: Sequence[Job],
    *,
    backend: Backend,
    journal: Journal,
    prepare_audio: Callable[[Job], Path],
    finish_clip: Callable[[Job, Path, dict[str, object]], ClipResult],
    media_dir: Path,
    options: RunOptions = RunOptions(),  # noqa: B008 - frozen, never mutated
    on_event: Callable[[Event], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    make_request: Callable[[Job, Path], RenderRequest] = build_request,
    keep: Sequence[Job] = (),
    ledger: AccountLedger | None = None,
    output_label: str | None = None,
    slots: SlotPool | None = None,
) -> RunReport:
    """Render every job (see the module docstring); return what finished and what failed.

    ``keep``: jobs never rendered here whose finished clips (same backend) are still returned
    with the results, e.g. the sections ``--only`` leaves out.

    ``ledger``: the account ledger of ``backend``'s account; a job the account already owns (or
    has in flight) is reused instead of bought (``otio_heygen.run.reuse``), and every purchase and
    verified copy is recorded there for other outputs (``output_label`` names this output).

    ``slots``: the account's render slots and job claims (``otio_heygen.run.slots``; a team
    ledger's are shared by every workstation); default: this process's only.

    Raises ``BudgetExceededError`` before any upload when the pending estimate is over
    ``options.budget_usd``, ``InterruptedRunError`` on Ctrl-C (journal left consistent), and the
    backend's ``Unreachable`` when the service cannot be reached at all.
    """
    unique: list[Job] = []
    seen: set[str] = set()
    for job in jobs:
        if job.key not in seen:
            seen.add(job.key)
            unique.append(job)
    price = float(backend.price_per_second)
    _refuse_backend_switch(unique, journal, backend.name)
    start = clock()
    event_lock = threading.Lock()
    sink_broken: list[BaseException] = []

    def emit(event: Event) -> None:
        """Progress never decides a job's fate: a failing sink (closed stdout...) is dropped."""
        if on_event is None or sink_broken:
            return
        event.setdefault("elapsed", round(clock() - start, 3))
        with event_lock:
            try:
                on_event(event)
            except Exception as exc:
                sink_broken.append(exc)

    book = (
        AccountBook(ledger, backend, now=journal.now, output=output_label, emit=emit) if ledger is not None else None
    )
    _check_budget_can_be_kept(backend, options.budget_usd)
    pending_micros = pending_cost_micros(unique, journal, price, book)
    estimate = micros_to_usd(pending_micros)
    if not fits_budget(pending_micros, options.budget_usd):
        raise BudgetExceededError(
            f"The render would cost about {format_usd(pending_micros)}, above the budget of ${options.budget_usd:.2f}",
            hint="raise --budget, render fewer sections with --only, or try --backend preview first",
        )
    run_id = journal.start_run(backend.name)
    results: dict[str, ClipResult] = {}
    failures: dict[str, JobFailure] = {}
    todo: list[Job] = []
    reused = 0
    reused_s = 0.0
    for job in unique:
        record = journal.ensure(job, backend=backend.name, price_per_second=price, run_id=run_id)
        if record.backend not in (None, backend.name):
            journal.update(
                job.key,
                state="planned",
                backend=backend.name,
                video_id=None,
                idempotency_key=None,
                image_asset=None,
                audio_asset=None,
                billed=0,
                cost_usd=round(job_seconds(job) * price, 6),
                error=None,
            )
            record = journal.get(job.key) or record
        if record.state == "done" and _made_for(job, record, backend):
            media = _place_media(job, record, media_dir)
            result = _result_from_record(job, record, media) if media is not None else None
            if result is not None:
                if str(media) != record.media_path:
                    journal.update(job.key, media_path=str(media))
                results[job.key] = result
                reused += 1
                reused_s += job_seconds(job)
                emit({"event": "state", **ident(job), "state": "done", "reused": True})
                continue
        todo.append(job)
    kept: list[Job] = []
    for job in keep:
        if job.key in seen:
            continue
        seen.add(job.key)
        done = journal.get(job.key)
        if done is None or done.state != "done" or done.backend != backend.name or not _made_for(job, done, backend):
            continue
        media = _place_media(job, done, media_dir)
        result = _result_from_record(job, done, media) if media is not None else None
        if result is not None:
            results[job.key] = result
            kept.append(job)
    emit(
        {
            "event": "plan",
            "jobs": len(unique),
            "reused": reused,
            "to_render": len(todo),
            "estimated_cost_usd": estimate,
            "concurrency": options.concurrency,
            "run_id": run_id,
        }
    )

    stop = Stop()

    def pause(seconds: float) -> None:
        if seconds <= 0:
            return
        if sleep is time.sleep:
            stop.cancel.wait(seconds)  # wakes up at once on Ctrl-C
        else:
            sleep(seconds)

    limiter = AdaptiveLimiter(
        options.concurrency,
        clock=clock,
        pause=pause,
        cancel=stop.cancel,
        recover_after=options.recover_after,
        on_change=emit,
        slots=slots,
    )
    step = JobStep(
        backend=backend,
        journal=journal,
        prepare_audio=prepare_audio,
        finish_clip=finish_clip,
        make_request=make_request,
        media_dir=media_dir,
        options=options,
        limiter=limiter,
        stop=stop,
        emit=emit,
        pause=pause,
        clock=clock,
        price=price,
        book=book,
        poller=Poller(
            backend,
            options.poll_policy(),
            clock=clock,
            sleep=None if sleep is time.sleep else sleep,  # real time: the poller waits on its own
            cancel=stop.cancel,
        ),
    )
    if options.longest_first:
        todo.sort(key=lambda job: -job_seconds(job))  # stable: equal lengths keep timeline order
    step.priorities = {job.key: rank for rank, job in enumerate(todo)}
    for rank in step.priorities.values():
        limiter.expect(rank)  # before any job starts: worker threads start in no fixed order
    interrupted = False
    if todo:
        pool = ThreadPoolExecutor(
            max_workers=min(64, max(2, 2 * options.concurrency)), thread_name_prefix="otio-heygen"
        )
        futures: dict[Future[ClipResult | str | None], Job] = {}
        try:
            for job in todo:
                futures[pool.submit(step.run, job)] = job
            pending = set(futures)
            while pending:
                _done, pending = wait(pending, timeout=0.2)
        except KeyboardInterrupt:
            interrupted = True
            stop.interrupt()
            emit({"event": "interrupted"})
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            step.poller.close()
        for future, job in futures.items():
            if future.cancelled():
                continue
            outcome = future.result()
            if isinstance(outcome, ClipResult):
                results[job.key] = outcome
            elif isinstance(outcome, str):
                failures[job.key] = JobFailure(job, outcome)
    if stop.fatal is not None and not interrupted:
        journal.finish_run(run_id, "failed")
        raise stop.fatal
    journal.finish_run(run_id, "interrupted" if interrupted else ("failed" if failures else "complete"))
    report = RunReport(
        results=[results[j.key] for j in [*unique, *kept] if j.key in results],
        failures=[failures[j.key] for j in unique if j.key in failures],
        spent_usd=round(step.spent_usd, 6),
        created=step.created,
        reused=reused + step.reused,
        resumed=step.resumed,
        run_id=run_id,
        interrupted=interrupted,
        timings={"wall_s": round(clock() - start, 3)},
        bought_seconds=round(step.bought_seconds, 6),
        reused_seconds=round(reused_s + step.reused_seconds, 6),
    )
    emit(
        {
            "event": "finished",
            "done": len(report.results),
            "failed": len(report.failures),
            "created": report.created,
            "reused": report.reused,
            "spent_usd": report.spent_usd,
            "bought_seconds": report.bought_seconds,
            "reused_seconds": report.reused_seconds,
        }
    )
    if interrupted:
        records = journal.records(run_id=run_id)
        running = sum(1 for r in records if r.state in ACTIVE_STATES and r.video_id is not None)
        waiting = sum(1 for r in records if r.state not in ("done", "failed")) - running
        raise InterruptedRunError(
            f"Stopped: {len(report.results)} clip(s) finished, {running} still rendering at "
            f"{backend.name}, {waiting} not started",
            hint="run the same command again to resume; renders already paid for are picked up, not re-bought",
        )
    return report
