"""Markers -> sections (otio_heygen.sections.markers): every dialect fixture, selection, directives, validation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import opentimelineio as otio
import pytest

from otio_heygen.errors import NoSectionsError, SectionError
from otio_heygen.read.timeline import read_timeline
from otio_heygen.sections.collect import collect_markers
from otio_heygen.sections.directives import DIRECTIVE_KEYS, parse_directives, unknown_directive_keys
from otio_heygen.sections.markers import MarkerSelection, find_sections

FIXTURES = Path(__file__).parent / "fixtures" / "dialects"
EXPECTED = sorted(FIXTURES.glob("*.expected.json"))
RT = otio.opentime.RationalTime
TR = otio.opentime.TimeRange


def _load(name: str) -> otio.schema.Timeline:
    return read_timeline(FIXTURES / name)


def _marker(
    name: str, start: float, dur: float, rate: float = 24.0, color: str = "RED", **md: Any
) -> otio.schema.Marker:
    m = otio.schema.Marker(name=name, marked_range=TR(RT(start, rate), RT(dur, rate)), color=color)
    for key, value in md.items():
        m.metadata[key] = value
    return m


def _timeline(length: int = 2400, rate: float = 24.0, start: int | None = None) -> otio.schema.Timeline:
    tl = otio.schema.Timeline(name="t", global_start_time=RT(start, rate) if start is not None else None)
    track = otio.schema.Track(name="Audio 1", kind=otio.schema.TrackKind.Audio)
    track.append(otio.schema.Clip(name="song.wav", source_range=TR(RT(0, rate), RT(length, rate))))
    tl.tracks.append(track)
    return tl


def _spans(scan: Any) -> list[tuple[str, int, int]]:
    return [(s.name, s.start_frame, s.end_frame) for s in scan.sections]


# ------------------------------------------------------------------------------------ every dialect


@pytest.mark.parametrize("expected_path", EXPECTED, ids=lambda p: p.name.split(".")[0])
def test_fixture_sections_match_hand_worked_frames(expected_path: Path) -> None:
    exp = json.loads(expected_path.read_text(encoding="utf-8"))
    scan = find_sections(_load(exp["file"]))
    got = [
        {"name": s.name, "slug": s.slug, "start_frame": s.start_frame, "end_frame": s.end_frame} for s in scan.sections
    ]
    assert got == exp["sections"]
    assert [s.index for s in scan.sections] == list(range(1, len(got) + 1))
    assert all(s.rate == exp["rate"] for s in scan.sections)
    for words in exp.get("warnings_contain", []):
        assert any(words in w for w in scan.warnings), (words, scan.warnings)
    if not exp.get("warnings_contain"):
        assert scan.warnings == ()


def test_section_text_directives_and_colors() -> None:
    scan = find_sections(_load("resolve_24.otio"))
    verse = scan.sections[0]
    assert verse.text == "image: looks/red.png\nmotion: nods to the beat"
    assert verse.directives == {"image": "looks/red.png", "motion": "nods to the beat"}
    assert verse.color == "GREEN" and verse.origin == "timeline"
    assert scan.sections[3].origin == "clip 'song.wav'"
    premiere = find_sections(_load("premiere_25.xml"))
    assert [s.color for s in premiere.sections] == ["Green", "Red", "Red", "Blue"]
    assert premiere.sections[1].directives == {"image": "red.png", "motion": "jumps"}


def test_collect_markers_reports_every_marker_with_origin() -> None:
    found, warnings = collect_markers(_load("resolve_24.otio"))
    assert [(m.name, m.start_frame, m.duration_frames, m.origin, m.track) for m in found] == [
        ("Verse 1", 48, 1, "timeline", None),
        ("Chorus", 240, 1, "timeline", None),
        ("Bridge", 480, 240, "timeline", None),
        ("Outro", 960, 192, "clip 'song.wav'", "Audio 1"),
    ]
    assert found[0].keywords == ("vocal",)
    assert len(warnings) == 1 and "Hidden" in warnings[0]


# ------------------------------------------------------------------------------------ directives


def test_parse_directives() -> None:
    text = "Sing it loud\r\nImage: C:/looks/red.png\nMOTION:  nods to the beat \nfoo: bar\nsee https://x.y/z\ntakes: 3"
    assert parse_directives(text) == {"image": "C:/looks/red.png", "motion": "nods to the beat", "takes": "3"}
    assert unknown_directive_keys(text) == ["foo"]  # the URL line is not a key
    assert parse_directives("image: a.png; motion: sways") == {"image": "a.png", "motion": "sways"}
    assert parse_directives("motion: left; then right") == {"motion": "left; then right"}
    assert parse_directives("skip: yes\nskip: no") == {"skip": "no"}
    assert parse_directives("") == {} and set(DIRECTIVE_KEYS) >= {"image", "aspect", "resolution"}


def test_unknown_directive_is_a_warning() -> None:
    tl = _timeline()
    tl.tracks.markers.append(_marker("A", 0, 100, Resolve_OTIO={"Note": "mood: happy\nmotion: jumps"}))
    scan = find_sections(tl)
    assert scan.sections[0].directives == {"motion": "jumps"}
    assert len(scan.warnings) == 1 and "'mood:'" in scan.warnings[0]


# ------------------------------------------------------------------------------------ selection


def test_select_by_color_uses_the_real_premiere_swatch() -> None:
    tl = _load("premiere_25.xml")
    assert _spans(find_sections(tl, MarkerSelection(colors=("green",)))) == [("Verse 1", 50, 1500)]
    red = find_sections(tl, MarkerSelection(colors=("RED",)))
    assert [s.name for s in red.sections] == ["Verse 2", "Solo"]  # not the green/blue ones OTIO calls RED
    with pytest.raises(NoSectionsError) as info:
        find_sections(tl, MarkerSelection(colors=("cyan",)))
    msg = str(info.value)
    assert "found 2 timeline markers (1 without duration), 2 clip markers (1 without duration)" in msg
    assert "none matched color cyan" in msg and "Green" in msg


def test_select_by_name_pattern_and_track() -> None:
    tl = _load("resolve_24.otio")
    assert [s.name for s in find_sections(tl, MarkerSelection(name_pattern="v*")).sections] == ["Verse 1"]
    assert [s.name for s in find_sections(tl, MarkerSelection(name_pattern="*O*")).sections] == ["Chorus", "Outro"]
    assert [s.name for s in find_sections(tl, MarkerSelection(tracks=("audio 1",))).sections] == ["Outro"]
    timeline_only = find_sections(tl, MarkerSelection(tracks=("timeline",)))
    assert [s.name for s in timeline_only.sections] == ["Verse 1", "Chorus", "Bridge"]
    # unnamed FCP7 XML tracks get Premiere-style names
    assert [s.name for s in find_sections(_load("premiere_25.xml"), MarkerSelection(tracks=("V1",))).sections] == [
        "Solo"
    ]


def test_generated_tracks_are_ignored() -> None:
    tl = _load("nested_retime_24.otio")
    names = [m.name for m in collect_markers(tl)[0]]
    assert "Generated" not in names and "Generated 2" not in names
    everything = [m.name for m in collect_markers(tl, generated_track_prefix="")[0]]
    assert "Generated" in everything and "Generated 2" not in everything  # metadata still marks it


# ------------------------------------------------------------------------------------ time placement


def test_marker_time_override_and_auto_relative() -> None:
    tl = _load("resolve_23976.otio")
    with pytest.raises(SectionError, match="after the end of the timeline"):
        find_sections(tl, MarkerSelection(marker_time="relative"))
    rel = _load("resolve_24.otio")
    assert _spans(find_sections(rel, MarkerSelection(marker_time="auto")))[0] == ("Verse 1", 48, 240)
    with pytest.raises(SectionError, match="before the timeline's first frame 01:00:00:00"):
        find_sections(rel, MarkerSelection(marker_time="absolute"))


def test_auto_stays_relative_when_markers_fit_the_timeline() -> None:
    tl = _timeline(length=200000, start=86400)  # long timeline: 86500 fits without subtracting
    tl.tracks.markers.append(_marker("Late", 86500, 100))
    scan = find_sections(tl)
    assert _spans(scan) == [("Late", 86500, 86600)] and scan.warnings == ()


def test_point_marker_ends_at_song_end_and_note_inside_a_range_is_ignored() -> None:
    tl = _timeline(length=2400)
    tl.tracks.markers.extend([_marker("Verse", 0, 480), _marker("note", 100, 0), _marker("Last", 2000, 1)])
    scan = find_sections(tl, song_end_frame=2200)
    assert _spans(scan) == [("Verse", 0, 480), ("Last", 2000, 2200)]
    assert any("note" in w and "inside" in w for w in scan.warnings)
    assert _spans(find_sections(tl))[-1] == ("Last", 2000, 2400)  # no song end: the timeline's end


def test_sub_frame_and_fractional_times_round_to_frames() -> None:
    tl = _timeline()
    tl.tracks.markers.append(_marker("Blip", 10.5, 0.0005))  # 1/48000 s: a start, snapped to frame 11
    tl.tracks.markers.append(_marker("Range", 100.4, 47.9))  # 100.4..148.3 -> 100..148
    tl.tracks.markers.append(_marker("Audio", 48000 * 10, 48000, rate=48000))  # 10 s at 48 kHz -> 240..264
    assert _spans(find_sections(tl)) == [("Blip", 11, 100), ("Range", 100, 148), ("Audio", 240, 264)]


def test_clip_markers_go_through_the_clip_position_and_trim() -> None:
    tl = _timeline()
    track = otio.schema.Track(name="V1")
    track.append(otio.schema.Gap(source_range=TR(RT(0, 24), RT(100, 24))))
    clip = otio.schema.Clip(name="shot", source_range=TR(RT(1000, 24), RT(200, 24)))  # timeline 100..300
    clip.markers.append(_marker("Straddle", 950, 100))  # source 950..1050 -> visible 1000..1050 -> 100..150
    clip.markers.append(_marker("Tail", 1150, 100))  # 1150..1250 -> visible ..1200 -> 250..300
    clip.markers.append(_marker("Point", 1120, 0))  # -> 220, ends at the next marker (250)
    clip.markers.append(_marker("Last", 1199, 0))  # last visible frame: kept (inside Tail: a note)
    clip.markers.append(_marker("After", 1200, 0))  # just past the end: ignored
    track.append(clip)
    tl.tracks.append(track)
    scan = find_sections(tl, song_end_frame=400)
    assert _spans(scan) == [("Straddle", 100, 150), ("Point", 220, 250), ("Tail", 250, 300)]
    found = {m.name: (m.start_frame, m.duration_frames) for m in scan.markers}
    assert found == {"Straddle": (100, 50), "Tail": (250, 50), "Point": (220, 0), "Last": (299, 0)}
    assert any("'After'" in w for w in scan.warnings)


def test_transitions_take_no_time_and_stacks_nest() -> None:
    tl = _timeline()
    track = otio.schema.Track(name="V1")
    track.append(otio.schema.Clip(name="a", source_range=TR(RT(0, 24), RT(100, 24))))
    track.append(otio.schema.Transition(in_offset=RT(10, 24), out_offset=RT(10, 24)))
    outer = otio.schema.Stack(name="outer", source_range=TR(RT(10, 24), RT(200, 24)))  # timeline 100..300
    inner_track = otio.schema.Track(name="in")
    inner = otio.schema.Stack(name="inner", source_range=TR(RT(5, 24), RT(300, 24)))  # outer 0..300
    deep_track = otio.schema.Track(name="deep")
    deep = otio.schema.Clip(name="deep", source_range=TR(RT(0, 24), RT(400, 24)))
    deep.markers.append(_marker("Deep", 50, 20))  # inner 50 -> outer 45 -> timeline 100 + 35 = 135
    deep_track.append(deep)
    inner.append(deep_track)
    inner_track.append(inner)
    outer.append(inner_track)
    track.append(outer)
    tl.tracks.append(track)
    assert _spans(find_sections(tl)) == [("Deep", 135, 155)]


@pytest.mark.parametrize(
    ("effect", "words"),
    [(otio.schema.FreezeFrame(), "freeze frame"), (otio.schema.TimeEffect(name="curve"), "speed effect")],
)
def test_unmappable_retimes_are_refused(effect: Any, words: str) -> None:
    tl = _timeline()
    track = otio.schema.Track(name="V1")
    clip = otio.schema.Clip(name="held", source_range=TR(RT(0, 24), RT(100, 24)))
    clip.effects.append(effect)
    track.append(clip)
    tl.tracks.append(track)
    tl.tracks.markers.append(_marker("Ok", 0, 50))
    assert _spans(find_sections(tl)) == [("Ok", 0, 50)]  # no markers on the retimed clip: fine
    clip.markers.append(_marker("On it", 10, 10))
    with pytest.raises(SectionError, match=f"clip 'held'.*{words}"):
        find_sections(tl)


def test_clip_without_any_length() -> None:
    tl = _timeline()
    track = otio.schema.Track(name="V1")
    track.append(otio.schema.Clip(name="lost"))  # no source range, missing media: no length
    track.append(otio.schema.Clip(name="next", source_range=TR(RT(0, 24), RT(100, 24))))
    track[1].markers.append(_marker("Next", 10, 20))
    tl.tracks.append(track)
    scan = find_sections(tl)
    assert _spans(scan) == [("Next", 10, 30)] and any("'lost'" in w for w in scan.warnings)
    track[0].markers.append(_marker("On lost", 0, 10))
    with pytest.raises(SectionError, match="'lost'"):
        find_sections(tl)


def test_reverse_time_warp() -> None:
    tl = _timeline()
    track = otio.schema.Track(name="V1")
    clip = otio.schema.Clip(name="rev", source_range=TR(RT(1000, 24), RT(100, 24)))
    clip.effects.append(otio.schema.LinearTimeWarp(time_scalar=-1.0))  # media 1000 down to 900
    clip.markers.append(_marker("Back", 950, 10))  # media 950..960 -> 50..40 into the clip
    track.append(clip)
    tl.tracks.append(track)
    assert _spans(find_sections(tl)) == [("Back", 40, 50)]


def test_edl_locator_without_global_start_uses_the_hour() -> None:
    tl = _timeline(length=1000)
    clip = tl.tracks[0][0]
    clip.markers.append(_marker("Loc", 86400 + 240, 0, cmx_3600={"color": "RED"}))  # record 01:00:10:00
    assert _spans(find_sections(tl)) == [("Loc", 240, 1000)]
    tl.global_start_time = RT(86400 - 48, 24)  # record start known: 240 + 48
    assert _spans(find_sections(tl))[0][1] == 288


# ------------------------------------------------------------------------------------ validation


def test_overlapping_sections_are_an_error() -> None:
    tl = _timeline()
    tl.tracks.markers.extend([_marker("Verse", 0, 480), _marker("Chorus", 400, 200)])
    with pytest.raises(SectionError, match=r"'Chorus'.*overlaps section 'Verse'"):
        find_sections(tl)


def test_too_long_is_an_error_and_the_limit_is_exact() -> None:
    rate = 24000 / 1001
    tl = _timeline(length=20000, rate=rate)
    tl.tracks.markers.append(_marker("Long", 0, 14385, rate))  # 599.97 s: fine
    assert find_sections(tl).sections[0].seconds <= 600.0
    tl.tracks.markers[0].marked_range = TR(RT(0, rate), RT(14386, rate))  # 600.01 s: too long
    with pytest.raises(SectionError, match="more than the 600 s limit"):
        find_sections(tl)
    with pytest.raises(SectionError, match="5 s limit"):
        find_sections(tl, max_seconds=5)


def test_outside_the_song() -> None:
    tl = _timeline(length=2400)
    tl.tracks.markers.extend([_marker("A", 0, 100), _marker("B", 1000, 200)])
    with pytest.raises(SectionError, match=r"'B'.*after the end of the song"):
        find_sections(tl, song_end_frame=900)
    scan = find_sections(tl, song_end_frame=1100)  # B runs past the end: cut, with a warning
    assert _spans(scan)[-1] == ("B", 1000, 1100) and any("past the end" in w for w in scan.warnings)


def test_zero_length_section_is_an_error() -> None:
    tl = _timeline(length=2400)
    tl.tracks.markers.append(_marker("Flat", 300, 0))
    with pytest.raises(SectionError, match="'Flat'"):
        find_sections(tl, song_end_frame=300)
    empty = otio.schema.Timeline()
    empty.tracks.markers.append(_marker("Alone", 0, 0))
    with pytest.raises(SectionError, match="no end"):
        find_sections(empty)


def test_no_markers_says_what_was_found_and_how_to_mark() -> None:
    with pytest.raises(NoSectionsError) as info:
        find_sections(_timeline())
    msg = str(info.value)
    assert "no section markers in 't'" in msg and "found no markers" in msg and "Duration" in msg
    assert info.value.exit_code == 2


def test_duplicate_names_get_unique_slugs_and_names_fall_back() -> None:
    tl = _timeline()
    tl.tracks.markers.extend(
        [
            _marker("Chorus", 0, 100),
            _marker("Chorus", 100, 100),
            _marker("Chorus_2", 200, 100),
            _marker("", 300, 100),
            _marker("  ", 400, 100, Resolve_OTIO={"Note": "image: x.png\nBig finish"}),
        ]
    )
    scan = find_sections(tl)
    assert [s.slug for s in scan.sections] == ["Chorus", "Chorus_2", "Chorus_2_2", "Section_4", "Big_finish"]
    assert [s.name for s in scan.sections][3:] == ["Section 4", "Big finish"]


def test_identical_markers_on_linked_clips_count_once() -> None:
    scan = find_sections(_load("edl_2997df.edl"))
    assert len(scan.markers) == 12 and len(scan.sections) == 4  # V, A1, A2 each carry the 4 locators


# ------------------------------------------------------------------------------------ FCPXML structure


def _f(n: int) -> str:
    return f"{n * 1001}/30000s"  # n frames at 29.97


FCPXML_LANES = f"""<?xml version="1.0" encoding="UTF-8"?>
<fcpxml version="1.9">
  <resources>
    <format id="r1" frameDuration="1001/30000s" width="1920" height="1080"/>
    <asset id="r2" name="a" start="0s" duration="{_f(9000)}" hasVideo="1" format="r1" src="file:///m/a.mov"/>
  </resources>
  <project name="lanes">
    <sequence format="r1" tcStart="{_f(107892)}" duration="{_f(700)}">
      <spine>
        <asset-clip ref="r2" offset="{_f(107892)}" start="{_f(1000)}" duration="{_f(500)}" name="A">
          <asset-clip ref="r2" lane="1" offset="{_f(1100)}" start="0s" duration="{_f(50)}" name="C">
            <marker start="{_f(10)}" duration="{_f(20)}" value="Connected"/>
          </asset-clip>
          <spine lane="-1" offset="{_f(1200)}">
            <asset-clip ref="r2" offset="0s" start="0s" duration="{_f(30)}" name="D"/>
            <asset-clip ref="r2" offset="{_f(30)}" start="{_f(500)}" duration="{_f(40)}" name="E">
              <marker start="{_f(510)}" duration="{_f(10)}" value="Storyline"/>
            </asset-clip>
          </spine>
        </asset-clip>
        <clip offset="{_f(107892 + 500)}" start="0s" duration="{_f(100)}" name="Wrapped">
          <video ref="r2" offset="0s" start="{_f(2000)}" duration="{_f(100)}">
            <marker start="{_f(2010)}" duration="{_f(5)}" value="Anchored"/>
          </video>
        </clip>
        <gap offset="{_f(107892 + 600)}" start="{_f(3600)}" duration="{_f(100)}">
          <chapter-marker start="{_f(3650)}" duration="{_f(1)}" value="Gap chapter"/>
        </gap>
      </spine>
    </sequence>
  </project>
</fcpxml>"""


def test_fcpxml_connected_clips_storylines_anchored_and_gap_markers(tmp_path: Path) -> None:
    path = tmp_path / "lanes.fcpxml"
    path.write_text(FCPXML_LANES, encoding="utf-8")
    tl = read_timeline(path)
    assert tl.global_start_time == RT(107892, 30000 / 1001)
    # C: A's local 1100 -> 100 on the timeline, marker 10 in -> 110..130
    # E: storyline at A's local 1200 (-> 200), E 30 into it, marker 10 into E -> 240..250
    # Anchored: inner video local 2010 -> 10 into "Wrapped" at 500 -> 510..515
    # Gap chapter marker: 50 into the gap at 600 -> 650, 1 frame: a start running to the end (700)
    assert _spans(find_sections(tl)) == [
        ("Connected", 110, 130),
        ("Storyline", 240, 250),
        ("Anchored", 510, 515),
        ("Gap chapter", 650, 700),
    ]
    tracks = {m.track for m in collect_markers(tl)[0]}
    assert tracks == {"Primary", "Lane 1", "Lane -1"}
