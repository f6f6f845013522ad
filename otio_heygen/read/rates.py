"""Frame rates as exact fractions: the one place that decides what 23.976 means.

OTIO files spell NTSC rates three ways (``23.976``, ``24000/1001`` as a float, a float32
``23.976024627685547``); they count the same frames, and every NLE plays them at 24000/1001.
So any rate within 0.05 % of an NTSC rate (n x 1000/1001) is that NTSC rate (24 itself is 0.1 %
away and stays 24); anything else is taken as written.
"""

from __future__ import annotations

from fractions import Fraction

__all__ = ["exact_rate"]

_NTSC_BASES = (24, 30, 48, 60, 120)


def exact_rate(rate: float) -> Fraction:
    """The exact frame rate: 23.976 / 23.976023976... / 23.976024627... -> 24000/1001; 25.0 -> 25."""
    for base in _NTSC_BASES:
        ntsc = Fraction(base * 1000, 1001)
        if abs(rate - float(ntsc)) <= 5e-4 * float(ntsc):
            return ntsc
    return Fraction(rate).limit_denominator(1001)
