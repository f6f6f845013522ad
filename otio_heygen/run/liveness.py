"""Whether the process of a run recorded in an output's journal is still alive.

Every run row in the journal records the ``pid`` and ``host`` of the process that started it and a
``heartbeat_at`` that :class:`Heartbeat` refreshes every :data:`HEARTBEAT_S` seconds while the run
works. A run with no ``finished_at`` is only "running" while its process is: on this machine the
pid must exist (and not be a zombie) *and* its heartbeat be fresh (a pid reused after a reboot
has no heartbeat); for a run started on another machine (an output folder on shared storage) only
the heartbeat can tell. A run that fails the test was killed (SIGKILL, power loss, a second
Ctrl-C): ``status`` shows it as interrupted, and the next render of the output closes it and
takes over, while a live one makes that render stop with :class:`OutputBusyError`.

:func:`liveness` is pure (clock, host and pid probe injected); :func:`pid_alive` and
:class:`Heartbeat` are the imperative shell.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from otio_heygen import fsutil
from otio_heygen.run.journal_records import RunRecord

__all__ = [
    "HEARTBEAT_S",
    "STALE_AFTER_S",
    "Heartbeat",
    "Liveness",
    "liveness",
    "pid_alive",
    "this_host",
]

HEARTBEAT_S = 10.0
"""How often a live run refreshes ``runs.heartbeat_at``."""

STALE_AFTER_S = 60.0
"""A heartbeat older than this means the run's process is gone (or hung), even if the pid exists."""

State = Literal["finished", "alive", "gone", "unknown"]


@dataclass(frozen=True)
class Liveness:
    """What is known of a run's process. ``unknown``: a run written by a version without heartbeats."""

    state: State
    reason: str = ""

    @property
    def alive(self) -> bool:
        return self.state == "alive"


def this_host() -> str:
    """This machine's name as runs record it."""
    return socket.gethostname()


def pid_alive(pid: int) -> bool:
    """True when process ``pid`` exists on this machine and is not a zombie waiting to be reaped
    (``otio_heygen.fsutil.pid_alive``; a pid of 0 or less, which no run records, is not alive)."""
    return pid > 0 and fsutil.pid_alive(pid)


def liveness(
    run: RunRecord,
    *,
    now: float,
    host: str,
    is_alive: Callable[[int], bool] = pid_alive,
    stale_after_s: float = STALE_AFTER_S,
) -> Liveness:
    """Whether ``run``'s process still works on it, seen from ``host`` at ``now`` (journal clock)."""
    if run.finished_at is not None:
        return Liveness("finished")
    if run.pid is None or run.heartbeat_at is None:
        return Liveness("unknown", "started by an earlier otio-heygen that did not record its process")
    where = f"process {run.pid} on {run.host}"
    silent = now - run.heartbeat_at
    if run.host == host and not is_alive(run.pid):
        return Liveness("gone", f"{where} is gone")
    if silent > stale_after_s:
        return Liveness("gone", f"{where} has not been heard from for {silent:.0f} s")
    return Liveness("alive", f"{where} is rendering it")


class Heartbeat:
    """A daemon thread calling ``beat()`` every ``interval_s`` until :meth:`stop` (a context manager).

    A failing beat (the journal's disk full for a moment) is skipped, not fatal: the run goes on and
    the next beat tries again; only ``status`` would call the run stale after a minute of them.
    """

    def __init__(self, beat: Callable[[], None], interval_s: float = HEARTBEAT_S) -> None:
        self._beat = beat
        self._interval = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="otio-heygen-heartbeat", daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._beat()
            except Exception:
                continue

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)
