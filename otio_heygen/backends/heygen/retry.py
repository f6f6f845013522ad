"""Retry policy of HeyGen requests as data: constants plus pure functions (no I/O, no clock reads).

- ``should_retry``: may this failed request be sent again?
- ``retry_delay``: how long to wait before attempt ``n`` (``Retry-After`` in seconds or as an
  HTTP date, else exponential backoff with jitter, capped).
- ``retry_budget_for``: how long (in seconds of waiting) a given failure keeps being retried.
  The budget is by time, not by count: a burst of short faults (5xx, drops, 429 with a short
  ``Retry-After``) is ridden out, while a long outage still ends the request in bounded time.

How often renders are polled is not decided here but by the run layer (``otio_heygen.run.poll``).
"""

from __future__ import annotations

import random
from email.utils import parsedate_to_datetime

__all__ = [
    "INITIAL_RETRY_DELAY",
    "IN_PROGRESS_RETRY_BUDGET_S",
    "MAX_RETRY_AFTER",
    "MAX_RETRY_DELAY",
    "RETRYABLE_STATUSES",
    "RETRY_BUDGET_S",
    "is_retryable_status",
    "parse_retry_after",
    "retry_budget_for",
    "retry_delay",
    "should_retry",
]

RETRY_BUDGET_S = 60.0
"""Seconds a request failing with 429, 5xx or a dropped connection keeps being retried: once the
time since its first try (or the waits, whichever is more) reaches this, the last error is raised.
With the backoff below that is about a dozen tries, so even a run where half of all requests
fail transiently gets through, while a real outage is reported within about a minute."""
IN_PROGRESS_RETRY_BUDGET_S = 120.0
"""The same for ``409 request_in_progress`` (the first create with that key is still running;
HeyGen's create takes up to about 30 s at p99)."""
INITIAL_RETRY_DELAY = 0.5
MAX_RETRY_DELAY = 8.0
"""Cap of the exponential backoff (seconds)."""
MAX_RETRY_AFTER = 120.0
"""Longest ``Retry-After`` honoured as given; longer values are capped to this."""
JITTER = 0.25
"""Backoff is multiplied by a factor in ``(1 - JITTER, 1]``."""

RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE", "PUT"})


def is_retryable_status(status: int) -> bool:
    return status in RETRYABLE_STATUSES or status >= 500


def should_retry(method: str, status: int | None, code: str | None, is_create: bool, has_idempotency_key: bool) -> bool:
    """Whether a failed request may be sent again.

    ``status`` is ``None`` for a connection error or timeout (the server may or may not have
    acted). A create (which spends money) is only resent with the same Idempotency-Key, except
    on 429, which the server answers before doing anything. Other POSTs (uploads) follow the
    same rule: duplicates cost nothing but are avoided when we can.
    """
    method = method.upper()
    safe = method in _SAFE_METHODS and not is_create
    if status == 429:
        return True
    if status == 409:
        return code == "request_in_progress" and has_idempotency_key
    if status is None or is_retryable_status(status):
        return safe or has_idempotency_key
    return False


def retry_budget_for(status: int | None, code: str | None) -> float:
    """Seconds of retrying a failure earns (see ``RETRY_BUDGET_S``)."""
    if status == 409 and code == "request_in_progress":
        return IN_PROGRESS_RETRY_BUDGET_S
    return RETRY_BUDGET_S


def parse_retry_after(header: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta-seconds or HTTP date), or ``None``.

    ``now`` is wall-clock epoch seconds (only used for the HTTP-date form).
    """
    if header is None:
        return None
    value = header.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - now
        return max(0.0, seconds)
    if seconds != seconds or seconds < 0:  # NaN or negative
        return None
    return seconds


def retry_delay(attempt: int, retry_after_header: str | None, now: float, rng: random.Random) -> float:
    """Seconds to wait before retry number ``attempt`` (1 for the first retry).

    A parseable ``Retry-After`` wins (capped at ``MAX_RETRY_AFTER``); otherwise exponential
    backoff from ``INITIAL_RETRY_DELAY``, capped at ``MAX_RETRY_DELAY``, with jitter.
    """
    server = parse_retry_after(retry_after_header, now)
    if server is not None:
        return min(server, MAX_RETRY_AFTER)
    exponent = max(0, attempt - 1)
    base = min(INITIAL_RETRY_DELAY * (2.0 ** min(exponent, 30)), MAX_RETRY_DELAY)
    return base * (1.0 - JITTER * rng.random())
