"""Money arithmetic in whole units, so a budget and an estimate compare the way a person reads them.

Costs are summed in integer micro-dollars (each job's cost is its seconds times the price, rounded
to the micro-dollar once, the value the journal stores); estimates are shown and compared in whole
cents **rounded up**, and a budget is a whole number of cents. So ``--budget`` equal to the estimate
``plan`` prints is always accepted, and floats never decide whether money is spent. Pure, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

__all__ = [
    "MICROS_PER_CENT",
    "budget_micros",
    "cents_up",
    "cost_micros",
    "estimate_usd",
    "fits_budget",
    "format_usd",
    "micros_to_usd",
    "usd_micros",
]

MICROS_PER_CENT = 10_000


def cost_micros(seconds: float, price_per_second: float) -> int:
    """What ``seconds`` of video cost at ``price_per_second`` USD, in micro-dollars: exactly the
    journal's ``cost_usd`` (``round(seconds * price, 6)``) times a million, so sums agree with it."""
    return usd_micros(round(seconds * price_per_second, 6))


def usd_micros(usd: float) -> int:
    """A dollar amount (already rounded to the micro-dollar, like a journaled cost) in micro-dollars."""
    return max(0, round(usd * 1_000_000))


def micros_to_usd(micros: int) -> float:
    return round(micros / 1_000_000, 6)


def cents_up(micros: int) -> int:
    """Whole cents, rounded up: $1.2301 is 124 cents (an estimate never understates)."""
    return -(-max(0, micros) // MICROS_PER_CENT)


def estimate_usd(costs_micros: Iterable[int]) -> float:
    """The estimate as shown to the user: the sum in dollars, rounded up to the cent."""
    return cents_up(sum(costs_micros)) / 100


def budget_micros(budget_usd: float) -> int:
    """A ``--budget`` as the whole cents it names (1.24 is 124 cents even though 1.24 * 100 is not 124)."""
    return math.floor(round(budget_usd * 100, 6)) * MICROS_PER_CENT


def fits_budget(micros: int, budget_usd: float | None) -> bool:
    """Whether a cost fits under a budget (None: no budget). Compared in whole cents, rounded up."""
    return budget_usd is None or cents_up(micros) * MICROS_PER_CENT <= budget_micros(budget_usd)


def format_usd(micros: int) -> str:
    """``$1.24`` for 1 230 100 micro-dollars: rounded up to the cent, as every estimate is shown."""
    return f"${cents_up(micros) / 100:.2f}"
