"""Benchmark: peak resident memory of whole ``otio-heygen`` commands on a long song (target < 300 MB).

Run on demand: ``python tests/bench/bench_memory.py [--minutes 10] [--sections 30] [--no-heygen]``.

Generates a 48 kHz stereo WAV song (10 minutes: 115 MB as int16, 461 MB as float64), a photo and an
``.otio`` timeline with N equal section markers over it, then runs the real CLI, each command in a
fresh subprocess with the product's defaults (concurrency 10), and reads its peak RSS with
``resource.getrusage(RUSAGE_CHILDREN)`` in a wrapper process of its own (so one command's peak never
masks another's):

- baseline: a bare interpreter importing the package and its CLI;
- ``plan`` (decode the song once, hash every section's slice);
- ``render --backend preview`` (cut, encode an MP4 per section, sync-check, conform, write);
- ``render`` against the local fake HeyGen (threaded, in this process; every upload is a real WAV
  slice, every download a real MP4 carrying the audio sent), unless ``--no-heygen``.

Prints each peak, its excess over the baseline, and the verdict against the 300 MB target.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import opentimelineio as otio

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.bench.bench_audio import SAMPLE_RATE, make_song  # noqa: E402
from tests.conftest import SAMPLES  # noqa: E402

TARGET_MB = 300.0
RATE = 25.0
_SCRIPT = Path(sys.executable).with_name("otio-heygen")
CLI = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "otio_heygen.cli.main"]
_WRAPPER = (
    "import resource, subprocess, sys\n"
    "rc = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)\n"
    "print(rc, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
)


def write_timeline(folder: Path, song: Path, minutes: float, sections: int) -> Path:
    total = int(minutes * 60 * RATE)
    step = total // sections

    def span(start: int, length: int) -> otio.opentime.TimeRange:
        rt = otio.opentime.RationalTime
        return otio.opentime.TimeRange(rt(start, RATE), rt(length, RATE))

    timeline = otio.schema.Timeline(name="Memory bench")
    clip = otio.schema.Clip(
        name=song.name, source_range=span(0, total),
        media_reference=otio.schema.ExternalReference(target_url=str(song), available_range=span(0, total)),
    )
    timeline.tracks.append(otio.schema.Track(name="A1", kind=otio.schema.TrackKind.Audio, children=[clip]))
    for i in range(sections):
        timeline.tracks.markers.append(otio.schema.Marker(name=f"Part {i + 1}", marked_range=span(i * step, step)))
    path = folder / "cut.otio"
    otio.adapters.write_to_file(timeline, str(path))
    return path


def peak_rss_mb(command: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """(peak RSS in MiB, wall seconds) of ``command`` run to completion; raises if it fails."""
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", _WRAPPER, *command], env=env, cwd=cwd, capture_output=True, text=True, check=True
    )
    wall = time.perf_counter() - start
    rc, kib = out.stdout.split()
    if rc != "0":
        raise SystemExit(f"{' '.join(command[:3])} exited {rc}: {out.stderr[-2000:]}")
    return int(kib) / 1024.0, wall  # Linux reports KiB (macOS bytes: this bench targets Linux CI)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--sections", type=int, default=30)
    parser.add_argument("--no-heygen", action="store_true", help="skip the render against the fake HeyGen")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="otio-heygen-bench-") as tmp:
        folder = Path(tmp)
        song = make_song(folder, args.minutes)[0]
        shutil.copy(SAMPLES / "artist.png", folder / "artist.png")
        timeline = write_timeline(folder, song, args.minutes, args.sections)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HEYGEN_", "OTIO_HEYGEN_"))}
        env["OTIO_HEYGEN_ASSET_CACHE"] = str(folder / "assets.sqlite")
        env["OTIO_HEYGEN_KEY_FILE"] = str(folder / "no-key")
        seconds = args.minutes * 60
        print(f"song: {args.minutes:g} min, {SAMPLE_RATE} Hz stereo ({song.stat().st_size / 2**20:.0f} MiB WAV, "
              f"{seconds * SAMPLE_RATE * 2 * 8 / 2**20:.0f} MiB as float64); {args.sections} sections; "
              f"target peak < {TARGET_MB:.0f} MiB")

        rows: list[tuple[str, float, float]] = []
        base, wall = peak_rss_mb([sys.executable, "-c", "import otio_heygen.cli.main"], env, folder)
        rows.append(("baseline: import otio_heygen.cli", base, wall))
        common = [str(timeline), "--image", "artist.png"]
        rows.append(("plan", *peak_rss_mb([*CLI, "plan", *common, "--json"], env, folder)))
        preview = [*CLI, "render", *common, "-o", "out_preview/cut_avatar.otio", "--backend", "preview"]
        rows.append(("render --backend preview", *peak_rss_mb(preview, env, folder)))
        if not args.no_heygen:
            rows.append(("render (fake HeyGen)", *heygen_render(folder, common, env)))

        print(f"{'command':<34} {'peak RSS':>10} {'over baseline':>14} {'x baseline':>11} {'wall':>8}  verdict")
        for label, mb, wall in rows:
            verdict = "" if label.startswith("baseline") else ("ok" if mb < TARGET_MB else "OVER TARGET")
            print(f"{label:<34} {mb:8.1f} MiB {mb - base:10.1f} MiB {mb / base:10.2f}x {wall:7.1f}s  {verdict}")


def heygen_render(folder: Path, common: list[str], env: dict[str, str]) -> tuple[float, float]:
    import logging

    from pytest_httpserver import HTTPServer

    from tests.heygen_fake import FAKE_API_KEY, FakeHeyGen

    logging.disable(logging.CRITICAL)
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    try:
        fake = FakeHeyGen(server, render_seconds=0.5, echo_audio=True, balance=1e6)
        run_env = {**env, "HEYGEN_API_KEY": FAKE_API_KEY, "HEYGEN_API_URL": fake.base_url,
                   "OTIO_HEYGEN_POLL_INTERVAL": "0.2"}
        command = [*CLI, "render", *common, "-o", "out_heygen/cut_avatar.otio"]
        return peak_rss_mb(command, run_env, folder)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
