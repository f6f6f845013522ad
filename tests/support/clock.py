"""One fake clock for every test: time moves only when someone sleeps, so nothing waits for real.

Inject ``ft.clock`` and ``ft.sleep`` wherever the code under test takes a clock and a sleep
(client retries, the runner, the fake HeyGen server). Thread-safe: the runner's worker threads
and the fake server's handler threads share one instance.
"""

from __future__ import annotations

import threading
import time

__all__ = ["FakeTime"]


class FakeTime:
    """An injected monotonic clock plus a sleep that advances it and records each nap."""

    def __init__(self, start: float = 1000.0, *, min_step: float = 0.0) -> None:
        self.now = start
        self.sleeps: list[float] = []
        self.min_step = min_step
        """Each sleep moves the clock at least this much (so a zero-second wait loop still ends)."""
        self._lock = threading.Lock()

    @property
    def slept(self) -> float:
        """Seconds slept in total."""
        with self._lock:
            return sum(self.sleeps)

    def clock(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0, f"negative sleep {seconds}"
        with self._lock:
            self.sleeps.append(seconds)
            self.now += max(seconds, self.min_step)
        time.sleep(0)  # let other threads run; no real waiting
