"""The team ledger store: the account ledger in a shared PostgreSQL database (``psycopg`` 3).

Same rules and same portable schema as :mod:`otio_heygen.run.ledger_sqlite` (its ``MIGRATIONS``
are applied here too, by name), plus the team migrations below: which workstation recorded an
intent or a video, the account-wide render slots (:mod:`otio_heygen.run.slots`) and an optional
team budget cap.

* Every method is one transaction on the server; no client-side locking beyond serialising the
  one connection between this process's threads. Migrations take a transaction-scoped advisory
  lock, so workstations starting at once never apply one twice.
* Times stored are the caller's epoch seconds (as in SQLite); leases use the *server's* clock so
  workstations with drifting clocks agree on when a slot expired.
* The team budget is enforced where the intent is recorded: :meth:`PgLedgerStore.record_intent`
  locks the account's budget row, adds up what the account has committed (every intent not
  known to be refused or unbilled) and raises :class:`~otio_heygen.errors.BudgetExceededError`
  instead of recording a create that would go over the cap.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from otio_heygen.errors import BudgetExceededError, ConfigError
from otio_heygen.run.ledger import Intent, LedgerEntry, Purchase, VideoState
from otio_heygen.run.ledger_pg_schema import TEAM_MIGRATIONS
from otio_heygen.run.ledger_sqlite import _COPY_COLS, _INTENT_COLS, _VIDEO_COLS, MIGRATIONS, _copy, _intent, _video

__all__ = ["TEAM_MIGRATIONS", "PgLedgerStore", "TeamPurchase", "redact_url"]

_MIGRATION_LOCK = 7_310_421_771  # pg_advisory_xact_lock id for schema changes


def redact_url(url: str) -> str:
    """The URL without its password (for messages and ``location``)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


@dataclass(frozen=True)
class TeamPurchase:
    """A purchase with the workstation that made it (team views of ``otio-heygen ledger``)."""

    purchase: Purchase
    workstation: str | None


def _sql(statement: str) -> str:
    return statement.replace("?", "%s")


class PgLedgerStore:
    """:class:`otio_heygen.run.ledger.LedgerStore` on a PostgreSQL database (the team ledger)."""

    def __init__(self, conn: Any, url: str, workstation: str) -> None:
        self._conn = conn
        self.url = url
        self.location = redact_url(url)
        self.workstation = workstation
        self.round_trips = 0
        self._lock = threading.RLock()

    @classmethod
    def open(
        cls,
        url: str,
        *,
        workstation: str,
        migrations: Sequence[tuple[str, tuple[str, ...]]] = (*MIGRATIONS, *TEAM_MIGRATIONS),
    ) -> PgLedgerStore:
        conn = connect(url)
        store = cls(conn, url, workstation)
        try:
            store._migrate(migrations)
        except Exception as exc:
            conn.close()
            raise ConfigError(
                f"cannot prepare the team ledger {redact_url(url)}: {_first_line(exc)}",
                hint="the database user needs CREATE rights on the database (first run) and read/write on its tables",
            ) from exc
        return store

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> PgLedgerStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def tx(self) -> Iterator[Any]:
        """One transaction on the shared connection: a cursor, committed on success."""
        with self._lock, self._conn.transaction(), self._conn.cursor() as cur:
            self.round_trips += 1
            yield cur

    def _one(self, sql: str, args: Sequence[Any]) -> Any:
        """One statement as its own transaction (autocommit): one round trip, no BEGIN/COMMIT."""
        with self._lock:
            self.round_trips += 1
            return self._conn.execute(sql, args)

    def _migrate(self, migrations: Sequence[tuple[str, tuple[str, ...]]]) -> None:
        with self.tx() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            cur.execute(
                """CREATE TABLE IF NOT EXISTS ledger_migrations (
                       seq BIGSERIAL, name TEXT PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)"""
            )
            cur.execute("SELECT name FROM ledger_migrations")
            applied = {r[0] for r in cur.fetchall()}
            for name, statements in migrations:
                if name in applied:
                    continue
                for statement in statements:
                    cur.execute(statement)
                cur.execute("INSERT INTO ledger_migrations (name, applied_at) VALUES (%s, %s)", (name, time.time()))

    def migrations(self) -> list[str]:
        with self.tx() as cur:
            cur.execute("SELECT name FROM ledger_migrations ORDER BY seq")
            return [str(r[0]) for r in cur.fetchall()]

    # -- reading -------------------------------------------------------------------------------------
    def entry(self, account: str, job_key: str) -> LedgerEntry | None:
        return self.entries(account, [job_key]).get(job_key)

    def entries(self, account: str, job_keys: Sequence[str]) -> dict[str, LedgerEntry]:
        """What the ledger knows about each of ``job_keys`` (those it knows nothing of are absent),
        in one transaction: a run's estimate asks once, not once per section."""
        keys = list(dict.fromkeys(job_keys))
        with self.tx() as cur:
            cur.execute(
                f"SELECT {_INTENT_COLS} FROM ledger_intents WHERE account = %s AND job_key = ANY(%s)"
                " ORDER BY attempt DESC, recorded_at DESC",
                (account, keys),
            )
            intents = cur.fetchall()
            cur.execute(
                f"SELECT {_VIDEO_COLS} FROM ledger_videos WHERE account = %s AND job_key = ANY(%s)"
                " ORDER BY created_at DESC, video_id",
                (account, keys),
            )
            videos = cur.fetchall()
            copies: list[Any] = []
            if videos:
                cur.execute(
                    f"SELECT {_COPY_COLS} FROM ledger_copies WHERE account = %s AND video_id = ANY(%s)"
                    " ORDER BY verified_at DESC",
                    (account, [v[0] for v in videos]),
                )
                copies = cur.fetchall()
        out: dict[str, LedgerEntry] = {}
        for key in keys:
            mine = [_video(r) for r in videos if r[1] == key]
            ids = {v.video_id for v in mine}
            entry = LedgerEntry(
                account=account, job_key=key, intents=tuple(_intent(r) for r in intents if r[1] == key),
                videos=tuple(mine), copies=tuple(_copy(r) for r in copies if r[0] in ids),
            )
            if entry.intents or entry.videos:
                out[key] = entry
        return out

    def team_purchases(self, account: str | None = None) -> list[TeamPurchase]:
        """Every video (of ``account`` or all), oldest first, with its outputs and workstation."""
        where, args = ("WHERE v.account = %s", (account,)) if account is not None else ("", ())
        cols = ", ".join("v." + c.strip() for c in _VIDEO_COLS.split(","))
        with self.tx() as cur:
            cur.execute(
                f"SELECT v.account, v.workstation, {cols} FROM ledger_videos v {where}"
                " ORDER BY v.created_at, v.video_id",
                args,
            )
            rows = cur.fetchall()
            cur.execute(
                "SELECT account, video_id, output FROM ledger_copies WHERE output IS NOT NULL ORDER BY verified_at"
            )
            uses = cur.fetchall()
        outputs: dict[tuple[str, str], list[str]] = {}
        for acc, vid, out in uses:
            seen = outputs.setdefault((acc, vid), [])
            if out not in seen:
                seen.append(out)
        result = []
        for row in rows:
            video = _video(row[2:])
            purchase = Purchase(
                account=str(row[0]), job_key=video.job_key, video_id=video.video_id, section=video.section,
                state=video.state, seconds=video.seconds, cost_usd=video.cost_usd, billed=video.billed,
                created_at=video.created_at, outputs=tuple(outputs.get((str(row[0]), video.video_id), ())),
            )
            result.append(TeamPurchase(purchase, row[1]))
        return result

    def purchases(self, account: str | None = None) -> list[Purchase]:
        return [t.purchase for t in self.team_purchases(account)]

    # -- team budget ---------------------------------------------------------------------------------
    def budget(self, account: str) -> float | None:
        """The team's spending cap for ``account`` in USD (None: no cap)."""
        with self.tx() as cur:
            cur.execute("SELECT cap_usd FROM team_budget WHERE account = %s", (account,))
            row = cur.fetchone()
        return None if row is None or row[0] is None else float(row[0])

    def set_budget(self, account: str, cap_usd: float | None, *, now: float) -> None:
        self._one(
            """INSERT INTO team_budget (account, cap_usd, set_at, set_by) VALUES (%s, %s, %s, %s)
               ON CONFLICT (account) DO UPDATE SET cap_usd = excluded.cap_usd, set_at = excluded.set_at,
                   set_by = excluded.set_by""",
            (account, None if cap_usd is None else round(cap_usd, 6), now, self.workstation),
        )

    def committed(self, account: str) -> float:
        """What the account has spent or is about to: every intent except those refused on their
        only send or whose video was not billed."""
        with self.tx() as cur:
            return _committed(cur, account)

    # -- writing -------------------------------------------------------------------------------------
    def record_intent(
        self, account: str, job_key: str, *, idempotency_key: str, attempt: int, section: str,
        seconds: float, cost_usd: float, now: float,
    ) -> Intent:
        with self.tx() as cur:
            cur.execute(
                f"SELECT {_INTENT_COLS} FROM ledger_intents WHERE account = %s AND idempotency_key = %s",
                (account, idempotency_key),
            )
            row = cur.fetchone()
            if row is not None:
                return _intent(row)
            cur.execute("SELECT cap_usd FROM team_budget WHERE account = %s FOR UPDATE", (account,))
            cap = cur.fetchone()
            if cap is not None and cap[0] is not None and cost_usd > 0:
                spent = _committed(cur, account)
                if round((spent + cost_usd) * 100) > round(float(cap[0]) * 100):
                    raise BudgetExceededError(
                        f"not started: '{section}' (${cost_usd:.2f}) would take the team's spending "
                        f"(${spent:.2f}) over its budget of ${float(cap[0]):.2f}",
                        hint="raise it with: otio-heygen ledger budget set AMOUNT",
                    )
            cur.execute(
                """INSERT INTO ledger_intents (account, idempotency_key, job_key, attempt, section, seconds,
                       cost_usd, recorded_at, first_sent_at, may_have_reached, workstation)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s, NULL, 0, %s)
                   ON CONFLICT (account, idempotency_key) DO NOTHING""",
                (account, idempotency_key, job_key, attempt, section, seconds, round(cost_usd, 6), now,
                 self.workstation),
            )
            cur.execute(
                f"SELECT {_INTENT_COLS} FROM ledger_intents WHERE account = %s AND idempotency_key = %s",
                (account, idempotency_key),
            )
            return _intent(cur.fetchone())

    def mark_sending(self, account: str, idempotency_key: str, *, now: float) -> None:
        self._one(
            """UPDATE ledger_intents SET may_have_reached = 1, first_sent_at = COALESCE(first_sent_at, %s)
               WHERE account = %s AND idempotency_key = %s""",
            (now, account, idempotency_key),
        )

    def mark_refused(self, account: str, idempotency_key: str) -> None:
        self._one(
            "UPDATE ledger_intents SET may_have_reached = 0 WHERE account = %s AND idempotency_key = %s",
            (account, idempotency_key),
        )

    def record_video(
        self, account: str, job_key: str, video_id: str, *, idempotency_key: str | None, section: str,
        seconds: float, cost_usd: float, billed: bool, state: VideoState, now: float,
    ) -> bool:
        row = self._one(
            """INSERT INTO ledger_videos (account, video_id, job_key, idempotency_key, section, state, seconds,
                   cost_usd, billed, created_at, updated_at, workstation)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
               ON CONFLICT (account, video_id) DO UPDATE SET state = excluded.state,
                   updated_at = excluded.updated_at,
                   idempotency_key = COALESCE(ledger_videos.idempotency_key, excluded.idempotency_key)
               RETURNING (xmax = 0)""",
            (account, video_id, job_key, idempotency_key, section, state, seconds, round(cost_usd, 6),
             int(billed), now, now, self.workstation),
        ).fetchone()
        return bool(row[0])  # xmax = 0: the row was inserted, not updated

    def set_video_state(
        self, account: str, video_id: str, state: VideoState, *, now: float,
        seconds: float | None = None, billed: bool | None = None,
    ) -> None:
        self._one(
            """UPDATE ledger_videos SET state = %s, updated_at = %s, seconds = COALESCE(%s, seconds),
                   billed = COALESCE(%s, billed) WHERE account = %s AND video_id = %s""",
            (state, now, seconds, None if billed is None else int(billed), account, video_id),
        )

    def add_copy(
        self, account: str, video_id: str, *, path: str, size: int, sha256: str, output: str | None, now: float
    ) -> None:
        self._one(
            """INSERT INTO ledger_copies (account, video_id, path, size, sha256, output, verified_at)
               VALUES (%s, %s, %s, %s, %s, %s, %s)
               ON CONFLICT (account, video_id, path) DO UPDATE SET size = excluded.size,
                   sha256 = excluded.sha256, output = COALESCE(excluded.output, ledger_copies.output),
                   verified_at = excluded.verified_at""",
            (account, video_id, path, size, sha256, output, now),
        )

    def drop_copy(self, account: str, video_id: str, path: str) -> None:
        self._one(
            "DELETE FROM ledger_copies WHERE account = %s AND video_id = %s AND path = %s",
            (account, video_id, path),
        )


def _committed(cur: Any, account: str) -> float:
    cur.execute(
        """SELECT COALESCE(SUM(i.cost_usd), 0) FROM ledger_intents i
           WHERE i.account = %s
             AND NOT (i.may_have_reached = 0 AND i.first_sent_at IS NOT NULL)
             AND NOT EXISTS (SELECT 1 FROM ledger_videos v WHERE v.account = i.account
                             AND v.idempotency_key = i.idempotency_key AND v.billed = 0
                             AND v.state IN ('failed', 'completed'))""",
        (account,),
    )
    return round(float(cur.fetchone()[0]), 6)


def connect(url: str) -> Any:
    """An autocommit psycopg connection (transactions are explicit), or a clear ``ConfigError``."""
    try:
        import psycopg
    except ImportError as exc:
        raise ConfigError(
            "a PostgreSQL ledger needs the psycopg driver, which is not installed",
            hint='install the team extra: pip install "otio-heygen[team]"',
        ) from exc
    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=10, application_name="otio-heygen")
    except psycopg.Error as exc:
        raise ConfigError(
            f"cannot reach the team ledger {redact_url(url)}: {_first_line(exc)}",
            hint="check OTIO_HEYGEN_LEDGER (or ledger in otio-heygen.toml) and that the database server is up",
        ) from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
