"""Tests for otio_heygen.output.conform: layout of the generated tracks on a copy of the timeline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import opentimelineio as otio
import pytest

from otio_heygen.output.conform import GENERATED_KEY, conform, is_generated_track, json_safe, timeline_rate
from otio_heygen.planning.types import ClipResult, Job, SectionSettings
from otio_heygen.sections.model import Section
from tests.support.builders import make_section

RT = otio.opentime.RationalTime
TR = otio.opentime.TimeRange

RATES = {
    "23.976": 24000 / 1001,
    "24": 24.0,
    "25": 25.0,
    "29.97": 30000 / 1001,
}


def frames(t: otio.opentime.RationalTime, rate: float) -> int:
    """Whole frames of ``t`` at ``rate``; fails when ``t`` is not a whole frame there."""
    value: float = t.value_rescaled_to(rate)
    assert abs(value - round(value)) < 1e-6, (t, rate)
    return round(value)


def build_input_timeline(rate: float, *, song_url: str = "file:///media/song.wav") -> otio.schema.Timeline:
    """A Resolve-like timeline: 01:00:00:00 start, a picture track, a song track, markers, metadata."""
    tl = otio.schema.Timeline(name="Music video", global_start_time=RT.from_timecode("01:00:00:00", rate))
    tl.metadata["Resolve_OTIO"] = {"Resolve OTIO Meta Version": "1.0", "Width": 1920, "Height": 1080}
    v1 = otio.schema.Track(name="Video 1", kind=otio.schema.TrackKind.Video)
    v1.metadata["Resolve_OTIO"] = {"Locked": False}
    broll = otio.schema.ExternalReference(
        target_url="file:///media/broll.mov", available_range=TR(RT(0, rate), RT(2000, rate))
    )
    clip = otio.schema.Clip(name="broll.mov", media_reference=broll, source_range=TR(RT(100, rate), RT(400, rate)))
    clip.markers.append(otio.schema.Marker(name="note", marked_range=TR(RT(120, rate), RT(1, rate)), color="BLUE"))
    clip.metadata["Resolve_OTIO"] = {"Effects": {"Opacity": 50}}
    v1.append(otio.schema.Gap(duration=RT(24, rate)))
    v1.append(clip)
    a1 = otio.schema.Track(name="Audio 1", kind=otio.schema.TrackKind.Audio)
    song = otio.schema.ExternalReference(target_url=song_url, available_range=TR(RT(0, rate), RT(3000, rate)))
    a1.append(otio.schema.Clip(name="song.wav", media_reference=song, source_range=TR(RT(0, rate), RT(3000, rate))))
    tl.tracks.append(v1)
    tl.tracks.append(a1)
    tl.tracks.markers.append(
        otio.schema.Marker(name="Verse", marked_range=TR(RT(48, rate), RT(96, rate)), color="GREEN")
    )
    tl.tracks.markers.append(
        otio.schema.Marker(name="Chorus 1", marked_range=TR(RT(200, rate), RT(150, rate)), color="YELLOW")
    )
    return tl


def make_result(
    section: Section,
    media_path: Path,
    *,
    take: int = 1,
    handles: int = 0,
    media_frames: int | None = None,
    sync_offset_ms: float | None = None,
    provenance: dict[str, Any] | None = None,
) -> ClipResult:
    settings = SectionSettings(image=Path("/photos/singer.png"), motion_prompt="nods to the beat")
    job = Job(section=section, take=take, settings=settings, handles_frames=handles, key=f"key-{section.slug}-{take}")
    if media_frames is None:
        media_frames = job.audio_end_frame - job.audio_start_frame
    return ClipResult(
        job=job,
        media_path=media_path,
        media_duration_frames=media_frames,
        provenance=provenance if provenance is not None else {"video_id": f"vid-{section.slug}", "cost": 1.5},
        sync_offset_ms=sync_offset_ms,
    )


def url_for(path: Path) -> str:
    return path.as_uri()


def generated(tl: otio.schema.Timeline) -> list[otio.schema.Track]:
    return [t for t in tl.tracks if is_generated_track(t)]


def others(tl: otio.schema.Timeline) -> list[Any]:
    return [t for t in tl.tracks if not is_generated_track(t)]


def clips(track: otio.schema.Track) -> list[otio.schema.Clip]:
    return [i for i in track if isinstance(i, otio.schema.Clip)]


MEDIA = Path("/out/video_media")


@pytest.mark.parametrize("rate_name", list(RATES))
def test_clips_land_on_their_section_frames_at_the_timeline_rate(rate_name: str) -> None:
    rate = RATES[rate_name]
    tl = build_input_timeline(rate)
    secs = [make_section(1, "Verse", 48, 144, rate, "GREEN"), make_section(2, "Chorus 1", 200, 350, rate, "YELLOW")]
    results = [make_result(s, MEDIA / f"{s.index:02d}_{s.slug}_take1.mp4") for s in secs]
    out = conform(tl, results, url_for=url_for, created_at="2026-01-01T00:00:00+00:00")

    assert out.global_start_time == tl.global_start_time
    gen = generated(out)
    assert [t.name for t in gen] == ["Avatar IV"]
    track = gen[0]
    assert out.tracks[len(out.tracks) - 1].name == "Avatar IV"  # top-most layer
    assert track.kind == otio.schema.TrackKind.Video and track.enabled
    assert track.metadata["Resolve_OTIO"] == {"Locked": False}
    assert [type(i).__name__ for i in track] == ["Gap", "Clip", "Gap", "Clip"]
    for item in track:
        assert item.duration().rate == rate  # exactly the timeline's rate object, never rescaled
    for sec, clip in zip(secs, clips(track), strict=True):
        rng = clip.range_in_parent()
        assert (frames(rng.start_time, rate), frames(rng.end_time_exclusive(), rate)) == (
            sec.start_frame,
            sec.end_frame,
        )
        assert clip.name == sec.name
        ref = clip.media_reference
        assert ref.target_url == (MEDIA / f"{sec.index:02d}_{sec.slug}_take1.mp4").as_uri()
        assert ref.name == f"{sec.index:02d}_{sec.slug}_take1.mp4"
        assert frames(ref.available_range.duration, rate) == sec.duration_frames
        [marker] = clip.markers
        assert (marker.name, marker.color) == (sec.name, sec.color)
        assert marker.marked_range == clip.source_range


def test_everything_else_is_left_as_it_was() -> None:
    rate = RATES["23.976"]
    tl = build_input_timeline(rate)
    before = tl.deepcopy()
    results = [make_result(make_section(1, "Verse", 48, 144, rate), MEDIA / "01_Verse_take1.mp4")]
    out = conform(tl, results, url_for=url_for)
    assert tl.is_equivalent_to(before)  # input not mutated
    assert len(others(out)) == len(tl.tracks)
    for got, want in zip(others(out), tl.tracks, strict=True):
        assert got.is_equivalent_to(want)
    assert len(out.tracks.markers) == len(tl.tracks.markers)
    assert all(a.is_equivalent_to(b) for a, b in zip(out.tracks.markers, tl.tracks.markers, strict=True))
    assert out.metadata == tl.metadata
    assert out.name == tl.name
    assert out.global_start_time == tl.global_start_time


def test_running_twice_replaces_instead_of_stacking() -> None:
    rate = 25.0
    tl = build_input_timeline(rate)
    sec = make_section(1, "Verse", 48, 144, rate)
    first = conform(tl, [make_result(sec, MEDIA / "01_Verse_take1.mp4")], url_for=url_for, created_at="t1")
    sec2 = make_section(1, "Verse", 50, 100, rate)
    second = conform(first, [make_result(sec2, MEDIA / "01_Verse_take1.mp4")], url_for=url_for, created_at="t2")
    gen = generated(second)
    assert [t.name for t in gen] == ["Avatar IV"]
    [clip] = clips(gen[0])
    assert frames(clip.range_in_parent().start_time, rate) == 50
    assert len(second.tracks) == len(tl.tracks) + 1
    again = conform(first, [make_result(sec, MEDIA / "01_Verse_take1.mp4")], url_for=url_for, created_at="t1")
    assert again.is_equivalent_to(first)
    # An empty result list removes the tool's tracks and leaves the rest.
    cleared = conform(first, [], url_for=url_for)
    assert cleared.is_equivalent_to(tl)


def test_takes_go_to_disabled_take_tracks() -> None:
    rate = 24.0
    tl = build_input_timeline(rate)
    verse = make_section(1, "Verse", 48, 144, rate)
    chorus = make_section(2, "Chorus 1", 200, 350, rate)
    results = [
        make_result(verse, MEDIA / "01_Verse_take1.mp4", take=1),
        make_result(verse, MEDIA / "01_Verse_take2.mp4", take=2),
        make_result(verse, MEDIA / "01_Verse_take3.mp4", take=3),
        make_result(chorus, MEDIA / "02_Chorus_1_take1.mp4", take=1),
        make_result(chorus, MEDIA / "02_Chorus_1_take2.mp4", take=2),
    ]
    out = conform(tl, results, url_for=url_for)
    gen = generated(out)
    assert [(t.name, t.enabled) for t in gen] == [
        ("Avatar IV", True),
        ("Avatar IV take 2", False),
        ("Avatar IV take 3", False),
    ]
    assert [c.media_reference.name for c in clips(gen[1])] == ["01_Verse_take2.mp4", "02_Chorus_1_take2.mp4"]
    assert [c.metadata[GENERATED_KEY]["take"] for c in clips(gen[2])] == [3]
    for track in gen:
        for clip in clips(track):
            sec = verse if clip.name == "Verse" else chorus
            rng = clip.range_in_parent()
            assert (frames(rng.start_time, rate), frames(rng.duration, rate)) == (
                sec.start_frame,
                sec.duration_frames,
            )


def test_handles_are_in_the_media_and_trimmed_off() -> None:
    rate = 30000 / 1001
    tl = build_input_timeline(rate)
    early = make_section(1, "Intro", 5, 60, rate)  # handles clamp at the first frame
    later = make_section(2, "Verse", 100, 190, rate)
    results = [
        make_result(early, MEDIA / "01_Intro_take1.mp4", handles=12),
        make_result(later, MEDIA / "02_Verse_take1.mp4", handles=12),
    ]
    out = conform(tl, results, url_for=url_for)
    first, second = clips(generated(out)[0])
    assert frames(first.source_range.start_time, rate) == 5  # audio starts at frame 0
    assert frames(first.available_range().duration, rate) == 5 + 55 + 12
    assert frames(second.source_range.start_time, rate) == 12
    assert frames(second.available_range().duration, rate) == 12 + 90 + 12
    for clip, sec in ((first, early), (second, later)):
        rng = clip.range_in_parent()
        assert frames(rng.start_time, rate) == sec.start_frame
        assert frames(rng.duration, rate) == sec.duration_frames
        assert clip.available_range().contains(clip.source_range)


def test_overlapping_sections_spill_to_another_track() -> None:
    rate = 25.0
    tl = build_input_timeline(rate)
    a = make_section(1, "A", 0, 100, rate)
    b = make_section(2, "B", 50, 150, rate)
    c = make_section(3, "C", 100, 200, rate)
    results = [make_result(s, MEDIA / f"{s.index:02d}_{s.slug}_take1.mp4") for s in (a, b, c)]
    out = conform(tl, results, url_for=url_for)
    gen = generated(out)
    assert [t.name for t in gen] == ["Avatar IV", "Avatar IV (2)"]
    assert [c.name for c in clips(gen[0])] == ["A", "C"]
    assert [c.name for c in clips(gen[1])] == ["B"]
    for track in gen:
        spans = [(frames(c.range_in_parent().start_time, rate), c.name) for c in clips(track)]
        want = {"A": 0, "B": 50, "C": 100}
        assert all(start == want[name] for start, name in spans)


@pytest.mark.parametrize(
    ("offset_ms", "fix", "expect_marker", "expect_shift"),
    [
        (None, False, False, 0),
        (0.0, True, False, 0),
        (30.0, True, False, 0),  # 0.75 frame at 25 fps: within tolerance
        (-200.0, False, True, 0),
        (200.0, True, True, 5),
        (-120.0, True, True, -3),
    ],
)
def test_sync_marker_and_fix(offset_ms: float | None, fix: bool, expect_marker: bool, expect_shift: int) -> None:
    rate = 25.0
    tl = build_input_timeline(rate)
    sec = make_section(1, "Verse", 100, 200, rate)
    result = make_result(sec, MEDIA / "01_Verse_take1.mp4", handles=10, sync_offset_ms=offset_ms)
    out = conform(tl, [result], url_for=url_for, fix_sync=fix)
    [clip] = clips(generated(out)[0])
    red = [m for m in clip.markers if m.color == otio.schema.MarkerColor.RED]
    assert bool(red) == expect_marker
    if expect_marker:
        assert offset_ms is not None
        assert red[0].name.startswith(f"sync {offset_ms:+.0f}ms ({offset_ms * rate / 1000:.1f} frames)")
    assert frames(clip.source_range.start_time, rate) == 10 + expect_shift
    assert frames(clip.range_in_parent().start_time, rate) == 100  # placement never moves
    assert clip.metadata[GENERATED_KEY]["sync_offset_ms"] == offset_ms
    assert clip.metadata[GENERATED_KEY]["sync_shift_frames"] == expect_shift


def test_fix_sync_never_leaves_the_media() -> None:
    rate = 25.0
    sec = make_section(1, "Verse", 100, 200, rate)
    result = make_result(sec, MEDIA / "01_Verse_take1.mp4", handles=0, sync_offset_ms=-400.0)
    out = conform(build_input_timeline(rate), [result], url_for=url_for, fix_sync=True)
    [clip] = clips(generated(out)[0])
    assert frames(clip.source_range.start_time, rate) == 0


def test_provenance_is_complete_and_json_serialisable() -> None:
    rate = 24.0
    sec = make_section(3, "Chorus 1", 200, 350, rate, "YELLOW")
    prov = {"video_id": "v123", "cost": 2.25, "photo_sha256": "abc", "weird": Path("/x/y")}
    result = make_result(sec, MEDIA / "03_Chorus_1_take1.mp4", sync_offset_ms=12.5, provenance=prov)
    out = conform(build_input_timeline(rate), [result], url_for=url_for, created_at="2026-11-27T10:00:00+00:00")
    [clip] = clips(generated(out)[0])
    meta = json.loads(json.dumps(dict(clip.metadata[GENERATED_KEY]), default=lambda o: dict(o)))
    assert meta["job_key"] == "key-Chorus_1-1"
    assert meta["video_id"] == "v123"
    assert meta["section"]["name"] == "Chorus 1" and meta["section"]["index"] == 3
    assert meta["photo"] == "/photos/singer.png"
    assert meta["motion_prompt"] == "nods to the beat"
    assert meta["settings"]["resolution"] == "1080p"
    assert meta["cost_usd"] == 2.25
    assert meta["sync_offset_ms"] == 12.5
    assert meta["created_at"] == "2026-11-27T10:00:00+00:00"
    assert meta["weird"] == "/x/y"
    # The whole timeline serialises.
    otio.adapters.write_to_string(out, "otio_json")


def test_default_marker_color_and_track_name() -> None:
    rate = 24.0
    sec = make_section(1, "Verse", 10, 20, rate)
    out = conform(
        build_input_timeline(rate), [make_result(sec, MEDIA / "01_Verse_take1.mp4")], url_for=url_for, track_name="AI"
    )
    [track] = generated(out)
    assert track.name == "AI"
    assert clips(track)[0].markers[0].color == otio.schema.MarkerColor.GREEN


def test_near_identical_ntsc_rate_uses_the_timeline_rate_object() -> None:
    tl = build_input_timeline(24000 / 1001)
    sec = make_section(1, "Verse", 1440, 2880, 23.976)
    out = conform(tl, [make_result(sec, MEDIA / "01_Verse_take1.mp4")], url_for=url_for)
    [clip] = clips(generated(out)[0])
    assert clip.range_in_parent().start_time.rate == 24000 / 1001
    assert frames(clip.range_in_parent().start_time, 24000 / 1001) == 1440
    assert timeline_rate(otio.schema.Timeline(), 25.0) == 25.0


def test_is_generated_track_without_track_metadata() -> None:
    """Tracks read back from FCP7 XML lose their metadata; the media names still identify them."""
    rate = 25.0
    for url in (
        "file://localhost/out/my%20video_media/01_Verse_take1.mp4",  # FCP7 XML
        "/Users/me/out/video_media/01_Verse_take1.mp4",  # Resolve writes plain paths
        "D:\\Edit\\video_media\\12_Chorus_1_take2.mp4",
        "video_media/01_Verse_take1.mp4",  # --relative-paths
    ):
        ref = otio.schema.ExternalReference(target_url=url)
        track = otio.schema.Track()
        track.append(otio.schema.Gap(duration=RT(10, rate)))
        track.append(otio.schema.Clip(name="Verse", media_reference=ref, source_range=TR(RT(0, rate), RT(5, rate))))
        assert is_generated_track(track), url
        track.kind = otio.schema.TrackKind.Audio
        assert not is_generated_track(track)
    user = otio.schema.Track()
    user.append(
        otio.schema.Clip(
            name="x",
            media_reference=otio.schema.ExternalReference(target_url="file:///m/01_Verse_take1.mp4"),
            source_range=TR(RT(0, rate), RT(5, rate)),
        )
    )
    assert not is_generated_track(user)  # not in a *_media folder
    assert not is_generated_track(otio.schema.Track())
    assert not is_generated_track(otio.schema.Stack())
    for t in build_input_timeline(rate).tracks:
        assert not is_generated_track(t)


def test_json_safe() -> None:
    assert json_safe({"a": Path("/p"), "b": (1, 2), "c": float("nan"), 3: None}) == {
        "a": "/p",
        "b": [1, 2],
        "c": None,
        "3": None,
    }


def test_short_media_is_recorded_but_placement_stays_exact() -> None:
    rate = 25.0
    sec = make_section(1, "Verse", 100, 200, rate)
    result = make_result(sec, MEDIA / "01_Verse_take1.mp4", handles=0, media_frames=97)
    out = conform(build_input_timeline(rate), [result], url_for=url_for)
    [clip] = clips(generated(out)[0])
    assert frames(clip.range_in_parent().duration, rate) == 100
    assert frames(clip.media_reference.available_range.duration, rate) == 97
    assert clip.metadata[GENERATED_KEY]["media_short_frames"] == 3
