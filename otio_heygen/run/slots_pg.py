"""The team ledger's render slots and job claims: leased rows in PostgreSQL every workstation shares.

* **Slots** are rows of ``team_slots`` (``account``, ``slot`` 0..N-1). Taking slots is one
  statement: ``UPDATE`` of up to as many free rows as this process has jobs waiting, chosen with
  ``FOR UPDATE SKIP LOCKED`` and leased to this process until the *server's* clock passes
  ``lease_until``. Only one thread of a process asks the database at a time; the others wait
  for what it brings back, so a process never asks for the same free slot twice.
* **Waiting** costs no queries: giving a slot back sends ``NOTIFY`` in the same statement, and
  a listener connection wakes this process's waiters, which ask once per burst of notifications
  (renders finishing together), not once each. A bounded fallback look (at most every 5 s, a
  sixth of the lease when that is shorter) picks up slots whose lease ran out without anybody
  giving them back.
* **The account's limit** is the smallest ``--concurrency`` of the suites running: each process
  registers what it asked for in ``team_suites`` (leased like the slots) and only slots below
  the smallest live value are handed out, so a suite that knows the plan is smaller (or a
  careful one) is never overrun by one asking for more. Renders already running when such a
  suite starts are never stopped; new ones wait until the account is under the new limit.
* **Heartbeat**: one statement every third of the lease renews every slot, claim and the
  registration of this process; a workstation that crashes or loses power gives everything back
  within one lease (60 s by default) without anyone cleaning up.
* **Claims** (``team_claims``): a job holds its key while it buys and fetches the clip; a second
  workstation waits and is told whose render it waits for, with its video id once the ledger has
  one. Its failed claim marks the row ``waited`` (a row lock the release waits for), so the
  release announces itself (``NOTIFY``) exactly when someone waits: a release nobody waits for
  costs the other workstations nothing.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import uuid
from collections import Counter
from typing import Any

from otio_heygen.run.slots import DEFAULT_LEASE_S, ClaimWait, ClaimWaitHandler, SlotWait, SlotWaitHandler

__all__ = ["PgSlots"]

_CHANNEL = "otio_heygen_slots"
_NOW = "EXTRACT(EPOCH FROM clock_timestamp())"
_POLL_MAX_S = 5.0
_BURST_S = 0.02
"""Slots given back together (renders finishing in one poll) wake a waiter once: it looks this long
after the last notification, not after each."""
_LIVE = f"lease_until >= {_NOW}"
_TAKEABLE = (
    "(team_claims.holder = excluded.holder OR team_claims.lease_until < EXTRACT(EPOCH FROM statement_timestamp()))"
)
"""Stable within the statement: every CASE of one claim agrees."""

_TAKE = f"""
WITH lim AS (
    SELECT LEAST(%(mine)s, COALESCE(MIN(wanted), %(mine)s)) AS n FROM team_suites
    WHERE account = %(acc)s AND {_LIVE}),
free AS (
    SELECT s.account, s.slot FROM team_slots s, lim
    WHERE s.account = %(acc)s AND s.slot < lim.n AND (s.holder IS NULL OR s.lease_until < {_NOW})
    ORDER BY s.slot LIMIT %(want)s FOR UPDATE OF s SKIP LOCKED),
taken AS (
    UPDATE team_slots t SET holder = %(holder)s, workstation = %(ws)s, lease_until = {_NOW} + %(lease)s
    FROM free WHERE t.account = free.account AND t.slot = free.slot RETURNING t.slot)
SELECT (SELECT array_agg(slot) FROM taken), lim.n,
    (SELECT array_agg(COALESCE(workstation, '?')) FROM team_slots
     WHERE account = %(acc)s AND holder IS NOT NULL AND {_LIVE}),
    (SELECT workstation FROM team_suites WHERE account = %(acc)s AND {_LIVE} ORDER BY wanted, workstation LIMIT 1)
FROM lim"""

_CLAIM = f"""
WITH mine AS (
    INSERT INTO team_claims (account, job_key, holder, workstation, lease_until)
    VALUES (%(acc)s, %(key)s, %(holder)s, %(ws)s, {_NOW} + %(lease)s)
    ON CONFLICT (account, job_key) DO UPDATE SET
        holder = CASE WHEN {_TAKEABLE} THEN excluded.holder ELSE team_claims.holder END,
        workstation = CASE WHEN {_TAKEABLE} THEN excluded.workstation ELSE team_claims.workstation END,
        lease_until = CASE WHEN {_TAKEABLE} THEN excluded.lease_until ELSE team_claims.lease_until END,
        waited = NOT ({_TAKEABLE})
    RETURNING holder, workstation)
SELECT mine.holder = %(holder)s, mine.workstation,
    (SELECT video_id FROM ledger_videos WHERE account = %(acc)s AND job_key = %(key)s AND state = 'rendering'
     ORDER BY created_at DESC LIMIT 1)
FROM mine"""
"""Claim a job key, or mark it waited for (its holder's release then wakes us): one statement."""


class PgSlots:
    """Render slots and job claims leased from the team ledger (see the module docstring)."""

    def __init__(
        self,
        url: str,
        account: str,
        limit: int,
        *,
        workstation: str,
        lease_s: float = DEFAULT_LEASE_S,
        recheck_s: float | None = None,
    ) -> None:
        from otio_heygen.run.ledger_pg import connect

        self.account = account
        self.limit = max(1, limit)
        self.lease_s = float(lease_s)
        self.holder = f"{workstation}/{os.getpid()}/{uuid.uuid4().hex[:8]}"
        self.workstation = workstation
        self.round_trips = 0
        self.max_held = 0
        self.claim_waits = 0
        self._poll_s = recheck_s if recheck_s is not None else min(_POLL_MAX_S, self.lease_s / 6)
        self._db = threading.Lock()
        self._cond = threading.Condition()
        # under _cond: slots held by jobs, slots fetched for waiters not yet handed over, waiters
        self._held: list[int] = []
        self._ready: list[int] = []
        self._waiting = 0
        self._fetching = False
        self._slot_gen = 0  # bumped by every slot given back at the account (NOTIFY)
        self._notified_at = 0.0  # when the last one came: a burst of them is answered with one look
        self._tried_gen = -1  # what the last fruitless fetch had seen (-1: ask at once)
        self._next_poll = 0.0
        self._last_wait: SlotWait | None = None
        self._claim_gen: Counter[str] = Counter()
        self._closed = threading.Event()
        self._url = url
        self._listen_conn = connect(url)
        try:
            self._listen_conn.execute(f"LISTEN {_CHANNEL}")  # before anything is taken: no release is missed
            self._conn = connect(url)
            self._register()
        except BaseException:
            with contextlib.suppress(Exception):
                self._listen_conn.close()
            raise
        self._threads = [
            threading.Thread(target=self._heartbeat, name="otio-heygen-slots-heartbeat", daemon=True),
            threading.Thread(target=self._listen, name="otio-heygen-slots-listen", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    # -- database ------------------------------------------------------------------------------------
    def _execute(self, sql: str, args: dict[str, Any]) -> list[Any]:
        """One statement, one transaction (autocommit), one round trip."""
        with self._db:
            self.round_trips += 1
            cur = self._conn.execute(sql, {"acc": self.account, "holder": self.holder, "ws": self.workstation,
                                           "lease": self.lease_s, "chan": _CHANNEL, **args})
            return list(cur.fetchall()) if cur.description is not None else []

    def _register(self) -> None:
        """This suite's slot rows and its ``--concurrency`` (the account's limit is the lowest live one)."""
        self._execute(
            f"""WITH old AS (DELETE FROM team_suites WHERE account = %(acc)s AND lease_until < {_NOW} - 86400),
                rows AS (INSERT INTO team_slots (account, slot) SELECT %(acc)s, s FROM generate_series(0, %(n)s - 1) s
                         ON CONFLICT (account, slot) DO NOTHING)
                INSERT INTO team_suites (account, holder, workstation, wanted, lease_until)
                VALUES (%(acc)s, %(holder)s, %(ws)s, %(n)s, {_NOW} + %(lease)s)""",
            {"n": self.limit},
        )

    def _try_take(self, want: int) -> tuple[list[int], SlotWait]:
        rows = self._execute(_TAKE, {"mine": self.limit, "want": want})
        taken, limit, holders, lowest = rows[0]
        got = [int(s) for s in taken or ()]
        by_ws = Counter(str(w) for w in holders or ())
        if got:
            by_ws[self.workstation] += len(got)
        wait = SlotWait(
            in_use=sum(by_ws.values()), limit=int(limit), holders=dict(by_ws),
            limited_by=str(lowest) if int(limit) < self.limit and lowest else None,
        )
        return got, wait

    # -- slots ---------------------------------------------------------------------------------------
    def take(self, cancel: threading.Event, on_wait: SlotWaitHandler | None = None) -> bool:
        reported: SlotWait | None = None
        with self._cond:
            self._waiting += 1
        try:
            while True:
                want, news = 0, None
                with self._cond:
                    while True:
                        if cancel.is_set() or self._closed.is_set():
                            return False
                        if self._ready:
                            self._held.append(self._ready.pop())
                            self.max_held = max(self.max_held, len(self._held))
                            return True
                        now = time.monotonic()
                        settled = now >= self._notified_at + _BURST_S
                        if not self._fetching and (
                            (self._slot_gen != self._tried_gen and settled) or now >= self._next_poll
                        ):
                            self._fetching, gen, want = True, self._slot_gen, self._waiting
                            break
                        news = self._last_wait
                        if on_wait and news and (reported is None or reported.limit != news.limit):
                            break  # say so outside the lock
                        wake = self._next_poll
                        if self._slot_gen != self._tried_gen:
                            wake = min(wake, self._notified_at + _BURST_S)
                        self._cond.wait(min(0.25, max(0.005, wake - now)))
                if want:
                    self._fetch(gen, want)
                elif on_wait is not None and news is not None:
                    reported = news
                    on_wait(news)
        finally:
            with self._cond:
                self._waiting -= 1
                surplus = self._surplus()
            self._give_back(surplus)

    def _fetch(self, gen: int, want: int) -> None:
        got: list[int] = []
        wait: SlotWait | None = None
        try:
            got, wait = self._try_take(want)
        except Exception:
            if not self._closed.is_set():
                raise  # the database is unreachable: the job fails with it (a rerun resumes)
        finally:
            with self._cond:
                self._fetching = False
                self._ready.extend(got)
                if len(got) >= want:
                    self._tried_gen, self._last_wait = -1, None
                else:  # look again when a slot is given back, or at the fallback poll
                    self._tried_gen, self._next_poll = gen, time.monotonic() + self._poll_s
                    self._last_wait = wait or self._last_wait
                self._cond.notify_all()

    def _surplus(self) -> list[int]:
        """Slots fetched for waiters that left meanwhile (cancelled): to give back (under ``_cond``)."""
        extra = len(self._ready) - self._waiting
        if extra <= 0:
            return []
        out, self._ready = self._ready[:extra], self._ready[extra:]
        return out

    def _give_back(self, slots: list[int]) -> None:
        if not slots:
            return
        self._execute(
            """WITH r AS (UPDATE team_slots SET holder = NULL, lease_until = 0
                          WHERE account = %(acc)s AND slot = ANY(%(slots)s) AND holder = %(holder)s RETURNING slot)
               SELECT pg_notify(%(chan)s, 'slot') FROM r""",
            {"slots": slots},
        )

    def give(self) -> None:
        with self._cond:
            if not self._held:
                return
            slot = self._held.pop()
        self._give_back([slot])

    def held(self) -> int:
        return len(self._held)

    # -- claims --------------------------------------------------------------------------------------
    def claim(
        self, job_key: str, cancel: threading.Event, *, wait: bool = True, on_wait: ClaimWaitHandler | None = None
    ) -> bool:
        reported: ClaimWait | None = None
        while not cancel.is_set() and not self._closed.is_set():
            with self._cond:
                gen = self._claim_gen[job_key]
            got, workstation, video_id = self._execute(_CLAIM, {"key": job_key})[0]
            if got:
                return True
            if not wait:
                return False
            self.claim_waits += 1
            news = ClaimWait(str(workstation or "another workstation"), video_id)
            if on_wait is not None and news != reported:
                reported = news
                on_wait(news)
            deadline = time.monotonic() + self._poll_s
            with self._cond:
                while self._claim_gen[job_key] == gen and not cancel.is_set() and not self._closed.is_set():
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(min(0.25, left))
        return False

    def unclaim(self, job_key: str) -> None:
        with contextlib.suppress(Exception):
            self._execute(
                """WITH d AS (DELETE FROM team_claims WHERE account = %(acc)s AND job_key = %(key)s
                              AND holder = %(holder)s RETURNING job_key, waited)
                   SELECT pg_notify(%(chan)s, 'claim:' || job_key) FROM d WHERE waited""",
                {"key": job_key},
            )

    # -- lifetime ------------------------------------------------------------------------------------
    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        with self._cond:
            self._held.clear()
            self._ready.clear()
            self._cond.notify_all()
        with contextlib.suppress(Exception):
            self._execute(
                """WITH c AS (DELETE FROM team_claims WHERE holder = %(holder)s RETURNING job_key),
                        s AS (UPDATE team_slots SET holder = NULL, lease_until = 0 WHERE holder = %(holder)s
                              RETURNING slot),
                        r AS (DELETE FROM team_suites WHERE holder = %(holder)s RETURNING holder)
                   SELECT pg_notify(%(chan)s, note) FROM (
                       SELECT 'claim:' || job_key AS note FROM c UNION ALL SELECT 'slot' FROM s
                       UNION ALL SELECT 'slot' FROM r) AS notes""",
                {},
            )
        with contextlib.suppress(Exception):
            self._conn.close()
        for thread in self._threads:
            thread.join(timeout=2.0)
        with contextlib.suppress(Exception):
            self._listen_conn.close()

    def _heartbeat(self) -> None:
        """Renew every lease of this process (slots, claims, its registration): one statement."""
        while not self._closed.wait(self.lease_s / 3):
            with contextlib.suppress(Exception):
                self._execute(
                    f"""WITH s AS (UPDATE team_slots SET lease_until = {_NOW} + %(lease)s WHERE holder = %(holder)s),
                            c AS (UPDATE team_claims SET lease_until = {_NOW} + %(lease)s WHERE holder = %(holder)s)
                        UPDATE team_suites SET lease_until = {_NOW} + %(lease)s WHERE holder = %(holder)s""",
                    {},
                )

    def _listen(self) -> None:
        """Wake this process's waiters when a slot or a claimed section is given back anywhere."""
        while not self._closed.is_set():
            try:
                for note in self._listen_conn.notifies(timeout=0.2):  # short: close() joins this thread
                    with self._cond:
                        if note.payload.startswith("claim:"):
                            self._claim_gen[note.payload[6:]] += 1
                        else:
                            self._slot_gen += 1
                            self._notified_at = time.monotonic()
                        self._cond.notify_all()
                    if self._closed.is_set():
                        return
            except Exception:
                if self._closed.wait(self._poll_s):  # the fallback poll covers what is missed meanwhile
                    return
                with contextlib.suppress(Exception):
                    from otio_heygen.run.ledger_pg import connect

                    self._listen_conn = connect(self._url)
                    self._listen_conn.execute(f"LISTEN {_CHANNEL}")
