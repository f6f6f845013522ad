"""Benchmark: build the review page of a 30-section x 3-take output; wall time and size on disk.

Run on demand: ``python tests/bench/bench_review.py [--sections 30] [--takes 3] [--seconds 6]``. Makes a
song, a timeline with one marker per section and renders it offline (``preview`` backend, the real
pipeline; not timed as part of the page), then times:

- baseline: decoding every take's audio once with PyAV (the least any sync measurement must do);
- cold build: ``build_review`` with no previous page (stills made, sync measured for every take);
- warm rebuild: the same page again (stills and measurements of unchanged clips reused).

Prints the times, their ratios to the baseline, and the page's size on disk (HTML, stills) against the
size of the clips it shows.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import opentimelineio as otio

from otio_heygen import RenderOptions
from otio_heygen import render_file as render_timeline
from otio_heygen.media.audio import read_audio, write_upload_audio
from otio_heygen.media.sync import ANALYSIS_RATE
from otio_heygen.review import build_review

RATE = 25.0
SAMPLE_RATE = 48000
PHOTO = Path(__file__).resolve().parents[2] / "sample_timelines" / "artist.png"


def make_timeline(folder: Path, sections: int, seconds: float) -> Path:
    total = sections * seconds
    rng = np.random.default_rng(1)
    t = np.arange(int(total * SAMPLE_RATE)) / SAMPLE_RATE
    syllables = np.repeat(rng.random(int(total * 8) + 1) > 0.4, SAMPLE_RATE // 8)[: t.size]
    voice = syllables * (0.5 * np.sin(2 * np.pi * 220 * t) + 0.2 * rng.standard_normal(t.size))
    song = write_upload_audio(voice[None, :].astype(np.float32), SAMPLE_RATE, folder / "song.wav",
                              max_bytes=1 << 40)
    frames = round(seconds * RATE)
    timeline = otio.schema.Timeline(name="bench")
    timeline.global_start_time = otio.opentime.from_timecode("01:00:00:00", RATE)
    track = otio.schema.Track(name="A1", kind=otio.schema.TrackKind.Audio)
    track.append(otio.schema.Clip(
        name="song.wav", media_reference=otio.schema.ExternalReference(target_url=song.resolve().as_uri()),
        source_range=otio.opentime.TimeRange(otio.opentime.RationalTime(0, RATE),
                                             otio.opentime.RationalTime(frames * sections, RATE)),
    ))
    timeline.tracks.append(track)
    for i in range(sections):
        timeline.tracks.markers.append(otio.schema.Marker(
            name=f"Part {i + 1}", color=otio.schema.MarkerColor.BLUE,
            marked_range=otio.opentime.TimeRange(otio.opentime.RationalTime(i * frames, RATE),
                                                 otio.opentime.RationalTime(frames, RATE)),
        ))
    path = folder / "bench.otio"
    otio.adapters.write_to_file(timeline, str(path))
    return path


def open_in_chromium(page: Path, profile: Path) -> tuple[float, float, int] | None:
    """(DOM ready ms, load ms, bytes the browser fetched) of the page in headless chromium, or None
    when chromium/chromedriver are not installed."""
    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not driver_path:
        return None
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=1400,1000", f"--user-data-dir={profile}"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    try:
        driver.get(page.resolve().as_uri())
        nav = driver.execute_script("return performance.getEntriesByType('navigation')[0].toJSON()")
        fetched = driver.execute_script(
            "return performance.getEntriesByType('resource').map(r => r.name).length")
        return float(nav["domContentLoadedEventEnd"]), float(nav["loadEventEnd"]), int(fetched)
    finally:
        driver.quit()


def folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", type=int, default=30)
    parser.add_argument("--takes", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=6.0)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-review-"))
    try:
        timeline = make_timeline(work, args.sections, args.seconds)
        out = work / "out" / "bench_avatar.otio"
        t0 = time.perf_counter()
        render_timeline(timeline, out, RenderOptions(backend="preview", takes=args.takes, image=PHOTO),
                        env={"OTIO_HEYGEN_KEY_FILE": str(work / "no-key")})
        rendered = time.perf_counter() - t0
        media = sorted((out.parent / "bench_avatar_media").glob("*.mp4"))

        t0 = time.perf_counter()
        for clip in media:
            read_audio(clip, ANALYSIS_RATE)
        baseline = time.perf_counter() - t0

        t0 = time.perf_counter()
        page = build_review(out)
        cold = time.perf_counter() - t0
        t0 = time.perf_counter()
        build_review(out)
        warm = time.perf_counter() - t0

        html = page.path.stat().st_size
        stills = folder_size(page.path.parent / "thumbs")
        total = folder_size(page.path.parent)
        clips = sum(p.stat().st_size for p in media)
        print(f"review page: {page.sections} sections x {args.takes} takes = {page.takes} takes "
              f"({args.seconds:.0f} s each, preview clips 640x360)")
        print(f"  (render of the output, preview backend, not part of the page: {rendered:.1f} s)")
        print(f"  baseline, decode every take's audio once: {baseline:.2f} s")
        print(f"  cold build:   {cold:.2f} s  ({cold / page.takes * 1000:.0f} ms per take, "
              f"{cold / baseline:.1f}x the baseline)")
        print(f"  warm rebuild: {warm:.2f} s  ({warm / cold:.3f}x the cold build)")
        print(f"  size on disk: {total / 1e6:.2f} MB = index.html {html / 1e3:.0f} kB + {page.takes * 2 + 1} stills "
              f"{stills / 1e3:.0f} kB + measurements {(total - html - stills) / 1e3:.0f} kB; "
              f"{total / clips:.3f}x the {clips / 1e6:.1f} MB of clips it shows")
        opened = open_in_chromium(page.path, work / "chromium-profile")
        if opened is None:
            print("  opening in a browser: skipped (chromium/chromedriver not installed)")
        else:
            ready, loaded, fetched = opened
            print(f"  opening in headless chromium: DOM ready {ready:.0f} ms, loaded {loaded:.0f} ms, "
                  f"{fetched} files fetched (stills in view; no clip until played)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
