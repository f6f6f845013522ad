"""The worker pool of one run: every job on a thread, and what Ctrl-C does to them.

Ctrl-C once stops gracefully: ``Stop.interrupt`` lets no new step start, the calls in hand end and the
journal is left resumable, then ``run_workers`` returns True. Ctrl-C again while it waits means "stop
now": it stops waiting and raises ``StopNow`` (a ``KeyboardInterrupt``) while the workers may still be
in a call; the CLI then removes this process's temp files and exits at once (``otio_heygen.cli.main``).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any

from otio_heygen.errors import StopNow
from otio_heygen.planning.types import ClipResult, Job
from otio_heygen.run.job import JobStep
from otio_heygen.run.limits import Event
from otio_heygen.run.report import JobFailure

__all__ = ["run_workers"]


def run_workers(
    todo: Sequence[Job],
    step: JobStep,
    concurrency: int,
    emit: Callable[[Event], None],
    results: dict[str, ClipResult],
    failures: dict[str, JobFailure],
) -> bool:
    """Run ``todo`` on the worker pool, filling ``results`` / ``failures``; True when interrupted (Ctrl-C:
    the workers end the calls in hand, journal resumable; Ctrl-C again meanwhile raises ``StopNow`` at once)."""
    interrupted = now = False
    # no job starts before every job is queued: a busy first worker could otherwise hold the main thread
    # inside ``submit`` (starting the next thread), where a Ctrl-C would leave that thread out of the
    # pool's list, and out of the graceful wait
    queued = threading.Event()
    pool = ThreadPoolExecutor(max_workers=min(64, max(2, 2 * concurrency)), thread_name_prefix="otio-heygen",
                              initializer=queued.wait)
    futures: dict[Future[ClipResult | str | None], Job] = {}
    try:
        try:
            for job in todo:
                futures[pool.submit(step.run, job)] = job
        finally:
            queued.set()
        pending = set(futures)
        while pending:
            _done, pending = wait(pending, timeout=0.2)
    except KeyboardInterrupt:
        interrupted = True
        try:
            step.stop.interrupt()
            emit({"event": "interrupted"})
        except KeyboardInterrupt:
            now = True
    finally:
        _wind_down(pool, step, set(futures), now=now)
    for future, job in futures.items():
        if future.cancelled():
            continue
        outcome = future.result()
        if isinstance(outcome, ClipResult):
            results[job.key] = outcome
        elif isinstance(outcome, str):
            failures[job.key] = JobFailure(job, outcome)
    return interrupted


def _wind_down(pool: ThreadPoolExecutor, step: JobStep, futures: set[Future[Any]], *, now: bool) -> None:
    """Wait for the workers, unless ``now`` or a Ctrl-C comes while waiting: then ``StopNow``.

    The wait is in slices (``wait`` with a timeout, not an endless ``join``): the kernel may hand the
    second Ctrl-C to a worker thread, and the main thread only runs Python's handler once it wakes."""
    with contextlib.suppress(KeyboardInterrupt):
        if not now:
            pool.shutdown(wait=False, cancel_futures=True)
            pending = {future for future in futures if not future.done()}
            while pending:
                _done, pending = wait(pending, timeout=0.2)
            pool.shutdown(wait=True)  # every job has ended: the threads only leave their loop
            step.poller.close()
            return
    step.stop.interrupt()
    pool.shutdown(wait=False, cancel_futures=True)
    raise StopNow("stopped at once: Ctrl-C again while the run was stopping")
