"""A few shared threads for the heavy media work of a run: encoding previews, cutting upload audio,
measuring lip-sync.

Render workers are many (twice the account's concurrency) and mostly wait on the network; they hand
this work to ``run_media`` and wait for it. Two reasons to keep it on so few threads: the work is
CPU-bound, so more of it at once than the machine has cores finishes no sooner; and glibc gives every
thread that allocates its own malloc arena and keeps what the arena once held, so twenty workers that
each decode a clip hold twenty clips' worth of memory long after (a 30-section preview run of a
10-minute song peaked at 330 MB that way, 170 MB with the work here).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

__all__ = ["MEDIA_THREADS", "run_media"]

MEDIA_THREADS = max(1, min(4, os.cpu_count() or 1))
"""How many media tasks run at once."""

T = TypeVar("T")

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_local = threading.local()


def _mark_media_thread() -> None:
    _local.media = True


def run_media(task: Callable[[], T]) -> T:
    """Run ``task`` on a media thread and return its result (its exception is raised here). Called from
    a media thread itself, it runs inline (no deadlock when media work nests)."""
    global _pool
    if getattr(_local, "media", False):
        return task()
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(
                MEDIA_THREADS, thread_name_prefix="otio-heygen-media", initializer=_mark_media_thread
            )
        pool = _pool
    return pool.submit(task).result()
