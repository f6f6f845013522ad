"""Per-output state: each output timeline has its own journal, so outputs of one folder never bleed.

An output's journal (its sections, takes, take choices, runs) is
``<output dir>/.otio-heygen/outputs/<output file name>.sqlite``. Two outputs in one folder
(``a.otio`` rendered with ``--takes 2``, ``b.otio`` without) see only their own takes and runs.

Renders are content-addressed (the job key), so what another output of the folder already
finished or paid for is never bought again: when this output's journal has no row for a job,
:class:`OutputJournal` *adopts* the row of a sibling journal with the same key and backend (a
finished clip, a render with a video id, or a create whose answer may still come back under its
Idempotency-Key) as not billed to this output. The account-wide ledger extends this beyond the
folder.

Earlier versions kept one ``journal.sqlite`` per folder shared by every output. It is honoured:
the first time an output opens its own journal, the rows whose clips live in that output's media
folder (``<stem>_media/``) are copied in (with their runs), and every other row stays adoptable
by key, so a rerun of an output rendered by an earlier version still makes no API call.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from otio_heygen.errors import InterruptedRunError, OtioHeygenError, OutputPathError
from otio_heygen.run.journal import JOURNAL_DIRNAME, Journal, journal_path
from otio_heygen.run.journal_records import JobRecord

__all__ = [
    "OUTPUTS_DIRNAME",
    "OutputJournal",
    "open_output_journal",
    "output_journal_path",
    "output_journals",
    "remove_journal",
    "run_journal",
]

OUTPUTS_DIRNAME = "outputs"
_SUFFIX = ".sqlite"
_MAX_NAME = 180
"""Longer output file names get a shortened, hashed journal name (file names stop at 255 bytes)."""


def output_journal_path(output_path: Path) -> Path:
    """Where the journal of the output timeline ``output_path`` lives."""
    output = output_path.expanduser().absolute()
    name = output.name
    if len(name.encode("utf-8")) > _MAX_NAME:
        digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:16]
        name = f"{name[:60]}-{digest}"
    return output.parent / JOURNAL_DIRNAME / OUTPUTS_DIRNAME / f"{name}{_SUFFIX}"


def output_journals(folder: Path) -> list[Path]:
    """The per-output journals in an output folder, by name."""
    where = folder / JOURNAL_DIRNAME / OUTPUTS_DIRNAME
    if not where.is_dir():
        return []
    return sorted(p for p in where.iterdir() if p.name.endswith(_SUFFIX) and p.is_file())


_ADOPTABLE = "(video_id IS NOT NULL OR idempotency_key IS NOT NULL OR (state = 'done' AND media_path IS NOT NULL))"
_RANK = "CASE WHEN state = 'done' THEN 0 WHEN video_id IS NOT NULL THEN 1 ELSE 2 END"


class OutputJournal(Journal):
    """The journal of one output, adopting what its folder's other journals hold for a job key."""

    def __init__(self, db: sqlite3.Connection, path: Path, now: Callable[[], float] = time.time) -> None:
        super().__init__(db, path, now)
        self._sources: tuple[Path, ...] = ()
        self._adopt_backend: str | None = None

    def adopt_from(self, sources: Sequence[Path], backend: str | None) -> None:
        """Journals to look in (read only) for a job this one lacks, and the backend rows must match."""
        self._sources = tuple(p for p in sources if p != self.path)
        self._adopt_backend = backend

    def get(self, key: str) -> JobRecord | None:
        record = super().get(key)
        if record is None and self._sources:
            row = self._best_sibling_row(key)
            if row is not None:
                self._insert(row, billed=0, last_run=None)
                record = super().get(key)
        return record

    def _best_sibling_row(self, key: str) -> dict[str, Any] | None:
        best: tuple[int, dict[str, Any]] | None = None
        for source in self._sources:
            for row in _read_rows(
                source, f"SELECT *, {_RANK} AS _rank FROM jobs WHERE key = ? AND {_ADOPTABLE}", (key,)
            ):
                rank = int(row.pop("_rank"))
                if self._adopt_backend is not None and row.get("backend") != self._adopt_backend:
                    continue
                if best is None or rank < best[0]:
                    best = (rank, row)
        return None if best is None else best[1]

    def _insert(self, row: dict[str, Any], **override: Any) -> None:
        values = {**row, **override}
        with self._tx() as db:
            columns = [c[1] for c in db.execute("PRAGMA table_info(jobs)")]
            names = [c for c in columns if c in values]
            db.execute(
                f"INSERT OR IGNORE INTO jobs ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)})",
                [values[c] for c in names],
            )

    def import_folder_journal(self, legacy: Path, media_dir: Path) -> int:
        """Copy, once, the rows of an earlier version's folder journal whose clips live in
        ``media_dir`` (this output's media folder), with the runs they belong to."""
        if self.meta("folder_journal_imported") is not None:
            return 0
        rows = _read_rows(legacy, "SELECT * FROM jobs WHERE media_path IS NOT NULL", ())
        mine = [r for r in rows if Path(str(r["media_path"])).parent.name == media_dir.name]
        run_ids = {r.get("last_run") for r in mine if r.get("last_run") is not None}
        for row in mine:
            self._insert(row)
        runs = _read_rows(legacy, "SELECT id, started_at, finished_at, backend, outcome FROM runs", ())
        with self._tx() as db:
            for run in runs:
                if run["id"] in run_ids:
                    db.execute(
                        "INSERT OR IGNORE INTO runs (id, started_at, finished_at, backend, outcome)"
                        " VALUES (?, ?, ?, ?, ?)",
                        (run["id"], run["started_at"], run["finished_at"], run["backend"], run["outcome"]),
                    )
        self.set_meta("folder_journal_imported", str(legacy))
        return len(mine)


def _read_rows(path: Path, sql: str, args: tuple[object, ...]) -> list[dict[str, Any]]:
    """Rows of another journal, read without writing to it (a missing or unreadable one has none)."""
    if not path.is_file():
        return []
    try:
        db = sqlite3.connect(str(path), timeout=30)
    except sqlite3.Error:
        return []
    try:
        cur = db.execute(sql, args)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    except sqlite3.Error:
        return []  # not a journal (or an older one without that column): nothing to adopt
    finally:
        db.close()


def open_output_journal(
    output_path: Path,
    *,
    backend: str | None = None,
    media_dir: Path | None = None,
    create: bool = True,
    now: Callable[[], float] = time.time,
) -> OutputJournal:
    """Open the journal of ``output_path`` (creating it unless ``create`` is False).

    With ``backend``, the folder's other journals (and an earlier version's folder journal) are
    searched for jobs this output lacks (see the module docstring). ``media_dir``: where the output's
    clips go (default ``<stem>_media`` beside it), to find its rows in an earlier version's journal.
    """
    path = output_journal_path(output_path)
    folder = path.parent.parent.parent
    legacy = journal_path(folder)
    if not path.exists() and not create:
        raise OutputPathError(
            f"{output_path} was never rendered by otio-heygen (no journal for it in {path.parent.parent})",
            hint="give the output timeline of an earlier otio-heygen render",
        )
    db = OutputJournal._connect(path)
    journal = OutputJournal(db, path, now)
    try:
        if journal.meta("output") is None:
            journal.set_meta("output", str(output_path.expanduser().absolute()))
        if legacy.is_file():
            journal.import_folder_journal(legacy, media_dir or folder / f"{output_path.stem}_media")
        if backend is not None:
            journal.adopt_from([*output_journals(folder), legacy], backend)
    except BaseException:
        journal.close()
        raise
    return journal


def remove_journal(path: Path) -> None:
    """Delete a journal file (and its WAL side files); empty parent folders up to ``.otio-heygen`` go too."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    for folder in (path.parent, path.parent.parent):
        if folder.name not in (OUTPUTS_DIRNAME, JOURNAL_DIRNAME):
            break
        try:
            folder.rmdir()
        except OSError:
            break


@contextmanager
def run_journal(
    output_path: Path,
    *,
    backend: str,
    media_dir: Path | None = None,
    on_refused: Callable[[], None] = lambda: None,
) -> Iterator[OutputJournal]:
    """The output's journal for one render. When the render is refused before any job started
    (budget, a wrong key, bad input found late), a journal this render created is deleted again and
    ``on_refused`` runs (e.g. removing the output folder it made): a refused run leaves nothing."""
    path = output_journal_path(output_path)
    fresh = not path.exists()
    journal = open_output_journal(output_path, backend=backend, media_dir=media_dir)
    runs_before = len(journal.runs())
    try:
        yield journal
    except OtioHeygenError as exc:
        refused = fresh and not isinstance(exc, InterruptedRunError) and len(journal.runs()) == runs_before
        journal.close()
        if refused:
            remove_journal(path)
            on_refused()
        raise
    journal.close()
