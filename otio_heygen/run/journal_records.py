"""What the journal holds: the job states, one job's row (:class:`JobRecord`) and one run's row.

The rows are read by :class:`otio_heygen.run.journal.Journal` (:func:`record_from_row` turns a
``jobs`` row into a :class:`JobRecord`) and read back by the runner, the job step, the takes
and the outputs; nothing here touches the database.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["ACTIVE_STATES", "JobRecord", "JobState", "RunRecord", "record_from_row"]

JobState = Literal["planned", "uploading", "creating", "rendering", "downloading", "done", "failed"]
ACTIVE_STATES: frozenset[str] = frozenset({"uploading", "creating", "rendering", "downloading"})


@dataclass(frozen=True)
class JobRecord:
    """One journal row."""

    key: str
    section_index: int
    section_name: str
    section_slug: str
    take: int
    state: str
    image_asset: str | None
    audio_asset: str | None
    idempotency_key: str | None
    video_id: str | None
    media_path: str | None
    seconds: float
    cost_usd: float
    error: str | None
    created_at: float
    updated_at: float
    finish_info: dict[str, Any] | None
    backend: str | None
    attempts: int
    state_since: float | None
    last_run: int | None
    billed: bool
    timings: dict[str, float]
    key_sent_at: float | None = None
    """Wall-clock time the current ``idempotency_key`` was first recorded (before its first send)."""


@dataclass(frozen=True)
class RunRecord:
    id: int
    started_at: float
    finished_at: float | None
    backend: str
    outcome: str | None
    pid: int | None = None
    host: str | None = None
    heartbeat_at: float | None = None


def record_from_row(cur: sqlite3.Cursor, row: tuple[Any, ...]) -> JobRecord:
    """The :class:`JobRecord` of one ``SELECT * FROM jobs`` row of cursor ``cur``."""
    data = {d[0]: value for d, value in zip(cur.description, row, strict=True)}
    finish = data.get("finish_info")
    timings = data.get("timings")
    return JobRecord(
        key=str(data["key"]),
        section_index=int(data["section_index"]),
        section_name=str(data["section_name"]),
        section_slug=str(data["section_slug"]),
        take=int(data["take"]),
        state=str(data["state"]),
        image_asset=data["image_asset"],
        audio_asset=data["audio_asset"],
        idempotency_key=data["idempotency_key"],
        video_id=data["video_id"],
        media_path=data["media_path"],
        seconds=float(data["seconds"]),
        cost_usd=float(data["cost_usd"]),
        error=data["error"],
        created_at=float(data["created_at"]),
        updated_at=float(data["updated_at"]),
        finish_info=json.loads(finish) if finish else None,
        backend=data.get("backend"),
        attempts=int(data.get("attempts") or 0),
        state_since=data.get("state_since"),
        last_run=data.get("last_run"),
        billed=bool(data.get("billed") or 0),
        timings=json.loads(timings) if timings else {},
        key_sent_at=data.get("key_sent_at"),
    )
