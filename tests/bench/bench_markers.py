#!/usr/bin/env python3
"""Benchmark: read a timeline with 2,000 markers on 50 tracks and turn them into sections.

Run on demand: ``python tests/bench/bench_markers.py``. Not part of the test run. Prints the time for
200 markers (baseline, same 50 tracks) and 2,000 markers, and their ratio: linear cost gives ~10x.
Target: 2,000 markers under 2 s on this machine (reading the .otio file included).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import opentimelineio as otio

from otio_heygen.read.timeline import read_timeline
from otio_heygen.sections.markers import find_sections

TRACKS = 50
SPACING = 100  # frames between section starts
RATE = 24.0
RT = otio.opentime.RationalTime
TR = otio.opentime.TimeRange


def build(markers: int) -> otio.schema.Timeline:
    """``markers`` sections spread over TRACKS tracks: one clip per marker, in source time, half of them
    ranged, half 1-frame starts; a stack marker every 10th; a Resolve note on each."""
    tl = otio.schema.Timeline(name="bench", global_start_time=RT(86400, RATE))
    per_track = -(-markers // TRACKS)
    clip_len = SPACING * TRACKS
    tracks = []
    for t in range(TRACKS):
        track = otio.schema.Track(name=f"V{t + 1}")
        track.append(otio.schema.Gap(source_range=TR(RT(0, RATE), RT(t * SPACING, RATE))))
        tracks.append(track)
    for i in range(markers):
        t, k = i % TRACKS, i // TRACKS
        clip = otio.schema.Clip(name=f"shot{i}", source_range=TR(RT(1000, RATE), RT(clip_len, RATE)))
        dur = 50 if i % 2 == 0 else 1
        note = {"Resolve_OTIO": {"Note": f"motion: take {i}\nexpressiveness: high", "Keywords": []}}
        marker = otio.schema.Marker(name=f"S{i}", marked_range=TR(RT(1000, RATE), RT(dur, RATE)), metadata=note)
        if i % 10 == 9:  # on the ruler instead, at the same timeline frame
            tl.tracks.markers.append(
                otio.schema.Marker(name=f"S{i}", marked_range=TR(RT(i * SPACING, RATE), RT(dur, RATE)), metadata=note)
            )
        else:
            clip.markers.append(marker)
        tracks[t].append(clip)
        assert k < per_track
    tl.tracks.extend(tracks)
    return tl


def measure(markers: int, folder: Path, repeat: int = 3) -> float:
    path = folder / f"bench_{markers}.otio"
    otio.adapters.write_to_file(build(markers), str(path))
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        scan = find_sections(read_timeline(path), max_seconds=10_000)
        times.append(time.perf_counter() - start)
        assert len(scan.sections) == markers, (len(scan.sections), markers)
        assert scan.sections[-1].start_frame == (markers - 1) * SPACING
    return statistics.median(times)


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        measure(50, folder, repeat=1)  # warm-up (imports, plugin manifest)
        small = measure(200, folder)
        big = measure(2000, folder)
    ratio = big / small
    print(f"200 markers / {TRACKS} tracks:   {small * 1000:8.1f} ms")
    print(f"2000 markers / {TRACKS} tracks:  {big * 1000:8.1f} ms   (target < 2000 ms)")
    print(f"ratio 2000/200: {ratio:.1f}x  (linear ~10x; quadratic would be ~100x)")
    ok = big < 2.0 and ratio < 20
    print("OK" if ok else "SLOW")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
