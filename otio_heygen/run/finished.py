"""Clips this output already finished: whether one may stand for a job (``made_for``), putting its
media in the media folder (``place_media``) and rebuilding its ``ClipResult`` from the journal
(``result_from_record``), so a rerun returns them without any API call; the pre-run pass that
journals every job and sorts it into reused or to do (``replay_done``, ``replay_kept``).

Used by ``otio_heygen.run.runner``; reuse across outputs (the account ledger) is
``otio_heygen.run.reuse``'s.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

from otio_heygen.fsutil import commit_temp, discard_temp, reserve_temp_beside
from otio_heygen.planning.types import ClipResult, Job
from otio_heygen.run.contract import Backend
from otio_heygen.run.journal import Journal, job_seconds
from otio_heygen.run.journal_records import JobRecord
from otio_heygen.run.limits import Event
from otio_heygen.run.steps import ident

__all__ = ["Replayed", "made_for", "place_media", "replay_done", "replay_kept", "result_from_record"]


def place_media(job: Job, record: JobRecord, media_dir: Path) -> Path | None:
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
        tmp = reserve_temp_beside(dest, ".tmp")
        try:
            try:
                os.link(src, tmp)
            except OSError:
                shutil.copy2(src, tmp)
            commit_temp(tmp, dest)
        finally:
            discard_temp(tmp)  # nothing left once committed
        return dest
    return None


def made_for(job: Job, record: JobRecord, backend: Backend) -> bool:
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


def result_from_record(job: Job, record: JobRecord, media: Path) -> ClipResult | None:
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


class Replayed:
    """The jobs' bookkeeping before any render: what finished before is returned again, the rest is to do."""

    def __init__(self) -> None:
        self.results: dict[str, ClipResult] = {}
        self.todo: list[Job] = []
        self.kept: list[Job] = []
        self.reused = 0
        self.reused_s = 0.0


def replay_done(
    jobs: Sequence[Job],
    journal: Journal,
    backend: Backend,
    price: float,
    run_id: int,
    media_dir: Path,
    emit: Callable[[Event], None],
) -> Replayed:
    """Journal every job for this run; a job finished before in this output (verified media) is
    reused, every other job is left to do. A job journaled for another backend starts over."""
    replayed = Replayed()
    for job in jobs:
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
        if record.state == "done" and made_for(job, record, backend):
            media = place_media(job, record, media_dir)
            result = result_from_record(job, record, media) if media is not None else None
            if result is not None:
                if str(media) != record.media_path:
                    journal.update(job.key, media_path=str(media))
                replayed.results[job.key] = result
                replayed.reused += 1
                replayed.reused_s += job_seconds(job)
                emit({"event": "state", **ident(job), "state": "done", "reused": True})
                continue
        replayed.todo.append(job)
    return replayed


def replay_kept(
    keep: Sequence[Job], seen: set[str], journal: Journal, backend: Backend, media_dir: Path, replayed: Replayed
) -> None:
    """Add the finished clips (same backend) of ``keep`` jobs not rendered here to ``replayed``."""
    for job in keep:
        if job.key in seen:
            continue
        seen.add(job.key)
        done = journal.get(job.key)
        if done is None or done.state != "done" or done.backend != backend.name or not made_for(job, done, backend):
            continue
        media = place_media(job, done, media_dir)
        result = result_from_record(job, done, media) if media is not None else None
        if result is not None:
            replayed.results[job.key] = result
            replayed.kept.append(job)
