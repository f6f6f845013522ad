"""What each spelling of a frame rate means exactly."""

from __future__ import annotations

from fractions import Fraction

import pytest

from otio_heygen.read.rates import exact_rate


@pytest.mark.parametrize(
    ("rate", "expected"),
    [
        (23.976, Fraction(24000, 1001)),
        (24000 / 1001, Fraction(24000, 1001)),
        (23.976024627685547, Fraction(24000, 1001)),  # float32 as some writers store it
        (23.98, Fraction(24000, 1001)),
        (24.0, Fraction(24)),
        (25.0, Fraction(25)),
        (29.97, Fraction(30000, 1001)),
        (30.0, Fraction(30)),
        (47.952, Fraction(48000, 1001)),
        (50.0, Fraction(50)),
        (59.94, Fraction(60000, 1001)),
        (60.0, Fraction(60)),
        (119.88, Fraction(120000, 1001)),
        (12.5, Fraction(25, 2)),
    ],
)
def test_exact_rate(rate: float, expected: Fraction) -> None:
    assert exact_rate(rate) == expected
