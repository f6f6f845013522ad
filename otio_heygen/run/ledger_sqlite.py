"""The default ledger store: one embedded SQLite file, safe under concurrent threads and processes.

WAL journal mode, ``synchronous=NORMAL`` (a commit survives a killed process), a 30 s busy
timeout, every write its own ``BEGIN IMMEDIATE`` transaction, and an append-only list of
versioned migrations recorded in ``ledger_migrations`` (applied inside the same transaction
that checks them, so two processes opening a new file never apply one twice). The SQL is kept
portable (see ``otio_heygen.run.ledger``) so a PostgreSQL store can reuse ``MIGRATIONS`` and the
statements with ``%s`` placeholders.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

from otio_heygen.errors import ConfigError
from otio_heygen.run.ledger import Intent, LedgerEntry, LocalCopy, OwnedVideo, Purchase, VideoState
from otio_heygen.run.sqlite_tx import immediate_transaction

__all__ = ["MIGRATIONS", "SqliteLedgerStore"]

_V001 = (
    """CREATE TABLE ledger_intents (
        account TEXT NOT NULL,
        idempotency_key TEXT NOT NULL,
        job_key TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        section TEXT NOT NULL,
        seconds DOUBLE PRECISION NOT NULL,
        cost_usd DOUBLE PRECISION NOT NULL,
        recorded_at DOUBLE PRECISION NOT NULL,
        first_sent_at DOUBLE PRECISION,
        may_have_reached INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (account, idempotency_key)
    )""",
    "CREATE INDEX ledger_intents_job ON ledger_intents (account, job_key)",
    """CREATE TABLE ledger_videos (
        account TEXT NOT NULL,
        video_id TEXT NOT NULL,
        job_key TEXT NOT NULL,
        idempotency_key TEXT,
        section TEXT NOT NULL,
        state TEXT NOT NULL,
        seconds DOUBLE PRECISION NOT NULL,
        cost_usd DOUBLE PRECISION NOT NULL,
        billed INTEGER NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (account, video_id)
    )""",
    "CREATE INDEX ledger_videos_job ON ledger_videos (account, job_key)",
    """CREATE TABLE ledger_copies (
        account TEXT NOT NULL,
        video_id TEXT NOT NULL,
        path TEXT NOT NULL,
        size BIGINT NOT NULL,
        sha256 TEXT NOT NULL,
        output TEXT,
        verified_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (account, video_id, path)
    )""",
)

MIGRATIONS: tuple[tuple[str, tuple[str, ...]], ...] = (("001_ledger", _V001),)
"""Append-only: a migration's position is its version; each is a list of portable statements."""

_INTENT_COLS = "idempotency_key, job_key, attempt, recorded_at, first_sent_at, may_have_reached"
_VIDEO_COLS = "video_id, job_key, idempotency_key, section, state, seconds, cost_usd, billed, created_at, updated_at"
_COPY_COLS = "video_id, path, size, sha256, output, verified_at"


class SqliteLedgerStore:
    """:class:`otio_heygen.run.ledger.LedgerStore` on a SQLite file."""

    def __init__(self, db: sqlite3.Connection, path: Path) -> None:
        self._db = db
        self.path = path
        self.location = str(path)
        self._lock = threading.RLock()

    @classmethod
    def open(cls, path: Path, migrations: Sequence[tuple[str, tuple[str, ...]]] = MIGRATIONS) -> SqliteLedgerStore:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(
                f"cannot open the ledger {path}: {getattr(exc, 'strerror', None) or exc}",
                hint="set OTIO_HEYGEN_LEDGER to a file in a folder you can write",
            ) from exc
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA busy_timeout=30000")
            store = cls(db, path)
            store._migrate(migrations)
        except sqlite3.DatabaseError as exc:
            db.close()
            raise ConfigError(
                f"the ledger {path} is unreadable ({exc})",
                hint="move it aside (what the account bought is then forgotten) or point OTIO_HEYGEN_LEDGER "
                "at another file",
            ) from exc
        return store

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> SqliteLedgerStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock, immediate_transaction(self._db) as db:
            yield db

    def _migrate(self, migrations: Sequence[tuple[str, tuple[str, ...]]]) -> None:
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS ledger_migrations (name TEXT PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)"
        )
        for name, statements in migrations:
            with self._tx() as db:
                if db.execute("SELECT 1 FROM ledger_migrations WHERE name = ?", (name,)).fetchone() is None:
                    for statement in statements:
                        db.execute(statement)
                    db.execute("INSERT INTO ledger_migrations (name, applied_at) VALUES (?, ?)", (name, time.time()))

    def migrations(self) -> list[str]:
        with self._lock:
            return [r[0] for r in self._db.execute("SELECT name FROM ledger_migrations ORDER BY rowid")]

    # -- reading -------------------------------------------------------------------------------------
    def entries(self, account: str, job_keys: Sequence[str]) -> dict[str, LedgerEntry]:
        """One :meth:`entry` per key: a local file answers each in microseconds."""
        found = {key: self.entry(account, key) for key in dict.fromkeys(job_keys)}
        return {key: entry for key, entry in found.items() if entry is not None}

    def entry(self, account: str, job_key: str) -> LedgerEntry | None:
        with self._lock:
            intents = self._db.execute(
                f"SELECT {_INTENT_COLS} FROM ledger_intents WHERE account = ? AND job_key = ?"
                " ORDER BY attempt DESC, recorded_at DESC",
                (account, job_key),
            ).fetchall()
            videos = self._db.execute(
                f"SELECT {_VIDEO_COLS} FROM ledger_videos WHERE account = ? AND job_key = ?"
                " ORDER BY created_at DESC, video_id",
                (account, job_key),
            ).fetchall()
            ids = [v[0] for v in videos]
            copies = (
                self._db.execute(
                    f"SELECT {_COPY_COLS} FROM ledger_copies WHERE account = ? AND video_id IN "
                    f"({', '.join('?' for _ in ids)}) ORDER BY verified_at DESC",
                    (account, *ids),
                ).fetchall()
                if ids
                else []
            )
        if not intents and not videos:
            return None
        return LedgerEntry(
            account=account,
            job_key=job_key,
            intents=tuple(_intent(r) for r in intents),
            videos=tuple(_video(r) for r in videos),
            copies=tuple(_copy(r) for r in copies),
        )

    def purchases(self, account: str | None = None) -> list[Purchase]:
        where, args = ("WHERE v.account = ?", (account,)) if account is not None else ("", ())
        with self._lock:
            rows = self._db.execute(
                f"SELECT v.account, {', '.join('v.' + c.strip() for c in _VIDEO_COLS.split(','))} "
                f"FROM ledger_videos v {where} ORDER BY v.created_at, v.video_id",
                args,
            ).fetchall()
            uses = self._db.execute(
                "SELECT account, video_id, output FROM ledger_copies WHERE output IS NOT NULL ORDER BY verified_at"
            ).fetchall()
        outputs: dict[tuple[str, str], list[str]] = {}
        for acc, vid, out in uses:
            seen = outputs.setdefault((acc, vid), [])
            if out not in seen:
                seen.append(out)
        result = []
        for row in rows:
            video = _video(row[1:])
            result.append(
                Purchase(
                    account=str(row[0]), job_key=video.job_key, video_id=video.video_id, section=video.section,
                    state=video.state, seconds=video.seconds, cost_usd=video.cost_usd, billed=video.billed,
                    created_at=video.created_at, outputs=tuple(outputs.get((str(row[0]), video.video_id), ())),
                )
            )
        return result

    # -- writing -------------------------------------------------------------------------------------
    def record_intent(
        self, account: str, job_key: str, *, idempotency_key: str, attempt: int, section: str,
        seconds: float, cost_usd: float, now: float,
    ) -> Intent:
        with self._tx() as db:
            db.execute(
                """INSERT INTO ledger_intents (account, idempotency_key, job_key, attempt, section, seconds,
                       cost_usd, recorded_at, first_sent_at, may_have_reached)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, 0)
                   ON CONFLICT (account, idempotency_key) DO NOTHING""",
                (account, idempotency_key, job_key, attempt, section, seconds, round(cost_usd, 6), now),
            )
            row = db.execute(
                f"SELECT {_INTENT_COLS} FROM ledger_intents WHERE account = ? AND idempotency_key = ?",
                (account, idempotency_key),
            ).fetchone()
        return _intent(row)

    def mark_sending(self, account: str, idempotency_key: str, *, now: float) -> None:
        with self._tx() as db:
            db.execute(
                """UPDATE ledger_intents SET may_have_reached = 1, first_sent_at = COALESCE(first_sent_at, ?)
                   WHERE account = ? AND idempotency_key = ?""",
                (now, account, idempotency_key),
            )

    def mark_refused(self, account: str, idempotency_key: str) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE ledger_intents SET may_have_reached = 0 WHERE account = ? AND idempotency_key = ?",
                (account, idempotency_key),
            )

    def record_video(
        self, account: str, job_key: str, video_id: str, *, idempotency_key: str | None, section: str,
        seconds: float, cost_usd: float, billed: bool, state: VideoState, now: float,
    ) -> bool:
        with self._tx() as db:
            known = db.execute(
                "SELECT 1 FROM ledger_videos WHERE account = ? AND video_id = ?", (account, video_id)
            ).fetchone()
            db.execute(
                """INSERT INTO ledger_videos (account, video_id, job_key, idempotency_key, section, state, seconds,
                       cost_usd, billed, created_at, updated_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT (account, video_id) DO UPDATE SET state = excluded.state,
                       updated_at = excluded.updated_at,
                       idempotency_key = COALESCE(ledger_videos.idempotency_key, excluded.idempotency_key)""",
                (account, video_id, job_key, idempotency_key, section, state, seconds, round(cost_usd, 6),
                 int(billed), now, now),
            )
        return known is None

    def set_video_state(
        self, account: str, video_id: str, state: VideoState, *, now: float,
        seconds: float | None = None, billed: bool | None = None,
    ) -> None:
        with self._tx() as db:
            db.execute(
                """UPDATE ledger_videos SET state = ?, updated_at = ?, seconds = COALESCE(?, seconds),
                       billed = COALESCE(?, billed) WHERE account = ? AND video_id = ?""",
                (state, now, seconds, None if billed is None else int(billed), account, video_id),
            )

    def add_copy(
        self, account: str, video_id: str, *, path: str, size: int, sha256: str, output: str | None, now: float
    ) -> None:
        with self._tx() as db:
            db.execute(
                """INSERT INTO ledger_copies (account, video_id, path, size, sha256, output, verified_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT (account, video_id, path) DO UPDATE SET size = excluded.size,
                       sha256 = excluded.sha256, output = COALESCE(excluded.output, ledger_copies.output),
                       verified_at = excluded.verified_at""",
                (account, video_id, path, size, sha256, output, now),
            )

    def drop_copy(self, account: str, video_id: str, path: str) -> None:
        with self._tx() as db:
            db.execute(
                "DELETE FROM ledger_copies WHERE account = ? AND video_id = ? AND path = ?", (account, video_id, path)
            )


def _intent(row: Any) -> Intent:
    return Intent(
        idempotency_key=str(row[0]), job_key=str(row[1]), attempt=int(row[2]), recorded_at=float(row[3]),
        first_sent_at=None if row[4] is None else float(row[4]), may_have_reached=bool(row[5]),
    )


def _video(row: Any) -> OwnedVideo:
    return OwnedVideo(
        video_id=str(row[0]), job_key=str(row[1]), idempotency_key=row[2], section=str(row[3]),
        state=cast(VideoState, str(row[4])), seconds=float(row[5]), cost_usd=float(row[6]), billed=bool(row[7]),
        created_at=float(row[8]), updated_at=float(row[9]),
    )


def _copy(row: Any) -> LocalCopy:
    return LocalCopy(
        video_id=str(row[0]), path=str(row[1]), size=int(row[2]), sha256=str(row[3]), output=row[4],
        verified_at=float(row[5]),
    )
