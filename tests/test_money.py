"""Money arithmetic (``otio_heygen.money``), the budget guard, and the guards a price of 0 must not turn off.

The replay-window test drives the real runner against the local fake HeyGen v3 server with
injected clocks (no sleeps); it failed before a price of 0 stopped meaning "free".
"""

from __future__ import annotations

from pathlib import Path

import pytest

from otio_heygen.money import budget_micros, cents_up, cost_micros, estimate_usd, fits_budget, format_usd
from otio_heygen.run.limits import BudgetGuard
from tests.support.runner_env import HEYGEN_FAST, heygen_env, make_jobs
from tests.test_money_review import DAY, _crash_after_sending_create


@pytest.mark.parametrize(
    ("seconds", "price", "cents"),
    [(1.24, 0.10, 13), (3.0, 0.10, 30), (0.1 * 3, 1.0, 30), (2.0, 0.05, 10), (0.0, 0.10, 0), (1 / 3, 0.03, 1)],
)
def test_costs_round_up_to_the_cent_once_never_by_float_noise(seconds: float, price: float, cents: int) -> None:
    assert cents_up(cost_micros(seconds, price)) == cents


def test_a_budget_equal_to_the_shown_estimate_fits_and_a_cent_less_does_not() -> None:
    costs = [cost_micros(1.24, 0.10), cost_micros(2.48, 0.10)]  # $0.124 + $0.248 = $0.372
    estimate = estimate_usd(costs)
    assert estimate == 0.38 and format_usd(sum(costs)) == "$0.38"
    assert fits_budget(sum(costs), estimate)
    assert not fits_budget(sum(costs), 0.37)
    assert fits_budget(sum(costs), None)
    assert budget_micros(1.24) == 1_240_000  # 1.24 * 100 is 124.00000000000001 as a float


def test_the_budget_guard_lets_every_job_of_an_exact_budget_through() -> None:
    costs = [round(s * 0.1, 6) for s in (1.24, 1.24, 1.24)]  # the journal's cost_usd of three jobs
    guard = BudgetGuard(estimate_usd(cost_micros(s, 0.1) for s in (1.24, 1.24, 1.24)))
    assert guard.budget_usd == 0.38
    assert all(guard.reserve(cost) for cost in costs)
    assert not guard.reserve(0.01)
    guard.refund(costs[0])
    assert guard.committed_usd == pytest.approx(0.248)


def test_a_price_of_0_does_not_turn_off_the_replay_window_guard(tmp_path: Path, httpserver: object) -> None:
    """A create whose answer was lost two days ago is not resent blindly, whatever the price says."""
    env, fake, backend = heygen_env(tmp_path, httpserver)
    backend.price_per_second = 0.0  # an unknown price, not a free service
    jobs = make_jobs(env.root, 2)
    try:
        _crash_after_sending_create(env, fake, backend, sent_at=1_700_000_000.0)
        fake._keys.clear()  # HeyGen no longer remembers the key: a resend would render (and bill) again
        env.time.now = 2 * DAY
        report = env.run(jobs, HEYGEN_FAST, backend=backend)
    finally:
        backend.close()
    assert fake.creates == 2  # only the other section; the lost one is not bought a second time
    assert [f.job.key for f in report.failures] == [jobs[0].key] and "24 h" in report.failures[0].reason
    assert env.records()[jobs[1].key].billed  # a paid service's render is billed, even priced at 0
