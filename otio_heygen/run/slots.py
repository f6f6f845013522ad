"""Account-wide render slots: how many renders the whole account may have at once.

The run layer's :class:`~otio_heygen.run.limits.AdaptiveLimiter` counts this process's renders;
a :class:`SlotPool` counts the *account's*. Two pools:

* :class:`ProcessSlots`: the embedded (SQLite) ledger: nothing beyond the process's own count.
* :class:`PgSlots`: the team ledger. Slots are rows of ``team_slots`` (``account``, ``slot``
  0..N-1): taking one is a single ``UPDATE ... WHERE (account, slot) = (SELECT ... FOR UPDATE
  SKIP LOCKED)`` that leases it to this process until the *server's* clock passes
  ``lease_until``. A heartbeat thread extends every lease this process holds every third of
  the lease, so a workstation that crashes or loses power gives its slots back within one
  lease (60 s by default) without anyone cleaning up. Giving a slot back sends ``NOTIFY``;
  waiters ``LISTEN`` and also look again every second (for leases that simply expired).

A pool also hands out **claims** on job keys: a job claims its key before it looks in the
ledger and buys, and keeps the claim until it has its clip. A second workstation needing the
same section meanwhile waits (holding no render slot) and then finds the first one's video in
the ledger instead of buying it again. Claims are leased and renewed like slots, so a crashed
workstation's sections are claimed (and its paid renders picked up) by whoever runs next.

With a shared ledger ``--concurrency`` is therefore the account's limit across every
workstation using it (slot ``i`` is usable by a run whose concurrency is above ``i``).
"""

from __future__ import annotations

import contextlib
import os
import threading
import uuid
from typing import Any, Protocol

__all__ = ["DEFAULT_LEASE_S", "PgSlots", "ProcessSlots", "SlotPool", "open_slots"]

DEFAULT_LEASE_S = 60.0
_CHANNEL = "otio_heygen_slots"
_NOW = "EXTRACT(EPOCH FROM clock_timestamp())"


class SlotPool(Protocol):
    """Account-wide slots, taken before a render is created and given back when it finished."""

    def take(self, cancel: threading.Event) -> bool:
        """Wait for a slot; False when ``cancel`` was set meanwhile (nothing held then)."""
        ...

    def give(self) -> None:
        """Give back one slot this process holds (no-op if none)."""
        ...

    def claim(self, job_key: str, cancel: threading.Event, *, wait: bool = True) -> bool:
        """Wait until no other live process works on ``job_key``, then hold it; False if cancelled
        (or, with ``wait=False``, if another process holds it now)."""
        ...

    def unclaim(self, job_key: str) -> None:
        """Let other processes have ``job_key`` (its clip is in the ledger, or this job gave up)."""
        ...

    def close(self) -> None:
        """Give back every slot and claim and stop (heartbeat, listener)."""
        ...


class ProcessSlots:
    """No account-wide limit beyond the process's own (the embedded ledger is one machine's)."""

    def take(self, cancel: threading.Event) -> bool:
        return not cancel.is_set()

    def give(self) -> None:
        return None

    def claim(self, job_key: str, cancel: threading.Event, *, wait: bool = True) -> bool:
        return not cancel.is_set()

    def unclaim(self, job_key: str) -> None:
        return None

    def close(self) -> None:
        return None


class PgSlots:
    """Render slots leased from the team ledger (see the module docstring)."""

    def __init__(
        self,
        url: str,
        account: str,
        limit: int,
        *,
        workstation: str,
        lease_s: float = DEFAULT_LEASE_S,
        recheck_s: float = 1.0,
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
        self._recheck_s = recheck_s
        self._held: list[int] = []
        self._lock = threading.Lock()
        self._wake = threading.Condition()
        self._closed = threading.Event()
        self._conn = connect(url)
        self._listen_conn = connect(url)
        self._ensure_rows()
        self._listen_conn.execute(f"LISTEN {_CHANNEL}")
        self._threads = [
            threading.Thread(target=self._heartbeat, name="otio-heygen-slots-heartbeat", daemon=True),
            threading.Thread(target=self._listen, name="otio-heygen-slots-listen", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    # -- database ------------------------------------------------------------------------------------
    def _execute(self, sql: str, args: tuple[Any, ...] = (), *, notify: bool = False) -> list[Any]:
        with self._lock, self._conn.transaction(), self._conn.cursor() as cur:
            self.round_trips += 1
            cur.execute(sql, args)
            rows = list(cur.fetchall()) if cur.description is not None else []
            if notify:  # delivered at commit, to every listening workstation
                cur.execute(f"NOTIFY {_CHANNEL}")
            return rows

    def _ensure_rows(self) -> None:
        self._execute(
            "INSERT INTO team_slots (account, slot) SELECT %s, s FROM generate_series(0, %s) AS s"
            " ON CONFLICT (account, slot) DO NOTHING",
            (self.account, self.limit - 1),
        )

    def _try_take(self) -> int | None:
        rows = self._execute(
            f"""UPDATE team_slots SET holder = %s, workstation = %s, lease_until = {_NOW} + %s
                WHERE (account, slot) = (
                    SELECT account, slot FROM team_slots
                    WHERE account = %s AND slot < %s AND (holder IS NULL OR lease_until < {_NOW})
                    ORDER BY slot LIMIT 1 FOR UPDATE SKIP LOCKED)
                RETURNING slot""",
            (self.holder, self.workstation, self.lease_s, self.account, self.limit),
        )
        return int(rows[0][0]) if rows else None

    # -- SlotPool ------------------------------------------------------------------------------------
    def take(self, cancel: threading.Event) -> bool:
        while not cancel.is_set() and not self._closed.is_set():
            with self._wake:
                slot = self._try_take()
                if slot is not None:
                    self._held.append(slot)
                    self.max_held = max(self.max_held, len(self._held))
                    return True
                self._wake.wait(self._recheck_s)
        return False

    def give(self) -> None:
        with self._wake:
            if not self._held:
                return
            slot = self._held.pop()
            self._execute(
                "UPDATE team_slots SET holder = NULL, lease_until = 0 WHERE account = %s AND slot = %s AND holder = %s",
                (self.account, slot, self.holder),
                notify=True,
            )
            self._wake.notify()

    def held(self) -> int:
        return len(self._held)

    def claim(self, job_key: str, cancel: threading.Event, *, wait: bool = True) -> bool:
        while not cancel.is_set() and not self._closed.is_set():
            with self._wake:
                rows = self._execute(
                    f"""INSERT INTO team_claims (account, job_key, holder, workstation, lease_until)
                        VALUES (%s, %s, %s, %s, {_NOW} + %s)
                        ON CONFLICT (account, job_key) DO UPDATE SET holder = excluded.holder,
                            workstation = excluded.workstation, lease_until = excluded.lease_until
                        WHERE team_claims.holder = excluded.holder OR team_claims.lease_until < {_NOW}
                        RETURNING holder""",
                    (self.account, job_key, self.holder, self.workstation, self.lease_s),
                )
                if rows:
                    return True
                if not wait:
                    return False
                self.claim_waits += 1
                self._wake.wait(self._recheck_s)
        return False

    def unclaim(self, job_key: str) -> None:
        with contextlib.suppress(Exception):
            self._execute(
                "DELETE FROM team_claims WHERE account = %s AND job_key = %s AND holder = %s",
                (self.account, job_key, self.holder),
                notify=True,
            )

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        with self._wake:
            self._held.clear()
            self._wake.notify_all()
        with contextlib.suppress(Exception):
            self._execute("DELETE FROM team_claims WHERE holder = %s", (self.holder,))
            self._execute(
                "UPDATE team_slots SET holder = NULL, lease_until = 0 WHERE holder = %s", (self.holder,), notify=True
            )
        with contextlib.suppress(Exception):
            self._conn.close()
        for thread in self._threads:
            thread.join(timeout=self._recheck_s + 1)
        with contextlib.suppress(Exception):
            self._listen_conn.close()

    # -- background ----------------------------------------------------------------------------------
    def _heartbeat(self) -> None:
        while not self._closed.wait(self.lease_s / 3):
            with contextlib.suppress(Exception):
                self._execute(
                    f"UPDATE team_slots SET lease_until = {_NOW} + %s WHERE holder = %s",
                    (self.lease_s, self.holder),
                )
                self._execute(
                    f"UPDATE team_claims SET lease_until = {_NOW} + %s WHERE holder = %s",
                    (self.lease_s, self.holder),
                )

    def _listen(self) -> None:
        while not self._closed.is_set():
            try:
                for _note in self._listen_conn.notifies(timeout=self._recheck_s, stop_after=1):
                    with self._wake:  # one slot or claim came free: one waiter tries (others recheck)
                        self._wake.notify()
            except Exception:
                if self._closed.wait(self._recheck_s):
                    return


def open_slots(store: object, account: str, limit: int, *, workstation: str, lease_s: float) -> SlotPool:
    """The account's slot pool: leased from the team ledger when ``store`` is one, else in-process."""
    from otio_heygen.run.ledger_pg import PgLedgerStore

    if isinstance(store, PgLedgerStore):
        return PgSlots(store.url, account, limit, workstation=workstation, lease_s=lease_s)
    return ProcessSlots()
