"""Account-wide render slots: how many renders the whole account may have at once.

The run layer's :class:`~otio_heygen.run.limits.AdaptiveLimiter` counts this process's renders;
a :class:`SlotPool` counts the *account's*. Two pools:

* :class:`ProcessSlots`: the embedded (SQLite) ledger: nothing beyond the process's own count.
* :class:`~otio_heygen.run.slots_pg.PgSlots`: the team ledger's slots, leased rows in PostgreSQL
  shared by every workstation (see that module for how they are taken, renewed and handed on).

A pool also hands out **claims** on job keys: a job claims its key before it looks in the
ledger and buys, and keeps the claim until it has its clip. A second workstation needing the
same section meanwhile waits (holding no render slot) and then finds the first one's video in
the ledger instead of buying it again.

While a job waits for the account (a slot every workstation is using, a section another
workstation is rendering) the pool says so through ``on_wait`` with a :class:`SlotWait` or a
:class:`ClaimWait`; the job turns that into a ``waiting`` progress event.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

__all__ = ["DEFAULT_LEASE_S", "ClaimWait", "ProcessSlots", "SlotPool", "SlotWait", "open_slots"]

DEFAULT_LEASE_S = 60.0


@dataclass(frozen=True)
class SlotWait:
    """Every render slot the account allows is in use: ``in_use`` of ``limit``, by workstation."""

    in_use: int
    limit: int
    holders: dict[str, int] = field(default_factory=dict)
    """Slots held per workstation (this one included)."""
    limited_by: str | None = None
    """The workstation whose ``--concurrency`` set ``limit`` when it is below this run's own."""

    def describe(self) -> str:
        """``a render slot: 10 of 10 in use across the team (suite-1: 6, suite-2: 4)``."""
        who = ", ".join(f"{name}: {n}" for name, n in sorted(self.holders.items()))
        text = f"a render slot: {self.in_use} of {self.limit} in use across the team" + (f" ({who})" if who else "")
        if self.limited_by:
            text += f"; {self.limit} is the lowest --concurrency of the suites running ({self.limited_by})"
        return text


@dataclass(frozen=True)
class ClaimWait:
    """Another workstation has this section in hand (rendering it, or about to)."""

    workstation: str
    video_id: str | None = None
    """Its render of the section, once it was created."""

    def describe(self) -> str:
        """``edit-suite-2's render (video v_123)``."""
        return f"{self.workstation}'s render" + (f" (video {self.video_id})" if self.video_id else "")


SlotWaitHandler = Callable[[SlotWait], None]
ClaimWaitHandler = Callable[[ClaimWait], None]


class SlotPool(Protocol):
    """Account-wide slots, taken before a render is created and given back when it finished."""

    def take(self, cancel: threading.Event, on_wait: SlotWaitHandler | None = None) -> bool:
        """Wait for a slot; False when ``cancel`` was set meanwhile (nothing held then).
        ``on_wait``: told when (and why) this call waits for the account."""
        ...

    def give(self) -> None:
        """Give back one slot this process holds (no-op if none)."""
        ...

    def claim(
        self, job_key: str, cancel: threading.Event, *, wait: bool = True, on_wait: ClaimWaitHandler | None = None
    ) -> bool:
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

    def take(self, cancel: threading.Event, on_wait: SlotWaitHandler | None = None) -> bool:
        return not cancel.is_set()

    def give(self) -> None:
        return None

    def claim(
        self, job_key: str, cancel: threading.Event, *, wait: bool = True, on_wait: ClaimWaitHandler | None = None
    ) -> bool:
        return not cancel.is_set()

    def unclaim(self, job_key: str) -> None:
        return None

    def close(self) -> None:
        return None


def open_slots(store: object, account: str, limit: int, *, workstation: str, lease_s: float) -> SlotPool:
    """The account's slot pool: leased from the team ledger when ``store`` is one, else in-process."""
    from otio_heygen.run.ledger_pg import PgLedgerStore

    if isinstance(store, PgLedgerStore):
        from otio_heygen.run.slots_pg import PgSlots

        return PgSlots(store.url, account, limit, workstation=workstation, lease_s=lease_s)
    return ProcessSlots()
