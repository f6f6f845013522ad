"""The account ledger: what each render account has bought, shared by every output, timeline and run.

An output's journal (``otio_heygen.run.journal``) knows what *that output* holds; the ledger
knows what the *account* owns, so a section rendered once is never bought again from another
folder, another version of the cut or another process. It is keyed by

* ``account``: a namespace plus a one-way fingerprint, never a key: ``heygen:<sha256 prefix of
  the API key>``, or ``preview:local`` for the offline preview backend (its own namespace, so a
  preview clip is never passed off as a paid render), and
* ``job_key``: the content hash of everything that changes a render (``planning.plan.job_key``).

It records, per account and job key:

* **intents** (one per Idempotency-Key): recorded *before* the create is sent, with the attempt
  number, when the key was first sent and whether any attempt with it may have reached the
  service (``may_have_reached``: set just before sending; cleared only when the caller knows for
  certain that no attempt with the key got through);
* **videos**: every video id the service returned or that was found again by its title tag,
  with its state (``rendering``, ``completed``, ``failed`` (not billed), ``gone`` (the service no
  longer has it)), billed seconds and cost;
* **copies**: every verified local copy of a video (path, size, sha256) and the output timeline
  that uses it, so another output links or copies the file instead of downloading or buying it.

The store interface (:class:`LedgerStore`)
------------------------------------------
A store is anything implementing the :class:`LedgerStore` protocol below. The default,
:class:`otio_heygen.run.ledger_sqlite.SqliteLedgerStore`, is an embedded SQLite file in the user
data folder; a team store (PostgreSQL, next issue) implements the same eleven methods. Rules a
store must keep:

* Every method is one committed transaction; it is safe to call from many threads and from many
  processes at once (SQLite: WAL + ``BEGIN IMMEDIATE``; PostgreSQL: one transaction per call).
* Writes are idempotent: recording the same intent, video or copy twice keeps one row (the
  earliest ``first_sent_at``, a ``may_have_reached`` that only a ``mark_refused`` clears).
* Nothing is ever deleted except a copy found to be missing or altered (``drop_copy``): the
  ledger is the account's purchase history.
* Times are wall-clock epoch seconds (float) given by the caller; money is USD as float rounded
  to 6 decimals; sizes are integers (BIGINT).
* The SQL (``ledger_sqlite.SCHEMA``) is portable: standard types (TEXT, INTEGER, BIGINT,
  DOUBLE PRECISION), ``INSERT ... ON CONFLICT ... DO UPDATE/NOTHING``, no SQLite-only syntax;
  a PostgreSQL store only swaps ``?`` placeholders for ``%s``.

:class:`AccountLedger` binds a store to one account; the run layer uses that.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from otio_heygen.errors import ConfigError
from otio_heygen.fsutil import commit_temp, discard_temp, reserve_temp_beside

__all__ = [
    "PREVIEW_ACCOUNT",
    "AccountLedger",
    "Intent",
    "LedgerEntry",
    "LedgerStore",
    "LocalCopy",
    "OwnedVideo",
    "Purchase",
    "VideoState",
    "account_for_key",
    "default_ledger_path",
    "open_ledger",
    "place_copy",
    "sha256_of",
    "verify_copy",
]

VideoState = Literal["rendering", "completed", "failed", "gone"]
PREVIEW_ACCOUNT = "preview:local"


def account_for_key(namespace: str, api_key: str) -> str:
    """``<namespace>:<fingerprint>``: a one-way, salted sha256 prefix of the key (never the key)."""
    digest = hashlib.sha256(f"otio-heygen-ledger:{namespace}:{api_key}".encode()).hexdigest()
    return f"{namespace}:{digest[:24]}"


@dataclass(frozen=True)
class Intent:
    """A create about to be (or already) sent under one Idempotency-Key."""

    idempotency_key: str
    job_key: str
    attempt: int
    recorded_at: float
    first_sent_at: float | None
    may_have_reached: bool


@dataclass(frozen=True)
class OwnedVideo:
    """A video the account has (or had) at the service."""

    video_id: str
    job_key: str
    idempotency_key: str | None
    section: str
    state: VideoState
    seconds: float
    cost_usd: float
    billed: bool
    created_at: float
    updated_at: float


@dataclass(frozen=True)
class LocalCopy:
    """A file on disk verified to hold a video's bytes (size and sha256), and who uses it."""

    video_id: str
    path: str
    size: int
    sha256: str
    output: str | None
    verified_at: float


@dataclass(frozen=True)
class LedgerEntry:
    """Everything the ledger knows about one (account, job key), newest first."""

    account: str
    job_key: str
    intents: tuple[Intent, ...]
    videos: tuple[OwnedVideo, ...]
    copies: tuple[LocalCopy, ...]

    @property
    def owned(self) -> OwnedVideo | None:
        """The newest completed video (what a reuse gives back), if any."""
        return next((v for v in self.videos if v.state == "completed"), None)

    @property
    def in_flight(self) -> OwnedVideo | None:
        """The newest video still rendering (created, not finished), if any."""
        return next((v for v in self.videos if v.state == "rendering"), None)

    @property
    def lost_intent(self) -> Intent | None:
        """The newest intent that may have reached the service but has no video: an answer lost."""
        with_video = {v.idempotency_key for v in self.videos}
        return next(
            (i for i in self.intents if i.may_have_reached and i.idempotency_key not in with_video), None
        )

    @property
    def status(self) -> Literal["owned", "in_flight", "new"]:
        """What ``plan`` shows: owned (free), in flight (paid, rendering or answer lost), or new."""
        if self.owned is not None:
            return "owned"
        if self.in_flight is not None or self.lost_intent is not None:
            return "in_flight"
        return "new"

    def copies_of(self, video_id: str) -> list[LocalCopy]:
        return [c for c in self.copies if c.video_id == video_id]

    @property
    def next_attempt(self) -> int:
        return max((i.attempt for i in self.intents), default=0) + 1


@dataclass(frozen=True)
class Purchase:
    """One row of ``otio-heygen ledger``: a video the account paid for, and the outputs using it."""

    account: str
    job_key: str
    video_id: str
    section: str
    state: VideoState
    seconds: float
    cost_usd: float
    billed: bool
    created_at: float
    outputs: tuple[str, ...]


class LedgerStore(Protocol):
    """Where ledgers live (see the module docstring for the rules every store keeps)."""

    location: str
    """Human-readable place (a file path or a URL without credentials), for messages."""

    def entry(self, account: str, job_key: str) -> LedgerEntry | None:
        """Everything known about ``job_key`` for ``account`` (None if nothing)."""
        ...

    def entries(self, account: str, job_keys: Sequence[str]) -> dict[str, LedgerEntry]:
        """:meth:`entry` of each of ``job_keys``, those the ledger knows nothing of left out (a team
        ledger answers in one round trip: a run's estimate asks once, not once per section)."""
        ...

    def record_intent(
        self, account: str, job_key: str, *, idempotency_key: str, attempt: int, section: str,
        seconds: float, cost_usd: float, now: float,
    ) -> Intent:
        """Record a create about to be sent (no-op if the key is already recorded); return the row."""
        ...

    def mark_sending(self, account: str, idempotency_key: str, *, now: float) -> None:
        """The create is being sent: ``may_have_reached`` on, ``first_sent_at`` stamped once."""
        ...

    def mark_refused(self, account: str, idempotency_key: str) -> None:
        """No attempt with this key can have reached the service (refused on its only send)."""
        ...

    def record_video(
        self, account: str, job_key: str, video_id: str, *, idempotency_key: str | None, section: str,
        seconds: float, cost_usd: float, billed: bool, state: VideoState, now: float,
    ) -> bool:
        """Remember a video id (returned by a create or found again); an existing row keeps its
        creation time and takes the new state. True when the id was new to the ledger."""
        ...

    def set_video_state(
        self, account: str, video_id: str, state: VideoState, *, now: float,
        seconds: float | None = None, billed: bool | None = None,
    ) -> None:
        """Move a video to ``state`` (``failed`` and ``gone`` are final for that id)."""
        ...

    def add_copy(
        self, account: str, video_id: str, *, path: str, size: int, sha256: str, output: str | None, now: float
    ) -> None:
        """Remember a verified local copy (path is absolute) and the output using it."""
        ...

    def drop_copy(self, account: str, video_id: str, path: str) -> None:
        """Forget a copy found missing or altered."""
        ...

    def purchases(self, account: str | None = None) -> list[Purchase]:
        """Every video (of ``account``, or of all accounts), oldest first, with its outputs."""
        ...

    def migrations(self) -> list[str]:
        """Names of the schema migrations applied, in order."""
        ...

    def close(self) -> None: ...


def default_ledger_path() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("otio-heygen")) / "ledger.sqlite"


def open_ledger(location: str | None, *, workstation: str = "") -> LedgerStore:
    """The store at ``location``: a ``postgresql://`` URL (the team ledger, recording
    ``workstation`` with what it buys), a file path, or None for the default file in the user data
    folder."""
    text = (location or "").strip()
    if text.startswith(("postgresql://", "postgres://")):
        from otio_heygen.run.ledger_pg import PgLedgerStore

        return PgLedgerStore.open(text, workstation=workstation or "workstation")
    if "://" in text:
        raise ConfigError(
            f"the ledger location must be a file path or a postgresql:// URL (got a {text.split('://', 1)[0]}://"
            " address)",
            hint="set OTIO_HEYGEN_LEDGER to a file path, a postgresql:// URL, or unset it",
        )
    from otio_heygen.run.ledger_sqlite import SqliteLedgerStore

    path = Path(text).expanduser() if text else default_ledger_path()
    return SqliteLedgerStore.open(path)


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_copy(copy: LocalCopy) -> bool:
    """Whether the file still holds exactly the bytes recorded (size first, then sha256)."""
    path = Path(copy.path)
    try:
        if not path.is_file() or path.stat().st_size != copy.size:
            return False
        return sha256_of(path) == copy.sha256
    except OSError:
        return False


def place_copy(copy: LocalCopy, dest: Path) -> bool:
    """Put a verified copy at ``dest`` (hard link, else copy; atomically). False when the source
    no longer verifies or the placed file does not match (nothing is left at ``dest`` then)."""
    if not verify_copy(copy):
        return False
    src = Path(copy.path)
    if dest.exists():
        try:
            if os.path.samefile(src, dest):
                return True
        except OSError:
            pass
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = reserve_temp_beside(dest, ".link")
    try:
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)
        if tmp.stat().st_size != copy.size or sha256_of(tmp) != copy.sha256:
            return False  # changed while copying
        commit_temp(tmp, dest)
        return True
    finally:
        discard_temp(tmp)  # nothing left once committed


class AccountLedger:
    """A store bound to one account: what the run layer talks to."""

    def __init__(self, store: LedgerStore, account: str) -> None:
        self.store = store
        self.account = account

    def entry(self, job_key: str) -> LedgerEntry | None:
        return self.store.entry(self.account, job_key)

    def entries(self, job_keys: Sequence[str]) -> dict[str, LedgerEntry]:
        """Entries of the job keys the ledger knows (``LedgerStore.entries``)."""
        return self.store.entries(self.account, job_keys)

    def statuses(self, job_keys: Sequence[str]) -> dict[str, str]:
        """``owned`` / ``in_flight`` / ``new`` per job key (what ``plan`` shows)."""
        known = self.entries(job_keys)
        return {key: known[key].status if key in known else "new" for key in job_keys}

    def verified_copy(self, job_key: str, video_id: str) -> LocalCopy | None:
        """A local copy of ``video_id`` whose size and sha256 still match; stale ones are dropped."""
        entry = self.store.entry(self.account, job_key)
        for copy in entry.copies_of(video_id) if entry else []:
            if verify_copy(copy):
                return copy
            self.store.drop_copy(self.account, video_id, copy.path)
        return None

    def remember_copy(self, video_id: str, path: Path, *, output: str | None, now: float) -> None:
        """Hash ``path`` and record it as a copy of ``video_id`` used by ``output``."""
        resolved = path.resolve()
        self.store.add_copy(
            self.account, video_id, path=str(resolved), size=resolved.stat().st_size,
            sha256=sha256_of(resolved), output=output, now=now,
        )
