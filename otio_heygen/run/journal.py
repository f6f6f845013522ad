"""The job journal: one SQLite file per output that remembers every render, so nothing is paid twice.

An output's journal lives in ``<output dir>/.otio-heygen/outputs/`` (see
``otio_heygen.run.outputs``, which also honours the one folder-wide ``journal.sqlite`` earlier
versions shared between every output of a folder). WAL mode. One row per job, keyed by
the job's content hash, walks the states ``planned -> uploading -> creating -> rendering ->
downloading -> done | failed``. The runner commits the intent to create (with its
Idempotency-Key) *before* sending the create and the video id right after, before waiting
on anything, so a crash at any point can be resumed without a second bill.

The schema and its migrations are in ``otio_heygen.run.journal_schema``, the row types in
``otio_heygen.run.journal_records``. The API key is never stored here.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

from otio_heygen.errors import OutputBusyError, OutputPathError
from otio_heygen.planning.types import Job
from otio_heygen.run.journal_records import JobRecord, JobState, RunRecord, record_from_row
from otio_heygen.run.journal_schema import apply_migrations
from otio_heygen.run.liveness import liveness, pid_alive, this_host
from otio_heygen.run.sqlite_tx import immediate_transaction

__all__ = ["JOURNAL_DIRNAME", "JOURNAL_FILENAME", "Journal", "job_seconds", "journal_path"]

JOURNAL_DIRNAME = ".otio-heygen"
JOURNAL_FILENAME = "journal.sqlite"


def journal_path(output_dir: Path) -> Path:
    """The folder-wide journal earlier versions shared between every output of ``output_dir``."""
    return output_dir / JOURNAL_DIRNAME / JOURNAL_FILENAME


def job_seconds(job: Job) -> float:
    """Seconds of video the job bills: its audio slice, handles included."""
    return (job.audio_end_frame - job.audio_start_frame) / job.section.rate


_UPDATABLE = frozenset(
    {
        "state",
        "image_asset",
        "audio_asset",
        "idempotency_key",
        "video_id",
        "media_path",
        "cost_usd",
        "error",
        "finish_info",
        "backend",
        "attempts",
        "last_run",
        "billed",
        "timings",
        "section_index",
        "section_name",
        "section_slug",
        "seconds",
    }
)


_RUNS_SQL = "SELECT id, started_at, finished_at, backend, outcome, pid, host, heartbeat_at FROM runs ORDER BY id"


def _run_record(row: tuple[Any, ...]) -> RunRecord:
    return RunRecord(int(row[0]), float(row[1]), row[2], str(row[3]), row[4], row[5], row[6], row[7])


class Journal:
    """Thread-safe access to one output's journal. Every write is its own committed transaction."""

    def __init__(self, db: sqlite3.Connection, path: Path, now: Callable[[], float] = time.time) -> None:
        self._db = db
        self.path = path
        self._now = now
        self._lock = threading.RLock()

    # -- opening -----------------------------------------------------------------------------------
    @classmethod
    def open(cls, output_dir: Path, *, create: bool = True, now: Callable[[], float] = time.time) -> Journal:
        """Open (creating and migrating if needed) the folder-wide journal of ``output_dir``
        (earlier versions' layout; outputs now have their own, see ``otio_heygen.run.outputs``)."""
        path = journal_path(output_dir)
        if not path.exists() and not create:
            raise OutputPathError(
                f"No otio-heygen journal in {output_dir}",
                hint="give the output timeline (or its folder) of an earlier otio-heygen render",
            )
        return cls.open_file(path, now=now)

    @classmethod
    def open_file(cls, path: Path, *, now: Callable[[], float] = time.time) -> Journal:
        """Open (creating and migrating if needed) the journal file ``path``."""
        db = cls._connect(path)
        return cls(db, path, now)

    @staticmethod
    def _connect(path: Path) -> sqlite3.Connection:
        if not path.exists():
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise OutputPathError(
                    f"Cannot create the journal folder {path.parent}: {exc.strerror}",
                    hint="choose an output folder you can write to",
                ) from exc
        try:
            db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30)
            db.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode: a commit survives a killed process (SIGKILL); only a power cut can
            # lose the last commits, and even then a create is re-sent with the same derived key.
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA busy_timeout=30000")
            apply_migrations(db)
        except sqlite3.DatabaseError as exc:
            raise OutputPathError(
                f"The journal {path} is unreadable ({exc})",
                hint=f"move {path} aside and render again (finished clips are re-downloaded)",
            ) from exc
        return db

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock, immediate_transaction(self._db) as db:
            yield db

    # -- reading -------------------------------------------------------------------------------------
    def migrations(self) -> list[str]:
        with self._lock:
            return [row[0] for row in self._db.execute("SELECT name FROM _migrations ORDER BY rowid")]

    def get(self, key: str) -> JobRecord | None:
        with self._lock:
            cur = self._db.execute("SELECT * FROM jobs WHERE key = ?", (key,))
            row = cur.fetchone()
            return record_from_row(cur, row) if row is not None else None

    def records(self, *, run_id: int | None = None) -> list[JobRecord]:
        """All rows (or those of one run), in section then take order."""
        sql = "SELECT * FROM jobs"
        args: tuple[object, ...] = ()
        if run_id is not None:
            sql += " WHERE last_run = ?"
            args = (run_id,)
        sql += " ORDER BY section_index, take, created_at"
        with self._lock:
            cur = self._db.execute(sql, args)
            return [record_from_row(cur, row) for row in cur.fetchall()]

    def takes_for(self, slug: str) -> list[JobRecord]:
        with self._lock:
            cur = self._db.execute("SELECT * FROM jobs WHERE section_slug = ? ORDER BY take", (slug,))
            return [record_from_row(cur, row) for row in cur.fetchall()]

    def meta(self, name: str) -> str | None:
        """A note about the journal itself (e.g. the output it belongs to)."""
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, name: str, value: str) -> None:
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)", (name, value))

    def take_choice(self, family: str) -> int | None:
        """The main take chosen (``--regenerate``) for the section content whose first take is ``family``."""
        with self._lock:
            row = self._db.execute("SELECT take FROM take_choices WHERE family = ?", (family,)).fetchone()
        return int(row[0]) if row is not None else None

    def regenerated_take(self, family: str) -> int | None:
        """The take a bare ``--regenerate`` asked for, for the content whose first take is ``family``."""
        with self._lock:
            row = self._db.execute("SELECT regenerated FROM take_choices WHERE family = ?", (family,)).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def choose_take(self, family: str, slug: str, take: int, *, regenerated: bool = False) -> None:
        """Make ``take`` the main clip of the content ``family``; ``regenerated``: it is also the take
        a bare ``--regenerate`` of it asks for from now on."""
        with self._tx() as db:
            db.execute(
                """INSERT INTO take_choices (family, section_slug, take, regenerated, asked_at)
                   VALUES (?, ?, ?, ?, ?)
                   ON CONFLICT(family) DO UPDATE SET take = excluded.take, asked_at = excluded.asked_at,
                       section_slug = excluded.section_slug,
                       regenerated = COALESCE(excluded.regenerated, take_choices.regenerated)""",
                (family, slug, take, take if regenerated else None, self._now()),
            )

    def runs(self) -> list[RunRecord]:
        with self._lock:
            rows = self._db.execute(_RUNS_SQL).fetchall()
        return [_run_record(row) for row in rows]

    def spent_usd(self) -> float:
        """What every billed render in this journal cost (failed renders are not billed)."""
        with self._lock:
            row = self._db.execute("SELECT COALESCE(SUM(cost_usd), 0) FROM jobs WHERE billed = 1").fetchone()
        return float(row[0])

    # -- writing -------------------------------------------------------------------------------------
    def start_run(self, backend: str, *, is_alive: Callable[[int], bool] = pid_alive) -> int:
        """Record a new run of this process; earlier runs left open (their process was killed, or
        an earlier otio-heygen did not record it) are closed as ``killed``.

        Raises :class:`OutputBusyError` (nothing written) when another run of this output is still
        alive (``otio_heygen.run.liveness``). Checked and inserted in one write transaction, so two
        processes starting together cannot both believe they own the output.
        """
        now, host = self._now(), this_host()
        with self._tx() as db:
            for row in db.execute(_RUNS_SQL.replace("ORDER BY", "WHERE finished_at IS NULL ORDER BY")).fetchall():
                run = _run_record(row)
                seen = liveness(run, now=now, host=host, is_alive=is_alive)
                if seen.alive and run.pid != os.getpid():
                    started = time.strftime("%H:%M", time.localtime(run.started_at))
                    raise OutputBusyError(
                        f"This output is being rendered by another otio-heygen ({seen.reason}, started {started})",
                        hint="wait for it to finish (otio-heygen status shows it), or stop it and run again",
                    )
                db.execute("UPDATE runs SET finished_at = ?, outcome = 'killed' WHERE id = ?", (now, run.id))
            cur = db.execute(
                "INSERT INTO runs (started_at, backend, pid, host, heartbeat_at) VALUES (?, ?, ?, ?, ?)",
                (now, backend, os.getpid(), host, now),
            )
            return int(cur.lastrowid or 0)

    def heartbeat(self, run_id: int) -> None:
        """Say run ``run_id``'s process is still at work (see ``otio_heygen.run.liveness``)."""
        with self._tx() as db:
            db.execute("UPDATE runs SET heartbeat_at = ? WHERE id = ?", (self._now(), run_id))

    def finish_run(self, run_id: int, outcome: str) -> None:
        with self._tx() as db:
            db.execute("UPDATE runs SET finished_at = ?, outcome = ? WHERE id = ?", (self._now(), outcome, run_id))

    def ensure(self, job: Job, *, backend: str, price_per_second: float, run_id: int | None = None) -> JobRecord:
        """Insert the job as ``planned`` if new; refresh its section fields and run; return the row."""
        now = self._now()
        seconds = job_seconds(job)
        with self._tx() as db:
            db.execute(
                """INSERT INTO jobs (key, section_index, section_name, section_slug, take, state, seconds,
                       cost_usd, created_at, updated_at, state_since, backend, last_run)
                   VALUES (?, ?, ?, ?, ?, 'planned', ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT(key) DO UPDATE SET section_index = excluded.section_index,
                       section_name = excluded.section_name, section_slug = excluded.section_slug,
                       last_run = COALESCE(excluded.last_run, jobs.last_run)""",
                (
                    job.key,
                    job.section.index,
                    job.section.name,
                    job.section.slug,
                    job.take,
                    seconds,
                    round(seconds * price_per_second, 6),
                    now,
                    now,
                    now,
                    backend,
                    run_id,
                ),
            )
        record = self.get(job.key)
        assert record is not None
        return record

    def now(self) -> float:
        """The journal's wall clock (what ``state_since`` and ``key_sent_at`` are stamped with)."""
        return self._now()

    def update(self, key: str, **fields: Any) -> None:
        """Set columns of one row (``state`` also stamps ``state_since``); dict values are stored as JSON.

        Recording an ``idempotency_key`` other than the row's current one stamps ``key_sent_at``
        (a key written again keeps its first time); clearing it clears ``key_sent_at``.
        """
        unknown = set(fields) - _UPDATABLE
        if unknown:
            raise ValueError(f"not journal columns: {sorted(unknown)}")
        now = self._now()
        values = {
            k: (json.dumps(v, sort_keys=True, default=str) if isinstance(v, dict) else v) for k, v in fields.items()
        }
        values["updated_at"] = now
        if "state" in fields:
            values["state_since"] = now
        assignments = ", ".join(f"{k} = ?" for k in values)
        args: list[Any] = list(values.values())
        if "idempotency_key" in fields:
            # SET expressions see the old row: keep the first time a key was recorded
            assignments += (
                ", key_sent_at = CASE WHEN ? IS NULL THEN NULL"
                " WHEN idempotency_key IS ? AND key_sent_at IS NOT NULL THEN key_sent_at ELSE ? END"
            )
            args += [fields["idempotency_key"], fields["idempotency_key"], now]
        with self._tx() as db:
            cur = db.execute(f"UPDATE jobs SET {assignments} WHERE key = ?", (*args, key))
            if cur.rowcount != 1:
                raise KeyError(key)

    def set_state(self, key: str, state: JobState, **fields: Any) -> None:
        self.update(key, state=state, **fields)

    def add_timing(self, key: str, name: str, seconds: float) -> None:
        record = self.get(key)
        if record is None:
            raise KeyError(key)
        timings = dict(record.timings)
        timings[name] = round(timings.get(name, 0.0) + seconds, 4)
        self.update(key, timings=timings)
