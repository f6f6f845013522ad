"""Real exports from Resolve, Premiere, Final Cut, Kdenlive, Avid and others (``tests/fixtures/real``).

For every file: ``read_timeline`` raises nothing but an ``InputError``; ``find_sections`` finds the sections
wherever the file has markers, at frames worked out here from the file's own text (XML, EDL, JSON, Avid's
marker list) without otio-heygen, or raises ``NoSectionsError`` saying what was found and how to mark
sections; and ``otio-heygen plan FILE --json`` exits 0 or 2 without a traceback. Sources and licenses:
``tests/fixtures/real/SOURCES.md``.
"""

from __future__ import annotations

import gzip
import itertools
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import opentimelineio as otio
import pytest

from otio_heygen.cli.main import main
from otio_heygen.errors import AdapterMissingError, InputError, NoSectionsError, TimelineFormatError
from otio_heygen.read.timeline import read_timeline
from otio_heygen.sections.collect import collect_markers
from otio_heygen.sections.markers import SectionScan, find_sections

REAL = Path(__file__).resolve().parent / "fixtures" / "real"
RT = otio.opentime.RationalTime
TR = otio.opentime.TimeRange


def _aaf_available() -> bool:
    try:
        otio.adapters.from_name("AAF")
    except Exception:
        return False
    return True


AAF = _aaf_available()


def _all_files() -> list[str]:
    return sorted(
        str(p.relative_to(REAL)) for p in REAL.rglob("*") if p.is_file() and p.suffix not in (".md", ".txt", ".json")
    )


@pytest.fixture(scope="module")
def unpacked(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every real file under its original name (``.gz`` unpacked) in one temporary folder tree."""
    root = tmp_path_factory.mktemp("real")
    for rel in _all_files():
        src = REAL / rel
        dst = root / (rel[:-3] if rel.endswith(".gz") else rel)
        dst.parent.mkdir(parents=True, exist_ok=True)
        data = src.read_bytes()
        dst.write_bytes(gzip.decompress(data) if rel.endswith(".gz") else data)
    return root


def _path(root: Path, rel: str) -> Path:
    return root / (rel[:-3] if rel.endswith(".gz") else rel)


# ------------------------------------------------------------------------------ independent expectations


def _tc(text: str, rate: int) -> int:
    hh, mm, ss, ff = (int(p) for p in re.split(r"[:;]", text))
    return ((hh * 60 + mm) * 60 + ss) * rate + ff


def _edl_locators(text: str, rate: int) -> set[int]:
    """LOC record timecodes counted from the first event's record-in."""
    events = re.findall(r"^\d{3}\s+\S+\s+\S+\s+\S+\s+\S+\s+\S+\s+(\S+)\s+\S+\s*$", text, re.M)
    first = _tc(events[0], rate)
    return {_tc(tc, rate) - first for tc in re.findall(r"^\* LOC: (\S+)", text, re.M)}


def _fcp7_markers(text: str) -> set[int]:
    """Sequence markers at their ``in``; clip markers (and markers of a clip's nested sequence) at
    clip start + (marker in - clip in), when inside the clip's in..out."""
    seq = ET.fromstring(text).find("sequence")
    assert seq is not None
    frames = {int(m.findtext("in", "")) for m in seq.findall("marker")}
    for clip in seq.findall("media/video/track/clipitem") + seq.findall("media/audio/track/clipitem"):
        start, cin, cout = (int(clip.findtext(k, "")) for k in ("start", "in", "out"))
        for m in clip.findall("marker") + clip.findall("sequence/marker"):
            at = int(m.findtext("in", ""))
            if cin <= at < cout and start >= 0:
                frames.add(start + at - cin)
    return frames


def _otio_json_markers(data: dict[str, Any]) -> set[int]:
    """Stack markers at their start; clip markers at the clip's place + (start - source start), when
    inside the clip (flat timelines: top-level tracks of clips, gaps and transitions)."""
    stack = data["tracks"]
    frames = {round(m["marked_range"]["start_time"]["value"]) for m in stack["markers"]}
    for track in stack["children"]:
        pos = 0.0
        for item in track["children"]:
            if item["OTIO_SCHEMA"].startswith("Transition"):
                continue
            src = item["source_range"]
            s0, dur = src["start_time"]["value"], src["duration"]["value"]
            for m in item.get("markers", []):
                at = m["marked_range"]["start_time"]["value"]
                if s0 <= at < s0 + dur:
                    frames.add(round(pos + at - s0))
            pos += dur
    return frames


_DAWFILEKIT_RATES = {"fps23_976": (24, False), "fps24": (24, False), "fps29_97d": (30, True)}


def _dawfilekit_markers(rel: str) -> set[int]:
    """Final Cut's own marker list for the file, as recorded in DAWFileKit's tests (timecode with 80
    subframes, at the project rate, absolute): visible markers, made relative to the sequence's tcStart
    and rounded to the nearest frame."""
    entry = json.loads((REAL / "fcpx/dawfilekit_markers.json").read_text("utf-8"))[rel]
    nominal, drop = _DAWFILEKIT_RATES[entry["frame_rate"]]
    seq = ET.fromstring((REAL / rel).read_text("utf-8")).find(".//project/sequence")
    assert seq is not None
    tc_start = Fraction(seq.get("tcStart", "0s").rstrip("s"))
    assert tc_start == 0 or entry["frame_rate"] == "fps24"  # whole-second start: frames = seconds * rate
    frames: set[int] = set()
    for tc, name, visible in entry["markers"]:
        if rel == "fcpx/23.98.fcpxml" and name == "Shot_02":
            continue  # on the audition's alternate pick: "hidden in main timeline" (DAWFileKit's comment)
        if not visible:
            continue
        hh, mm, ss, rest = re.split(r"[:;]", tc)
        ff, sub = (int(x) for x in rest.split("."))
        minutes = int(hh) * 60 + int(mm)
        frame = (minutes * 60 + int(ss)) * nominal + ff
        if drop:
            frame -= 2 * (minutes - minutes // 10)
        frames.add(int(frame + Fraction(sub, 80) - tc_start * nominal + Fraction(1, 2)))
    return frames


def _avid_marker_list(text: str) -> set[int]:
    """Media Composer's exported marker list: column 2 is the sequence frame."""
    return {int(line.split("\t")[1]) for line in text.splitlines() if line.strip()}


# fcpx_project.fcpxml, worked out by hand (30 fps: frameDuration 100/3000s, tcStart 0s):
#   Marker 1: clip IMG_0715 offset 0s, marker start 6s                           -> 6 s       -> 180
#   Marker 5: gap offset 20s start 3600s, lane-1 clip offset 3600s (-> 20 s), marker 2s -> 22 s -> 660
#   Marker 2: lane -1 clip offset 648176909/180000s (20.98282 s), marker 105589/15000s (7.03927 s)
#             -> 28.0221 s = 840.66                                                        -> 841
#   Marker 9: gap offset 30s start 3600s, marker 2596698013/720000s (3606.525 s) -> 36.525 s  -> 1096
#   Marker 3: lane -1 clip offset 3600s (-> 40 s) start 2571768/720000s (3.572 s), marker 116831/60000s
#             (1.947 s) lies before the clip's start: not visible                              -> none
#   Marker 4: gap offset 50s, spine lane 1 offset 3600s (-> 50 s), clip IMG_0740 offset 9.5 s start 0.5 s,
#             marker 167/30s (5.5667 s) -> 50 + 9.5 + 5.5667 - 0.5 = 64.5667 s              -> 1937
#   Marker 7: ref-clip offset 80s start 10900/3000s (3.6333 s), marker 109/30s (3.6333 s) -> 80 s -> 2400
#   Marker 8: same ref-clip, marker 141/10s -> 80 + 14.1 - 3.6333 = 90.4667 s                -> 2714
FCPX_PROJECT = {180, 660, 841, 1096, 1937, 2400, 2714}

# Kdenlive test-guides-markers.otio: guides at 1 and 14; blue.mpg (0-5) markers 2, 3; red.mpg at 5-10
# markers 3 (-> 8) and 5 (= its end: not visible); yellow.mpg at 10-15 marker 4 (-> 14, same frame as
# the second guide). See _otio_json_markers, which computes the same from the JSON.
KDENLIVE = {1, 2, 3, 8, 14}


def _expected(root: Path, rel: str) -> set[int] | None:
    """Section start frames the file must give, or None when it has no usable markers."""
    path = _path(root, rel)
    if rel in ("fcp7/premiere_example.xml", "fcp7/empty_name_tags.xml.gz"):
        return _fcp7_markers(path.read_text("utf-8"))
    if rel == "otio/premiere_example.otio":  # the same Premiere sequence as fcp7/premiere_example.xml
        return _fcp7_markers((REAL / "fcp7/premiere_example.xml").read_text("utf-8"))
    if rel in ("edl/screening_example.edl", "otio/screening_example.otio"):  # the .otio is this EDL read
        return _edl_locators((REAL / "edl/screening_example.edl").read_text("utf-8"), 24)
    if rel == "fcpx/fcpx_project.fcpxml":
        return FCPX_PROJECT
    if rel == "kdenlive/test-guides-markers.otio":
        assert _otio_json_markers(json.loads(path.read_text("utf-8"))) == KDENLIVE
        return KDENLIVE
    if rel == "aaf/multiple-markers-over-transitions.aaf.gz":
        # the sequence is 392 frames long (its last clip, 48 frames, starts at 344 and fades out); Avid's
        # list also has three markers at 392, 398 and 404, in that fade's handle past the end
        listed = _avid_marker_list((REAL / "aaf/multiple-markers-over-transitions.txt").read_text("utf-8"))
        assert len(listed) == 62
        return {f for f in listed if f < 392}
    if rel == "aaf/marker-over-audio.aaf.gz":
        return {50, 103, 166}
    if rel in ("fcpx/23.98.fcpxml", "fcpx/24.fcpxml", "fcpx/24With25Media.fcpxml", "fcpx/29.97d.fcpxml"):
        return _dawfilekit_markers(rel)
    return None


WITH_MARKERS = {
    "fcp7/premiere_example.xml",
    "fcp7/empty_name_tags.xml.gz",
    "otio/premiere_example.otio",
    "edl/screening_example.edl",
    "otio/screening_example.otio",
    "fcpx/fcpx_project.fcpxml",
    "kdenlive/test-guides-markers.otio",
    "aaf/multiple-markers-over-transitions.aaf.gz",
    "aaf/marker-over-audio.aaf.gz",
    "aaf/multiple_markers.aaf.gz",
    "aaf/bad_marker_track_from_avid.aaf.gz",
    "fcpx/23.98.fcpxml",
    "fcpx/24.fcpxml",
    "fcpx/24With25Media.fcpxml",
    "fcpx/29.97d.fcpxml",
    "fcpx/60.fcpxml",
    "fcpx/AuditionMarkers.fcpxml",
    "fcpx/CompoundClips.fcpxml",
    "fcpx/Occlusion.fcpxml",
}
UNREADABLE = {"edl/dissolve_test_fail.edl", "fcpx/fcpx_clips.fcpxml"}  # refused with a format error


# ------------------------------------------------------------------------------ every file


@pytest.mark.parametrize("rel", _all_files())
def test_real_file_reads_and_plans_without_traceback(
    rel: str, unpacked: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _path(unpacked, rel)
    aaf_missing = path.suffix == ".aaf" and not AAF
    starts: list[int] | None = None
    try:
        timeline = read_timeline(path)
    except InputError as exc:
        if aaf_missing:
            assert isinstance(exc, AdapterMissingError)
            assert "pip install otio-aaf-adapter" in exc.one_line()
        else:
            assert rel in UNREADABLE, f"{rel}: {exc}"
            assert isinstance(exc, TimelineFormatError)
            assert path.name in exc.one_line() and "\n" not in exc.one_line()
    else:
        assert not aaf_missing and rel not in UNREADABLE
        try:
            scan = find_sections(timeline)
        except NoSectionsError as exc:
            assert rel not in WITH_MARKERS, f"{rel}: {exc}"
            line = exc.one_line()
            what = r"(no markers at all|\d+ markers?, none inside the visible part of its clip)"
            assert re.search(rf"found {what} \(\d+ clips? on \d+ tracks?\)", line), line
            assert "add a marker with a duration per sung section" in line and "\n" not in line
        else:
            assert rel in WITH_MARKERS
            starts = [s.start_frame for s in scan.sections]
            assert starts == sorted(starts) and len(set(starts)) == len(starts)
            expected = _expected(unpacked, rel)
            if expected is not None:
                assert set(starts) == expected

    capsys.readouterr()
    code = main(["plan", str(path), "--json"])
    out, err = capsys.readouterr()
    assert "Traceback" not in err and "internal error" not in err
    if starts is None:
        assert code == 2 and err.startswith("otio-heygen: error: ") and err.count("\n") == 1
    else:
        assert code == 0, err
        assert [s["start_frame"] for s in json.loads(out)["sections"]] == starts


# ------------------------------------------------------------------------------ dialect details


def test_premiere_nested_sequence_and_clip_marker_on_timecoded_media(unpacked: Path) -> None:
    # regression: otio-fcp-adapter adds the media timecode (00:00:41:00) to the clip's source range but
    # not to its markers; the clip marker at its first frame (timeline 1229) was dropped as "outside"
    scan = find_sections(read_timeline(_path(unpacked, "fcp7/empty_name_tags.xml.gz")))
    assert [(s.start_frame, s.end_frame) for s in scan.sections] == [(598, 1229), (1229, 3517)]
    assert scan.sections[0].rate == pytest.approx(24000 / 1001, rel=1e-4)
    assert not any("outside" in w for w in scan.warnings)


def test_premiere_marker_text_and_points(unpacked: Path) -> None:
    scan = find_sections(read_timeline(_path(unpacked, "fcp7/premiere_example.xml")))
    first = scan.sections[0]
    assert (first.name, first.text, first.start_frame, first.end_frame) == (
        "My MArker 1",
        "so, this happened",
        113,
        298,
    )
    assert scan.sections[-1].name == "dsf" and scan.sections[-1].text == "fsfsfs"


def test_edl_saved_as_otio_places_locators_at_record_time(unpacked: Path) -> None:
    # regression: the .otio keeps LOCs at record frames (86438@24) with the record start only in the
    # track's negative source_range (-86243); they were read as 01:00:00:00-relative (38, 62, 373)
    timeline = read_timeline(_path(unpacked, "otio/screening_example.otio"))
    assert timeline.global_start_time is None
    markers, warnings = collect_markers(timeline)
    assert sorted(m.start_frame for m in markers) == [195, 219, 530] and not warnings
    assert {m.color for m in markers} == {"RED", "PINK", "GREEN"}


def test_otio_json_with_inf_constants_is_read(unpacked: Path) -> None:
    # regression: Python's json refuses OTIO's bare ``Inf``; the file was reported as "not valid OTIO JSON"
    timeline = read_timeline(_path(unpacked, "otio/big_int.otio"))
    assert timeline.name == "testdata"


def test_kdenlive_guide_and_clip_marker_on_one_frame_make_one_section(unpacked: Path) -> None:
    # regression: two point markers on frame 14 (a guide and a clip marker) were an "overlap" error
    scan = find_sections(read_timeline(_path(unpacked, "kdenlive/test-guides-markers.otio")))
    assert [(s.start_frame, s.end_frame) for s in scan.sections] == [(1, 2), (2, 3), (3, 8), (8, 14), (14, 15)]
    assert scan.sections[0].name == "This is the first guide"  # empty name: the comment
    assert any("This is the fifth marker" in w and "same frame" in w for w in scan.warnings)
    assert any("This is the fourth marker" in w and "outside" in w for w in scan.warnings)


def test_resolve_export_with_markers_added(unpacked: Path) -> None:
    """The real Resolve export has no markers: add a ruler marker and a clip marker the way Resolve
    writes them (stack markers 0-based, clip markers in source time, text in Resolve_OTIO Note)."""
    path = _path(unpacked, "otio/resolve_effects.otio.gz")
    timeline = read_timeline(path)
    with pytest.raises(NoSectionsError, match=r"found no markers at all \(37 clips on 19 tracks\)"):
        find_sections(timeline)
    assert timeline.global_start_time == RT(86400, 24)
    timeline.tracks.markers.append(
        otio.schema.Marker(
            name="Verse",
            marked_range=TR(RT(100, 24), RT(48, 24)),
            color="GREEN",
            metadata={"Resolve_OTIO": {"Keywords": [], "Note": "motion: nod"}},
        )
    )
    audio6 = next(t for t in timeline.tracks if t.name == "Audio 6")
    clip = audio6[1]
    assert clip.source_range.start_time == RT(616, 24)
    clip.markers.append(otio.schema.Marker(name="Chorus", marked_range=TR(RT(616 + 30, 24), RT(24, 24))))
    data = json.loads(path.read_text("utf-8"))
    data["tracks"]["markers"] = [{"marked_range": {"start_time": {"value": 100}}}]
    a6 = next(t for t in data["tracks"]["children"] if t["name"] == "Audio 6")
    a6["children"][1]["markers"] = [{"marked_range": {"start_time": {"value": 646}}}]
    assert _otio_json_markers(data) == {100, 530}  # the clip sits at 500 in the file's own JSON
    scan = find_sections(timeline)
    assert [(s.name, s.start_frame, s.end_frame) for s in scan.sections] == [
        ("Verse", 100, 148),
        ("Chorus", 530, 554),
    ]
    assert scan.sections[0].directives == {"motion": "nod"}


def test_resolve_marker_edl_keeps_the_note_before_the_color(tmp_path: Path) -> None:
    # Resolve "Timeline Markers to EDL" export as posted in TheAcharya/MarkersExtractor issue #25:
    # the text before " |C:" is the marker's note. Regression: the note was dropped.
    text = (
        "TITLE: Marker Data Demo_V3\nFCM: NON-DROP FRAME\n\n"
        "001  001      V     C        00:00:02:03 00:00:02:04 00:00:02:03 00:00:02:04  \n"
        "Note 01 |C:ResolveColorPurple |M:Marker 1 |D:1\n\n"
        "002  001      V     C        00:00:03:24 00:00:04:00 00:00:03:24 00:00:04:00  \n"
        "Note 02 |C:ResolveColorPurple |M:Marker 2 |D:1\n\n"
        "003  001      V     C        00:00:08:05 00:00:08:06 00:00:08:05 00:00:08:06  \n"
        " |C:ResolveColorRed |M:Marker 3 |D:1\n"
    )
    scan = _scan_text(tmp_path / "resolve_markers_note.edl", text)
    # 25 fps (frames reach 24), timeline from 00:00:00:00: 2 s 3 f = 53, 3 s 24 f = 99, 8 s 5 f = 205
    assert [(s.name, s.text, s.start_frame) for s in scan.sections] == [
        ("Marker 1", "Note 01", 53),
        ("Marker 2", "Note 02", 99),
        ("Marker 3", "", 205),
    ]
    assert [s.color for s in scan.sections] == ["Purple", "Purple", "Red"]


def test_avid_edl_locators_at_record_time(tmp_path: Path) -> None:
    # Avid Media Composer EDLs as posted in AcademySoftwareFoundation/OpenTimelineIO issues #593/#594
    named = (
        "TITLE:   Untitled Sequence.01\nFCM: NON-DROP FRAME\n"
        "001  103043_0 V     C        01:00:00:00 01:00:08:10 01:00:00:00 01:00:08:10\n"
        "* FROM CLIP NAME:  MYMEDIA.MOV\n"
        "* LOC: 01:00:02:01 RED     FIRST MARKER NAME\n"
        "* LOC: 01:00:04:10 RED     SECOND MARKER NAME\n"
        "* LOC: 01:00:05:19 RED     THIRD MARKER NAME\n"
    )
    scan = _scan_text(tmp_path / "avid_locs.edl", named)
    assert {s.start_frame for s in scan.sections} == _edl_locators(named, 24) == {49, 106, 139}
    assert [s.name for s in scan.sections] == ["FIRST MARKER NAME", "SECOND MARKER NAME", "THIRD MARKER NAME"]
    assert scan.sections[-1].end_frame == 8 * 24 + 10
    unnamed = named.split("* LOC: 01:00:04")[0].replace(" FIRST MARKER NAME", "")
    scan = _scan_text(tmp_path / "avid_unnamed.edl", unnamed)
    assert [(s.name, s.start_frame) for s in scan.sections] == [("Section 1", 49)]


def _scan_text(path: Path, text: str) -> SectionScan:
    path.write_text(text, encoding="utf-8")
    return find_sections(read_timeline(path))


@pytest.mark.skipif(not AAF, reason="otio-aaf-adapter is not installed")
def test_avid_aaf_marker_on_the_timecode_track(unpacked: Path) -> None:
    # regression: with the adapter's default attach_markers=True the TC1 marker was attached to clip
    # Flow_07.mov at -207 and dropped. Names end in "seq.fNNNN" (the sequence frame in the author's
    # numbering): every marker must sit at NNNN minus one common offset; Avid's own list (OTIO PR #1019)
    # puts YELLOW at 00:00:04:10, GREEN V1 at 00:00:12:07 and BLUE at 00:00:21:14 (24 fps).
    timeline = read_timeline(_path(unpacked, "aaf/multiple_markers.aaf.gz"))
    assert [t.kind for t in timeline.tracks] == ["Video"] * 3  # Avid's marker tracks became ruler markers
    scan = find_sections(timeline)
    assert {s.origin for s in scan.sections} == {"timeline"}
    by_name = {s.name: s.start_frame for s in scan.sections}
    offsets = {int(m.group(1)) - at for name, at in by_name.items() if (m := re.search(r"seq\.f(\d+)$", name))}
    assert len(offsets) == 1
    assert "GREEN: TC1: zts02_1080: f1206: seq.f2604" in by_name
    assert by_name["YELLOW: V5: Digital Header: In gap"] == 4 * 24 + 10
    assert by_name["GREEN: V1: zts02_1010: f1104: seq.f1104"] == 12 * 24 + 7
    assert by_name["BLUE: V2 (no FX): zts02_1020: f1134: seq.f1327"] == 21 * 24 + 14
    assert by_name["PUBLISH"] == 0


@pytest.mark.skipif(not AAF, reason="otio-aaf-adapter is not installed")
def test_avid_aaf_marker_on_a_missing_track_is_kept(unpacked: Path) -> None:
    scan = find_sections(read_timeline(_path(unpacked, "aaf/bad_marker_track_from_avid.aaf.gz")))
    assert len(scan.sections) == 1 and scan.sections[0].name.startswith("Marker on Track 3!")


def _walk(data: Any) -> Iterator[dict[str, Any]]:
    if isinstance(data, dict):
        yield data
        for value in data.values():
            yield from _walk(value)
    elif isinstance(data, list):
        for value in data:
            yield from _walk(value)


def test_marker3_files_are_read_as_they_are(unpacked: Path) -> None:
    text = _path(unpacked, "otio/premiere_example.otio").read_text("utf-8")
    colors = [d["color"] for d in _walk(json.loads(text)) if d.get("OTIO_SCHEMA") == "Marker.3"]
    assert colors and all(isinstance(c, dict) for c in colors)  # the newer schema, color objects
    markers, _ = collect_markers(read_timeline(_path(unpacked, "otio/premiere_example.otio")))
    assert len(markers) == 4


# ------------------------------------------------------------------------------ Final Cut Pro (DAWFileKit exports)


def test_fcpx_conformed_media_and_one_hour_start(unpacked: Path) -> None:
    # regression: 25 fps media conformed to a 24 fps project (<conform-rate srcFrameRate="25"/>) keeps its
    # start and markers in media time; read unscaled, Marker 2 and 3 landed at 3003 and 3442
    scan = find_sections(read_timeline(_path(unpacked, "fcpx/24With25Media.fcpxml")))
    assert [(s.name, s.start_frame) for s in scan.sections] == [
        ("Marker 1", 241),
        ("Marker 2", 3113),
        ("Marker 3", 3570),
    ]
    assert {s.start_frame for s in scan.sections} == _dawfilekit_markers("fcpx/24With25Media.fcpxml")


def test_fcpx_audition_markers_come_from_the_active_pick(unpacked: Path) -> None:
    # regression: <audition> was skipped, so markers on its active pick were lost (and its place was a hole)
    scan = find_sections(read_timeline(_path(unpacked, "fcpx/23.98.fcpxml")))
    starts = {s.name: s.start_frame for s in scan.sections}
    assert (starts["Audition 1"], starts["Audition 2"], starts["Audition 3"]) == (937, 1104, 1310)
    assert "Shot_02" not in starts  # on the alternate pick: not on the main timeline


def test_fcpx_one_frame_markers_are_points_at_any_project_rate(unpacked: Path) -> None:
    # regression: a 23.976 frame (1001/24000 s) is 2.5 frames at 60 fps; such markers became 3-frame
    # sections (and at 50 fps two adjacent ones "overlapped"). Final Cut markers are points.
    scan = find_sections(read_timeline(_path(unpacked, "fcpx/60.fcpxml")))
    spans = [(s.start_frame, s.end_frame) for s in scan.sections]
    assert all(end == nxt for (_, end), (nxt, _) in itertools.pairwise(spans))
    assert all(m.duration_frames == 0 for m in scan.markers)


def test_fcpx_markers_outside_their_clip_are_named_in_the_message(unpacked: Path) -> None:
    path = _path(unpacked, "fcpx/BasicMarkers_1HourProjectStart.fcpxml")
    with pytest.raises(NoSectionsError, match="found 4 markers, none inside the visible part of its clip"):
        find_sections(read_timeline(path))


def test_fcpx_occlusion_follows_the_marker_names(unpacked: Path) -> None:
    scan = find_sections(read_timeline(_path(unpacked, "fcpx/Occlusion.fcpxml")))
    assert {m.name for m in scan.markers} == {"Marker on Start", "Marker in Middle", "Marker 1 Frame Before End"}
    ignored = " ".join(scan.warnings)
    assert all(name in ignored for name in ("Marker on End", "Marker Before Start", "Marker Past End"))


def test_fcp7_xml_written_by_otio_keeps_clip_markers_in_source_time(tmp_path: Path) -> None:
    # the other FCP7 convention: otio-fcp-adapter writes a clip marker's <in> in source time (with the
    # media timecode in it), unlike Premiere; the Premiere reading would put it past the media's end
    rate = 25.0
    timeline = otio.schema.Timeline(name="written by otio")
    track = otio.schema.Track(name="V1")
    track.append(otio.schema.Gap(source_range=TR(RT(0, rate), RT(10, rate))))
    media = otio.schema.ExternalReference(
        target_url="file:///media/take.mov", available_range=TR(RT(90000, rate), RT(500, rate))
    )
    clip = otio.schema.Clip(name="take", media_reference=media, source_range=TR(RT(90032, rate), RT(44, rate)))
    clip.markers.append(otio.schema.Marker(name="Hook", marked_range=TR(RT(90054, rate), RT(0, rate))))
    track.append(clip)
    timeline.tracks.append(track)
    path = tmp_path / "otio_written.xml"
    otio.adapters.write_to_file(timeline, str(path), adapter_name="fcp_xml")
    assert "<in>90054</in>" in path.read_text("utf-8") and "<in>32</in>" in path.read_text("utf-8")
    scan = find_sections(read_timeline(path))
    assert [(s.name, s.start_frame) for s in scan.sections] == [("Hook", 10 + 54 - 32)]
