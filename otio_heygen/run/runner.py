"""The one orchestrator: runs a plan's jobs through a backend, concurrently, resumably, within budget.

Each job walks ``planned -> uploading -> creating -> rendering -> downloading -> done``, every
step committed to the :class:`~otio_heygen.run.journal.Journal` before the next network call that
depends on it: the Idempotency-Key before the create is sent, the video id before any wait.
A rerun therefore skips done jobs (no API call), re-polls renders, and re-sends an interrupted
create with the same key, so nothing is billed twice.

The per-job steps live in ``otio_heygen.run.job``, the run-wide limits in
``otio_heygen.run.limits``, the polling in ``otio_heygen.run.poll``, the report and cost
estimate in ``otio_heygen.run.report``, the replay of clips finished before in
``otio_heygen.run.finished``. Threads: a pool of ``2 x concurrency`` workers runs whole jobs,
longest section first (render time grows with length, so the batch ends as early as the
account's slots allow; results stay in timeline order); a render slot (``AdaptiveLimiter``) is
held from create to completion so at most ``concurrency`` renders run at once, while other
workers upload ahead and download behind; one poller thread checks every render in flight at
once. A 429 lowers the allowed concurrency and pauses new creates for ``Retry-After``; successes
raise it back one step at a time. 401/402 stop new creates; renders already paid for are still
polled and downloaded. A service that cannot be reached at all (``Unreachable``) stops the whole
run at once and is raised.

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

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from pathlib import Path

from otio_heygen.errors import BudgetExceededError, ConfigError, InterruptedRunError, OutputPathError
from otio_heygen.money import fits_budget, format_usd, micros_to_usd
from otio_heygen.planning.types import ClipResult, Job, RenderRequest
from otio_heygen.run.contract import Backend
from otio_heygen.run.finished import Replayed, replay_done, replay_kept
from otio_heygen.run.job import JobStep
from otio_heygen.run.journal import Journal, job_seconds
from otio_heygen.run.journal_records import ACTIVE_STATES
from otio_heygen.run.ledger import AccountLedger
from otio_heygen.run.limits import AdaptiveLimiter, BudgetGuard, Event, Stop
from otio_heygen.run.liveness import Heartbeat
from otio_heygen.run.poll import Poller
from otio_heygen.run.report import JobFailure, RunReport, finished_event, pending_cost_micros
from otio_heygen.run.reuse import AccountBook
from otio_heygen.run.slots import SlotPool
from otio_heygen.run.steps import RunOptions, build_request, describe_error
from otio_heygen.run.takes import plan_regenerations

__all__ = [
    "AdaptiveLimiter",
    "BudgetGuard",
    "Event",
    "RunOptions",
    "build_request",
    "describe_error",
    "plan_regenerations",
    "run_jobs",
]


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


class _EventSink:
    """Passes events to ``on_event`` stamped with ``elapsed`` seconds since the run started.

    Progress never decides a job's fate: a failing sink (closed stdout...) is dropped."""

    def __init__(self, on_event: Callable[[Event], None] | None, clock: Callable[[], float]) -> None:
        self.on_event = on_event
        self.clock = clock
        self.start = clock()
        self.lock = threading.Lock()
        self.broken: list[BaseException] = []

    def __call__(self, event: Event) -> None:
        if self.on_event is None or self.broken:
            return
        event.setdefault("elapsed", round(self.clock() - self.start, 3))
        with self.lock:
            try:
                self.on_event(event)
            except Exception as exc:
                self.broken.append(exc)


def _unique(jobs: Sequence[Job]) -> list[Job]:
    unique: list[Job] = []
    seen: set[str] = set()
    for job in jobs:
        if job.key not in seen:
            seen.add(job.key)
            unique.append(job)
    return unique


def _check_budget(
    jobs: Sequence[Job],
    journal: Journal,
    backend: Backend,
    price: float,
    budget_usd: float | None,
    book: AccountBook | None,
) -> float:
    """The estimated cost of what is still to buy; raises ``BudgetExceededError`` when over budget."""
    _check_budget_can_be_kept(backend, budget_usd)
    pending_micros = pending_cost_micros(jobs, journal, price, book)
    estimate = micros_to_usd(pending_micros)
    if not fits_budget(pending_micros, budget_usd):
        raise BudgetExceededError(
            f"The render would cost about {format_usd(pending_micros)}, above the budget of ${budget_usd:.2f}",
            hint="raise --budget, render fewer sections with --only, or try --backend preview first",
        )
    return estimate


def _make_step(
    *,
    backend: Backend,
    journal: Journal,
    prepare_audio: Callable[[Job], Path],
    finish_clip: Callable[[Job, Path, dict[str, object]], ClipResult],
    make_request: Callable[[Job, Path], RenderRequest],
    media_dir: Path,
    options: RunOptions,
    emit: Callable[[Event], None],
    sleep: Callable[[float], None],
    clock: Callable[[], float],
    price: float,
    book: AccountBook | None,
    slots: SlotPool | None,
) -> JobStep:
    """The per-job runner with its stop flag, render-slot limiter and poller."""
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
    return JobStep(
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


def _rank(todo: list[Job], step: JobStep, longest_first: bool) -> None:
    """Order ``todo`` (longest first if asked) and reserve each job's place at the render slots."""
    if longest_first:
        todo.sort(key=lambda job: -job_seconds(job))  # stable: equal lengths keep timeline order
    step.priorities = {job.key: rank for rank, job in enumerate(todo)}
    for rank in step.priorities.values():
        step.limiter.expect(rank)  # before any job starts: worker threads start in no fixed order


def _run_workers(
    todo: Sequence[Job],
    step: JobStep,
    concurrency: int,
    emit: Callable[[Event], None],
    results: dict[str, ClipResult],
    failures: dict[str, JobFailure],
) -> bool:
    """Run ``todo`` on the worker pool, filling ``results`` / ``failures``; True when interrupted."""
    interrupted = False
    pool = ThreadPoolExecutor(max_workers=min(64, max(2, 2 * concurrency)), thread_name_prefix="otio-heygen")
    futures: dict[Future[ClipResult | str | None], Job] = {}
    try:
        for job in todo:
            futures[pool.submit(step.run, job)] = job
        pending = set(futures)
        while pending:
            _done, pending = wait(pending, timeout=0.2)
    except KeyboardInterrupt:
        interrupted = True
        step.stop.interrupt()
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
    return interrupted


def _plan_event(unique: Sequence[Job], replayed: Replayed, estimate: float, concurrency: int, run_id: int) -> Event:
    return {
        "event": "plan",
        "jobs": len(unique),
        "reused": replayed.reused,
        "to_render": len(replayed.todo),
        "estimated_cost_usd": estimate,
        "concurrency": concurrency,
        "run_id": run_id,
    }


def _build_report(
    unique: Sequence[Job],
    replayed: Replayed,
    results: dict[str, ClipResult],
    failures: dict[str, JobFailure],
    step: JobStep,
    run_id: int,
    interrupted: bool,
    wall_s: float,
) -> RunReport:
    """What finished (timeline order, then the kept clips), what failed, and what was bought or reused."""
    return RunReport(
        results=[results[j.key] for j in [*unique, *replayed.kept] if j.key in results],
        failures=[failures[j.key] for j in unique if j.key in failures],
        spent_usd=round(step.spent_usd, 6),
        created=step.created,
        reused=replayed.reused + step.reused,
        resumed=step.resumed,
        run_id=run_id,
        interrupted=interrupted,
        timings={"wall_s": wall_s},
        bought_seconds=round(step.bought_seconds, 6),
        reused_seconds=round(replayed.reused_s + step.reused_seconds, 6),
    )


def _interrupted_error(journal: Journal, run_id: int, report: RunReport, backend_name: str) -> InterruptedRunError:
    records = journal.records(run_id=run_id)
    running = sum(1 for r in records if r.state in ACTIVE_STATES and r.video_id is not None)
    waiting = sum(1 for r in records if r.state not in ("done", "failed")) - running
    return InterruptedRunError(
        f"Stopped: {len(report.results)} clip(s) finished, {running} still rendering at "
        f"{backend_name}, {waiting} not started",
        hint="run the same command again to resume; renders already paid for are picked up, not re-bought",
    )


@contextmanager
def _live_run(journal: Journal, run_id: int) -> Iterator[None]:
    """While the run works: its heartbeat (so ``status`` tells it from a killed one), and an
    outcome recorded for it whatever way it ends (an unexpected error: ``failed``)."""
    try:
        with Heartbeat(lambda: journal.heartbeat(run_id)):
            yield
    except KeyboardInterrupt:
        journal.finish_run(run_id, "interrupted")
        raise
    except BaseException:
        journal.finish_run(run_id, "failed")
        raise


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
    unique = _unique(jobs)
    price = float(backend.price_per_second)
    _refuse_backend_switch(unique, journal, backend.name)
    emit = _EventSink(on_event, clock)
    book = AccountBook(ledger, backend, now=journal.now, output=output_label, emit=emit) if ledger is not None else None
    estimate = _check_budget(unique, journal, backend, price, options.budget_usd, book)
    run_id = journal.start_run(backend.name)
    with _live_run(journal, run_id):
        replayed = replay_done(unique, journal, backend, price, run_id, media_dir, emit)
        replay_kept(keep, {job.key for job in unique}, journal, backend, media_dir, replayed)
        results, todo = replayed.results, replayed.todo
        emit(_plan_event(unique, replayed, estimate, options.concurrency, run_id))
        step = _make_step(
            backend=backend,
            journal=journal,
            prepare_audio=prepare_audio,
            finish_clip=finish_clip,
            make_request=make_request,
            media_dir=media_dir,
            options=options,
            emit=emit,
            sleep=sleep,
            clock=clock,
            price=price,
            book=book,
            slots=slots,
        )
        _rank(todo, step, options.longest_first)
        failures: dict[str, JobFailure] = {}
        interrupted = _run_workers(todo, step, options.concurrency, emit, results, failures) if todo else False
        if step.stop.fatal is not None and not interrupted:
            journal.finish_run(run_id, "failed")
            raise step.stop.fatal
        journal.finish_run(run_id, "interrupted" if interrupted else ("failed" if failures else "complete"))
    report = _build_report(
        unique, replayed, results, failures, step, run_id, interrupted, round(clock() - emit.start, 3)
    )
    emit(finished_event(report))
    if interrupted:
        raise _interrupted_error(journal, run_id, report, backend.name)
    return report
