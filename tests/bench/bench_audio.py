"""Benchmark: cut 20 sections from a 5-minute 48 kHz stereo song, decode-once vs decode-per-section.

Run on demand: ``python tests/bench/bench_audio.py [--minutes 5] [--sections 20]``. Generates the song (WAV
and MP3) in a temp dir, then for each format times:

- decode-once: one ``SongAudio`` (the file decoded once), 20 ``cut`` + ``slice_digest`` calls;
- decode-per-section: what a naive implementation does, one full decode per section.

Prints both times, the ratio (target >= 5x), how many decodes each did, and peak memory (tracemalloc peak
of Python/numpy allocations during the run, and the process's max RSS).
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np

from otio_heygen.media import audio, probe
from otio_heygen.media.audio import SongAudio
from otio_heygen.media.song import SongClip, SongLayout

RATE = 25.0
SAMPLE_RATE = 48000


def make_song(folder: Path, minutes: float) -> list[Path]:
    n = int(minutes * 60 * SAMPLE_RATE)
    rng = np.random.default_rng(0)
    pcm = np.empty((2, n), dtype=np.int16)
    chunk = 10 * SAMPLE_RATE  # generate in 10 s chunks so the generator does not dominate peak memory
    for start in range(0, n, chunk):
        t = np.arange(start, min(n, start + chunk)) / SAMPLE_RATE
        beat = (np.sin(2 * np.pi * 2 * t) > 0.9) * rng.standard_normal((2, t.size))
        tones = np.stack([np.sin(2 * np.pi * 220 * t), np.sin(2 * np.pi * 330 * t)])
        pcm[:, start : start + t.size] = np.clip((0.3 * tones + 0.2 * beat) * 32767, -32768, 32767)
    wav = audio.write_upload_audio(pcm, SAMPLE_RATE, folder / "song.wav", max_bytes=1 << 40)
    mp3 = audio.write_upload_audio(pcm, SAMPLE_RATE, folder / "song_mp3.wav", max_bytes=0)
    return [wav, mp3]


def sections(total_frames: int, count: int) -> list[tuple[int, int]]:
    step = total_frames // count
    return [(i * step - 12, (i + 1) * step + 12) for i in range(count)]  # with 12-frame handles


def run(label: str, fn: Callable[[], list[str]]) -> tuple[float, int, list[str]]:
    tracemalloc.start()
    tracemalloc.reset_peak()
    t0 = time.perf_counter()
    digests = fn()
    elapsed = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"  {label:<20} {elapsed:8.3f} s   peak traced memory {peak / 2**20:8.1f} MiB")
    return elapsed, peak, digests


def bench(path: Path, minutes: float, count: int) -> float:
    info = probe.probe_media(path)
    frames = int(info.duration_seconds * RATE)
    layout = SongLayout((SongClip(path, 0, frames, 0.0),), RATE, frames, None)
    cuts = sections(frames, count)

    def once() -> list[str]:
        song = SongAudio(layout)
        return [song.slice_digest(a, b) for a, b in cuts]

    def per_section() -> list[str]:
        return [SongAudio(layout).slice_digest(a, b) for a, b in cuts]

    print(
        f"{path.suffix[1:].upper()}: {minutes:g} min, {SAMPLE_RATE} Hz stereo, {count} sections of "
        f"{cuts[0][1] - cuts[0][0]} frames @ {RATE:g} fps"
    )
    before = audio.DECODE_COUNTS[path]
    t_once, _, d_once = run("decode-once", once)
    decodes_once = audio.DECODE_COUNTS[path] - before
    before = audio.DECODE_COUNTS[path]
    t_each, _, d_each = run("decode-per-section", per_section)
    decodes_each = audio.DECODE_COUNTS[path] - before
    assert d_once == d_each, "both ways must cut identical audio"
    ratio = t_each / t_once
    verdict = "OK" if ratio >= 5 else "BELOW TARGET"
    print(f"  decodes: once={decodes_once} per-section={decodes_each}; speed-up {ratio:.1f}x (target >= 5x) {verdict}")
    return ratio


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--sections", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        paths = make_song(Path(tmp), args.minutes)
        rss_song = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        ratios = [bench(p.resolve(), args.minutes, args.sections) for p in paths]
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    song_mib = args.minutes * 60 * SAMPLE_RATE * 2 * 2 / 2**20
    print(
        f"process max RSS {rss / 1024:.1f} MiB (after generating the song: {rss_song / 1024:.1f} MiB; "
        f"the int16 song itself is {song_mib:.1f} MiB)"
    )
    return 0 if min(ratios) >= 5 else 1


if __name__ == "__main__":
    sys.exit(main())
