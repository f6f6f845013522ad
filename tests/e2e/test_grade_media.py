"""``--media-format prores|dnxhr``: grade-ready files rendered against the strict HeyGen fake (25 fps MP4s).

The sample is a 23.976 timeline starting at 01:00:00:00 (Resolve's dialect). Every placed file is decoded
for real: codec and profile, exact rate, frame count, start timecode, reel name, picture timing and lip-sync.
"""

from __future__ import annotations

import shutil
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import opentimelineio as otio
import pytest
from pytest_httpserver import HTTPServer

from otio_heygen import RenderOptions
from otio_heygen import render_file as render_timeline
from otio_heygen.errors import MediaError
from otio_heygen.media.sync import check_clip_sync
from tests.conftest import SAMPLES
from tests.e2e.test_render_heygen import env_for
from tests.support.clock import FakeTime
from tests.support.heygen_fake import FakeHeyGen

NTSC = Fraction(24000, 1001)


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    dest = tmp_path / "sample"
    shutil.copytree(SAMPLES, dest, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return dest / "demo_resolve.otio"


def _record_tc(frame: int) -> str:
    return str(otio.opentime.to_timecode(otio.opentime.RationalTime(86400 + frame, float(NTSC)), float(NTSC)))


def _decoded(path: Path) -> tuple[str, str, Fraction, int, dict[str, str], tuple[int, int], list[float]]:
    """codec, profile, rate, decoded frame count, timecode-track metadata, size, mean level of each frame."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        ctx = video.codec_context
        tmcd = next(s.metadata for s in container.streams if s.type == "data")
        levels = [float(f.to_ndarray(format="gray").mean()) for f in container.decode(video=0)]
        return ctx.name, str(ctx.profile), Fraction(video.average_rate), len(levels), dict(tmcd), \
            (ctx.width, ctx.height), levels


def _sent_audio(out_dir: Path, key: str) -> Path:
    return next(p for p in out_dir.rglob(f"{key[:24]}.wav"))


def _render(sample: Path, out: Path, fake: FakeHeyGen, time: FakeTime, tmp_path: Path,
            **options: object) -> tuple[otio.schema.Timeline, list[dict[str, object]]]:
    events: list[dict[str, object]] = []
    summary = render_timeline(sample, out, RenderOptions(backend="heygen", **options),  # type: ignore[arg-type]
                              env=env_for(fake, tmp_path / "assets.sqlite"),
                              on_event=lambda e: events.append(e.to_dict()), sleep=time.sleep, clock=time.clock)
    assert not summary.failures
    return otio.adapters.read_from_file(str(out)), events


def test_prores_files_are_exact_at_23976_with_record_timecode(
    httpserver: HTTPServer, sample: Path, tmp_path: Path
) -> None:
    time = FakeTime()
    fake = FakeHeyGen(httpserver, render_seconds=30.0, clock=time.clock)
    out = tmp_path / "out" / "demo_avatar.otio"
    result, events = _render(sample, out, fake, time, tmp_path, media_format="prores")

    clips = next(t for t in result.tracks if t.name == "Avatar IV").find_clips()
    assert len(clips) == 6
    for clip in clips:
        prov = clip.metadata["otio_heygen"]
        section = prov["section"]
        frames = section["end_frame"] - section["start_frame"]
        placed = Path(otio.url_utils.filepath_from_url(clip.media_reference.target_url))
        assert placed.parent == out.parent / "demo_avatar_media" and placed.suffix == ".mov"
        assert (out.parent / "demo_avatar_media" / "masters" / f"{placed.stem}.mp4").is_file()  # original kept

        codec, profile, rate, count, tmcd, size, levels = _decoded(placed)
        assert (codec, profile) == ("prores", "HQ")
        assert rate == NTSC and count == frames
        assert tmcd["timecode"] == _record_tc(section["start_frame"]) and tmcd["reel_name"] == section["name"]
        assert size == (64, 64)  # the timeline says no format: HeyGen's size

        # frame n is the 25 fps source picture nearest to n/rate (the fake paints frame i with level 7i % 256)
        want = [(round(n * 25 / NTSC) * 7) % 256 for n in range(count)]
        assert np.max(np.abs(np.array(levels) - np.array(want))) < 4

        # on the timeline: the media on its own (timecode) clock, the clip exactly on its section
        start = 86400 + section["start_frame"]
        assert clip.available_range().start_time.value == start
        assert clip.source_range.start_time.value == start and clip.source_range.duration.value == frames
        assert clip.range_in_parent().start_time.value == section["start_frame"]

        # lip-sync measured on the placed file, and within a frame when measured again here
        assert prov["sync"]["measured_on"] == placed.name
        sync = check_clip_sync(placed, _sent_audio(out.parent, prov["job_key"]), 24000 / 1001)
        assert sync.confidence > 0.5 and abs(sync.offset_frames) <= 1.0

    assert any(e.get("state") == "encoding" for e in events)  # progress shows the step

    # a rerun encodes nothing (journaled) and renders nothing
    stamps = {p: p.stat().st_mtime_ns for p in (out.parent / "demo_avatar_media").glob("*.mov")}
    creates = fake.create_requests
    _, again = _render(sample, out, fake, time, tmp_path, media_format="prores")
    assert not any(e.get("state") == "encoding" for e in again)
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps and fake.create_requests == creates


def test_dnxhr_takes_the_timeline_format_size(httpserver: HTTPServer, sample: Path, tmp_path: Path) -> None:
    timeline = otio.adapters.read_from_file(str(sample))
    timeline.metadata["Resolve_OTIO"] = {"Resolution Width": 320, "Resolution Height": 180}
    sized = sample.with_name("demo_320.otio")
    otio.adapters.write_to_file(timeline, str(sized))
    time = FakeTime()
    fake = FakeHeyGen(httpserver, render_seconds=30.0, clock=time.clock)
    out = tmp_path / "out" / "demo_avatar.otio"
    result, _ = _render(sized, out, fake, time, tmp_path, media_format="dnxhr", only=("Chorus 1", "Verse 2"))

    clips = [c for t in result.tracks for c in t.find_clips() if "demo_avatar_media" in
             getattr(c.media_reference, "target_url", "")]
    assert sorted(c.name for c in clips) == ["Chorus 1", "Verse 2"]
    for clip in clips:
        placed = Path(otio.url_utils.filepath_from_url(clip.media_reference.target_url))
        codec, profile, rate, count, tmcd, size, _ = _decoded(placed)
        start, end = {"Chorus 1": (528, 768), "Verse 2": (768, 1056)}[clip.name]
        assert (codec, profile) == ("dnxhd", "DNXHR HQX")
        assert rate == NTSC and count == end - start and size == (320, 180)
        assert tmcd["timecode"] == _record_tc(start) and tmcd["reel_name"] == clip.name
        assert clip.range_in_parent().start_time.value == start
        sync = check_clip_sync(placed, _sent_audio(out.parent, clip.metadata["otio_heygen"]["job_key"]), 24000 / 1001)
        assert sync.confidence > 0.5 and abs(sync.offset_frames) <= 1.0


def test_switching_media_format_never_renders_again(httpserver: HTTPServer, sample: Path, tmp_path: Path) -> None:
    time = FakeTime()
    fake = FakeHeyGen(httpserver, render_seconds=30.0, clock=time.clock)
    out = tmp_path / "out" / "demo_avatar.otio"
    only = ("Intro", "Outro")
    _render(sample, out, fake, time, tmp_path, only=only)  # mp4 first
    creates = fake.create_requests
    for media_format, suffix in (("prores", ".mov"), ("mp4", ".mp4"), ("prores", ".mov")):
        result, _ = _render(sample, out, fake, time, tmp_path, only=only, media_format=media_format)
        urls = [c.media_reference.target_url for c in next(t for t in result.tracks if t.name == "Avatar IV")
                .find_clips()]
        assert len(urls) == 2 and all(u.endswith(suffix) for u in urls)
        assert all(Path(otio.url_utils.filepath_from_url(u)).is_file() for u in urls)
    assert fake.create_requests == creates  # the paid renders were reused every time


def test_a_format_too_small_for_dnxhr_is_refused_before_anything_is_spent(
    httpserver: HTTPServer, sample: Path, tmp_path: Path
) -> None:
    timeline = otio.adapters.read_from_file(str(sample))
    timeline.metadata["Resolve_OTIO"] = {"Resolution Width": 200, "Resolution Height": 112}
    tiny = sample.with_name("demo_tiny.otio")
    otio.adapters.write_to_file(timeline, str(tiny))
    time = FakeTime()
    fake = FakeHeyGen(httpserver, clock=time.clock)
    with pytest.raises(MediaError, match="at least 256x120") as info:
        render_timeline(tiny, tmp_path / "out" / "x.otio", RenderOptions(backend="heygen", media_format="dnxhr"),
                        env=env_for(fake, tmp_path / "a.sqlite"), sleep=time.sleep, clock=time.clock)
    assert info.value.exit_code == 2
    assert fake.upload_requests == 0 and fake.create_requests == 0
