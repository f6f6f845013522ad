"""The lip-sync plot of the review page as a small inline SVG, drawn from the numbers (pure, no I/O).

The curve is the cross-correlation of the clip's audio against the audio that was sent (from
``otio_heygen.media.sync.correlation_curve``): its peak sits at the measured offset. The band around
zero is the tolerance (one frame each way); a peak outside it is drawn red.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

__all__ = ["decimate", "sync_svg"]

WIDTH = 240
HEIGHT = 72
_PAD_X = 6
_TOP = 6
_AXIS_Y = HEIGHT - 16


def decimate(lags: Sequence[float], values: Sequence[float], points: int = 161) -> tuple[list[float], list[float]]:
    """At most ``points`` samples of the curve, keeping in each bin the sample of largest magnitude
    (so the peak survives)."""
    n = len(lags)
    if n <= points:
        return list(lags), list(values)
    out_l: list[float] = []
    out_v: list[float] = []
    for b in range(points):
        lo, hi = b * n // points, max(b * n // points + 1, (b + 1) * n // points)
        best = max(range(lo, hi), key=lambda i: abs(values[i]))
        out_l.append(float(lags[best]))
        out_v.append(float(values[best]))
    return out_l, out_v


def sync_svg(
    lags_ms: Sequence[float],
    values: Sequence[float],
    *,
    offset_ms: float | None,
    tolerance_ms: float,
    off: bool,
) -> str:
    """An SVG (as text) of the correlation curve with the tolerance band and the measured offset.

    Empty ``lags_ms`` gives a plot saying the sync could not be measured."""
    # the window the curve covers, to a round 50 ms (decimation may drop its very first and last lags)
    span = math.ceil(max((abs(x) for x in lags_ms), default=500.0) / 50.0) * 50.0 or 500.0
    inner_w = WIDTH - 2 * _PAD_X

    def x_of(ms: float) -> float:
        return _PAD_X + (ms + span) / (2 * span) * inner_w

    def y_of(v: float) -> float:
        return _TOP + (1.0 - max(-1.0, min(1.0, v))) / 2.0 * (_AXIS_Y - _TOP)

    colour = "#d93025" if off else "#1e8e3e"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="syncplot" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="lip-sync correlation">',
        f'<rect x="{x_of(-tolerance_ms):.1f}" y="{_TOP}" width="{x_of(tolerance_ms) - x_of(-tolerance_ms):.1f}" '
        f'height="{_AXIS_Y - _TOP}" fill="#1e8e3e" fill-opacity="0.12"/>',
        f'<line x1="{_PAD_X}" y1="{_AXIS_Y}" x2="{WIDTH - _PAD_X}" y2="{_AXIS_Y}" stroke="#888" stroke-width="0.5"/>',
        f'<line x1="{x_of(0):.1f}" y1="{_TOP}" x2="{x_of(0):.1f}" y2="{_AXIS_Y}" stroke="#888" '
        'stroke-width="0.5" stroke-dasharray="2 2"/>',
    ]
    if lags_ms:
        lx, lv = decimate(lags_ms, values)
        pts = " ".join(f"{x_of(a):.1f},{y_of(b):.1f}" for a, b in zip(lx, lv, strict=True))
        parts.append(f'<polyline points="{pts}" fill="none" stroke="#555" stroke-width="1"/>')
    else:
        parts.append(f'<text x="{WIDTH / 2:.0f}" y="{_AXIS_Y / 2 + 4:.0f}" text-anchor="middle" font-size="10" '
                     'fill="#888">no audio to compare</text>')
    if offset_ms is not None and lags_ms and abs(offset_ms) <= span:
        parts.append(f'<line x1="{x_of(offset_ms):.1f}" y1="{_TOP}" x2="{x_of(offset_ms):.1f}" y2="{_AXIS_Y}" '
                     f'stroke="{colour}" stroke-width="1.5"/>')
    label = "" if offset_ms is None else ("0 ms" if abs(offset_ms) < 0.5 else f"{offset_ms:+.0f} ms")
    parts += [
        f'<text x="{_PAD_X}" y="{HEIGHT - 4}" font-size="9" fill="#666">{-span:.0f} ms</text>',
        f'<text x="{x_of(0):.1f}" y="{HEIGHT - 4}" font-size="9" fill="#666" text-anchor="middle">0</text>',
        f'<text x="{WIDTH - _PAD_X}" y="{HEIGHT - 4}" font-size="9" fill="#666" text-anchor="end">'
        f"+{span:.0f} ms</text>",
        f'<text x="{WIDTH - _PAD_X}" y="{_TOP + 9}" font-size="10" fill="{colour}" text-anchor="end">'
        f"{escape(label)}</text>",
        "</svg>",
    ]
    return "".join(parts)
