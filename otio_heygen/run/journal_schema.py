"""The journal's schema: its append-only migrations and how they are applied.

Every change to the journal's tables is a migration appended to :data:`MIGRATIONS` and recorded
by name in the ``_migrations`` table when applied (simonw/llm style): never edit a shipped
migration, add a new one. :class:`otio_heygen.run.journal.Journal` applies them on open.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Sequence

from otio_heygen.run.sqlite_tx import immediate_transaction

__all__ = ["MIGRATIONS", "Migration", "apply_migrations"]

Migration = Callable[[sqlite3.Connection], None]


def _m001_jobs(db: sqlite3.Connection) -> None:
    db.execute(
        """CREATE TABLE jobs (
            key TEXT PRIMARY KEY,
            section_index INTEGER NOT NULL,
            section_name TEXT NOT NULL,
            section_slug TEXT NOT NULL,
            take INTEGER NOT NULL,
            state TEXT NOT NULL,
            image_asset TEXT,
            audio_asset TEXT,
            idempotency_key TEXT,
            video_id TEXT,
            media_path TEXT,
            seconds REAL NOT NULL DEFAULT 0,
            cost_usd REAL NOT NULL DEFAULT 0,
            error TEXT,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            finish_info TEXT
        )"""
    )


def _m002_runs_and_timings(db: sqlite3.Connection) -> None:
    db.execute(
        """CREATE TABLE runs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            started_at REAL NOT NULL,
            finished_at REAL,
            backend TEXT NOT NULL,
            outcome TEXT
        )"""
    )
    for column in (
        "backend TEXT",
        "attempts INTEGER NOT NULL DEFAULT 0",
        "state_since REAL",
        "last_run INTEGER",
        "billed INTEGER NOT NULL DEFAULT 0",
        "timings TEXT",
    ):
        db.execute(f"ALTER TABLE jobs ADD COLUMN {column}")
    db.execute("UPDATE jobs SET state_since = updated_at")
    db.execute("UPDATE jobs SET billed = 1 WHERE video_id IS NOT NULL AND state != 'failed'")
    db.execute("CREATE INDEX jobs_section ON jobs(section_slug, take)")


def _m003_key_sent_at(db: sqlite3.Connection) -> None:
    """When the row's Idempotency-Key was first recorded (HeyGen replays a key for 24 h only)."""
    db.execute("ALTER TABLE jobs ADD COLUMN key_sent_at REAL")
    db.execute("UPDATE jobs SET key_sent_at = state_since WHERE idempotency_key IS NOT NULL")


def _m004_take_choices(db: sqlite3.Connection) -> None:
    """The take each section of the output shows (``--regenerate NAME[=TAKE]``), per section content,
    and the take a bare ``--regenerate NAME`` asked for (so the same command asks for it again).

    ``family`` is the key of the section's first take: an edit of the section (new audio, photo or
    settings) starts a new family, so a choice never applies to content it was not made for."""
    db.execute(
        """CREATE TABLE take_choices (
            family TEXT PRIMARY KEY,
            section_slug TEXT NOT NULL,
            take INTEGER NOT NULL,
            regenerated INTEGER,
            asked_at REAL NOT NULL
        )"""
    )
    db.execute("CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT)")


def _m005_run_liveness(db: sqlite3.Connection) -> None:
    """Which process runs each run, and when it was last heard from (``otio_heygen.run.liveness``)."""
    for column in ("pid INTEGER", "host TEXT", "heartbeat_at REAL"):
        db.execute(f"ALTER TABLE runs ADD COLUMN {column}")


MIGRATIONS: tuple[tuple[str, Migration], ...] = (
    ("001_jobs", _m001_jobs),
    ("002_runs_and_timings", _m002_runs_and_timings),
    ("003_key_sent_at", _m003_key_sent_at),
    ("004_take_choices", _m004_take_choices),
    ("005_run_liveness", _m005_run_liveness),
)
"""Append-only: the position of a migration is its version."""


def apply_migrations(db: sqlite3.Connection, migrations: Sequence[tuple[str, Migration]] = MIGRATIONS) -> list[str]:
    """Apply every migration not yet recorded in ``_migrations``; return the names applied."""
    db.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL)")
    applied: list[str] = []
    for name, migrate in migrations:
        # One explicit transaction per migration (SQLite DDL is transactional): on a connection in
        # autocommit mode ``with db:`` would commit each statement, so a process killed halfway
        # left a half-migrated journal that no later run could open. Checked inside the
        # transaction, so two processes opening the same journal never apply one migration twice.
        with immediate_transaction(db):
            if db.execute("SELECT 1 FROM _migrations WHERE name = ?", (name,)).fetchone() is None:
                migrate(db)
                db.execute("INSERT INTO _migrations (name, applied_at) VALUES (?, ?)", (name, time.time()))
                applied.append(name)
    return applied
