"""Grade-ready media: which file goes on the timeline, HeyGen's MP4 as delivered or a .mov made from it.

Owns the ``--media-format`` step between rendering and conforming. With ``mp4`` the clips are
placed as downloaded. With ``prores``/``dnxhr`` the runner keeps HeyGen's originals in
``<stem>_media/masters/`` (``masters_dir``) and ``place_clips`` encodes each into
``<stem>_media/<name>.mov`` at the timeline's rate and size with the section's record timecode,
then measures lip-sync on that placed file. Every conversion is journaled in
``masters/.conversions.sqlite`` (master's sha256 + what was asked + the file written), so a
rerun whose master, settings and output file are unchanged does not encode again.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from otio_heygen.errors import MediaError
from otio_heygen.media.files import file_sha256
from otio_heygen.media.sync import MIN_CONFIDENCE, check_clip_sync
from otio_heygen.media.transcode import FORMATS, MediaFormat, TranscodeSpec, record_timecode, transcode
from otio_heygen.planning.types import ClipResult, Job

__all__ = ["MASTERS_DIRNAME", "ConversionJournal", "masters_dir", "place_clips"]

MASTERS_DIRNAME = "masters"
_JOURNAL_NAME = ".conversions.sqlite"

EventSink = Callable[[dict[str, object]], None]


def masters_dir(media_dir: Path, media_format: MediaFormat) -> Path:
    """Where the runner keeps HeyGen's files: the media folder itself for ``mp4``, else ``masters/``."""
    return media_dir if media_format == "mp4" else media_dir / MASTERS_DIRNAME


class ConversionJournal:
    """SQLite record of every encode: ``dest`` -> master digest, spec and the file written."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path)
        self._db.execute(
            """CREATE TABLE IF NOT EXISTS conversions (
                dest TEXT PRIMARY KEY, master TEXT NOT NULL, master_sha256 TEXT NOT NULL,
                spec TEXT NOT NULL, dest_size INTEGER NOT NULL, info TEXT NOT NULL, created_at REAL NOT NULL)"""
        )
        self._db.commit()

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> ConversionJournal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def current(self, dest: Path, master_sha256: str, spec: TranscodeSpec) -> dict[str, Any] | None:
        """The journaled info when ``dest`` is still the encode of this master with this spec."""
        row = self._db.execute(
            "SELECT master_sha256, spec, dest_size, info FROM conversions WHERE dest = ?", (str(dest),)
        ).fetchone()
        if row is None or row[0] != master_sha256 or json.loads(row[1]) != spec.key():
            return None
        try:
            if dest.stat().st_size != row[2]:
                return None
        except OSError:
            return None
        info: dict[str, Any] = json.loads(row[3])
        return info

    def record(self, dest: Path, master: Path, master_sha256: str, spec: TranscodeSpec, info: dict[str, Any]) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO conversions VALUES (?, ?, ?, ?, ?, ?, ?)",
            (str(dest), str(master), master_sha256, json.dumps(spec.key()), dest.stat().st_size,
             json.dumps(info), time.time()),
        )
        self._db.commit()


def _ident(job: Job) -> dict[str, object]:
    return {"key": job.key, "section": job.section.name, "index": job.section.index, "take": job.take}


def _progress(emit: EventSink, job: Job, label: str) -> Callable[[int, int], None]:
    """Report encoding progress in tenths (a progress row shows e.g. ``ProRes 422 HQ 40%``)."""
    shown = [-1]

    def on_frame(done: int, total: int) -> None:
        tenth = done * 10 // max(total, 1)
        if tenth != shown[0]:
            shown[0] = tenth
            emit({"event": "state", **_ident(job), "state": "encoding", "remote": f"{label} {tenth * 10}%",
                  "frames": done, "of": total})

    return on_frame


def _spec(result: ClipResult, media_format: MediaFormat, rate: float, start_frame: int,
          size: tuple[int, int] | None) -> tuple[TranscodeSpec, int]:
    job = result.job
    first = start_frame + job.audio_start_frame
    spec = TranscodeSpec(
        media_format=media_format, rate=rate, frames=job.audio_end_frame - job.audio_start_frame, size=size,
        start_timecode=record_timecode(first, rate), name=job.section.name,
    )
    return spec, first


def place_clips(
    results: Sequence[ClipResult],
    *,
    media_format: MediaFormat,
    media_dir: Path,
    rate: float,
    start_frame: int,
    size: tuple[int, int] | None,
    sent_audio: Callable[[Job], Path],
    emit: EventSink,
) -> list[ClipResult]:
    """The clips to conform: ``results`` as they are for ``mp4``, else their grade-ready copies.

    ``start_frame`` is the timeline's start as frames from 00:00:00:00 (record timecode of frame 0);
    ``sent_audio`` gives the audio that was sent for a job (the lip-sync reference).
    """
    if media_format == "mp4":
        return list(results)
    fmt = FORMATS[media_format]
    placed: list[ClipResult] = []
    with ConversionJournal(masters_dir(media_dir, media_format) / _JOURNAL_NAME) as journal:
        for result in results:
            job, master = result.job, result.media_path
            spec, first = _spec(result, media_format, rate, start_frame, size)
            dest = media_dir / f"{Path(job.media_basename).stem}{fmt.suffix}"
            digest = file_sha256(master)
            info = journal.current(dest, digest, spec)
            if info is None:
                emit({"event": "state", **_ident(job), "state": "encoding", "remote": fmt.label})
                t0 = time.monotonic()
                try:
                    done = transcode(master, dest, spec, on_frame=_progress(emit, job, fmt.label))
                except MediaError as exc:  # the paid render is kept and placed as delivered
                    emit({"event": "state", **_ident(job), "state": "done", "encoded": False})
                    emit({"event": "warning", "message": f"{job.title}: {exc.one_line()}; "
                          f"placed HeyGen's MP4 ({master.name}) instead"})
                    placed.append(result)
                    continue
                info = {"frames": done.frames, "size": list(done.size), "held_frames": done.held_frames,
                        "encode_s": round(time.monotonic() - t0, 3)}
                journal.record(dest, master, digest, spec, info)
            emit({"event": "state", **_ident(job), "state": "done", "encoded": True})
            placed.append(_placed(result, dest, spec, first, info, sent_audio(job), rate))
    return placed


def _placed(result: ClipResult, dest: Path, spec: TranscodeSpec, first: int, info: dict[str, Any],
            sent: Path, rate: float) -> ClipResult:
    sync = check_clip_sync(dest, sent, rate)
    provenance = {
        **result.provenance,
        "sync": {"offset_ms": round(sync.offset_ms, 2), "offset_frames": round(sync.offset_frames, 3),
                 "confidence": round(sync.confidence, 3), "flagged": sync.flagged, "measured_on": dest.name},
        "media_format": spec.media_format,
        "codec": FORMATS[spec.media_format].label,
        "start_timecode": spec.start_timecode,
        "master_file": f"{result.media_path.parent.name}/{result.media_path.name}",
        "held_frames": info.get("held_frames", 0),
    }
    return dataclasses.replace(
        result, media_path=dest, media_duration_frames=spec.frames, media_start_frame=first,
        provenance=provenance, sync_offset_ms=sync.offset_ms if sync.confidence >= MIN_CONFIDENCE else None,
    )
