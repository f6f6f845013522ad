"""Table tests of the pure retry policy (the poll cadence is tested in test_poll.py)."""

from __future__ import annotations

import random

import pytest

from otio_heygen.backends.heygen.retry import (
    IN_PROGRESS_RETRY_BUDGET_S,
    INITIAL_RETRY_DELAY,
    JITTER,
    MAX_RETRY_AFTER,
    MAX_RETRY_DELAY,
    RETRY_BUDGET_S,
    parse_retry_after,
    retry_budget_for,
    retry_delay,
    should_retry,
)
from tests.support.heygen_fake import http_date

NOW = 1_795_000_000.0


@pytest.mark.parametrize(
    ("method", "status", "code", "is_create", "has_key", "expected"),
    [
        # GETs: transient failures retried, client errors not
        ("GET", None, None, False, False, True),
        ("GET", 500, "internal_error", False, False, True),
        ("GET", 502, None, False, False, True),
        ("GET", 503, None, False, False, True),
        ("GET", 504, None, False, False, True),
        ("GET", 599, None, False, False, True),
        ("GET", 408, None, False, False, True),
        ("GET", 429, "rate_limit_exceeded", False, False, True),
        ("GET", 400, "invalid_parameter", False, False, False),
        ("GET", 401, "unauthorized", False, False, False),
        ("GET", 402, "insufficient_credit", False, False, False),
        ("GET", 403, "forbidden", False, False, False),
        ("GET", 404, "not_found", False, False, False),
        ("GET", 413, "payload_too_large", False, False, False),
        ("get", 500, None, False, False, True),
        # creates: only with the same Idempotency-Key
        ("POST", 500, "internal_error", True, True, True),
        ("POST", 500, "internal_error", True, False, False),
        ("POST", None, None, True, True, True),
        ("POST", None, None, True, False, False),
        ("POST", 409, "request_in_progress", True, True, True),
        ("POST", 409, "request_in_progress", True, False, False),
        ("POST", 409, "conflict", True, True, False),
        ("POST", 429, "rate_limit_exceeded", True, False, True),  # refused before any work
        ("POST", 429, "rate_limit_exceeded", True, True, True),
        ("POST", 400, "invalid_parameter", True, True, False),
        ("POST", 401, "unauthorized", True, True, False),
        ("POST", 402, "insufficient_credit", True, True, False),
        ("POST", 413, "payload_too_large", True, True, False),
        # other POSTs (uploads) follow the key rule too
        ("POST", 503, None, False, True, True),
        ("POST", 503, None, False, False, False),
        ("POST", None, None, False, True, True),
        # a GET flagged as a create is treated as one
        ("GET", 500, None, True, False, False),
    ],
)
def test_should_retry(
    method: str, status: int | None, code: str | None, is_create: bool, has_key: bool, expected: bool
) -> None:
    assert should_retry(method, status, code, is_create, has_key) is expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("   ", None),
        ("7", 7.0),
        (" 7 ", 7.0),
        ("0", 0.0),
        ("1.5", 1.5),
        ("-3", None),
        ("nan", None),
        ("soon", None),
        (http_date(NOW + 12), 12.0),
        (http_date(NOW + 3600), 3600.0),
        (http_date(NOW - 30), 0.0),
        ("Fri, 31 Dec 1999 23:59:59 GMT", 0.0),
        ("Mon, 99 Foo 2026 99:99:99 GMT", None),
    ],
)
def test_parse_retry_after(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header, NOW) == expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("7", 7.0),
        ("0", 0.0),
        (http_date(NOW + 12), 12.0),
        ("100000", MAX_RETRY_AFTER),
        (http_date(NOW + 86400), MAX_RETRY_AFTER),
    ],
)
def test_retry_delay_honours_retry_after(header: str, expected: float) -> None:
    for attempt in (1, 2, 5):
        assert retry_delay(attempt, header, NOW, random.Random(attempt)) == expected


@pytest.mark.parametrize(
    ("attempt", "base"),
    [(0, INITIAL_RETRY_DELAY), (1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 8.0), (6, 8.0), (50, MAX_RETRY_DELAY)],
)
def test_retry_delay_backoff_with_jitter(attempt: int, base: float) -> None:
    delays = [retry_delay(attempt, None, NOW, random.Random(seed)) for seed in range(200)]
    assert all(base * (1 - JITTER) < d <= base for d in delays)
    assert len(set(delays)) > 100  # jittered, not constant
    assert retry_delay(attempt, "garbage", NOW, random.Random(3)) == retry_delay(attempt, None, NOW, random.Random(3))


def test_retry_delay_extremes_of_rng() -> None:
    class Fixed(random.Random):
        def __init__(self, value: float) -> None:
            super().__init__(0)
            self.value = value

        def random(self) -> float:
            return self.value

    assert retry_delay(3, None, NOW, Fixed(0.0)) == 2.0
    assert retry_delay(3, None, NOW, Fixed(0.999999)) == pytest.approx(2.0 * (1 - JITTER), rel=1e-5)


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (409, "request_in_progress", IN_PROGRESS_RETRY_BUDGET_S),
        (409, None, RETRY_BUDGET_S),
        (429, None, RETRY_BUDGET_S),
        (500, None, RETRY_BUDGET_S),
        (None, None, RETRY_BUDGET_S),
    ],
)
def test_retry_budget_for(status: int | None, code: str | None, expected: float) -> None:
    assert retry_budget_for(status, code) == expected


def test_backoff_fits_a_dozen_tries_in_the_budget() -> None:
    """Half of all requests failing at random still gets through: ~12 tries fit in the budget."""
    rng = random.Random(0)
    waited, tries = 0.0, 1
    while waited + (delay := retry_delay(tries, None, NOW, rng)) <= RETRY_BUDGET_S:
        waited += delay
        tries += 1
    assert 10 <= tries <= 16 and 0.5**tries < 0.001
