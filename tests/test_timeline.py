"""Reading every dialect (otio_heygen.read.timeline + otio_heygen.read.dialects): rates, starts, bad inputs."""

from __future__ import annotations

import contextlib
import json
import struct
import zlib
from pathlib import Path

import opentimelineio as otio
import pytest

from otio_heygen.errors import AdapterMissingError, InputError, TimelineFormatError, TimelineNotFoundError
from otio_heygen.read.dialects import (
    downgrade_marker3,
    edl_rate,
    marker_colors,
    marker_keywords,
    marker_text,
    normalise_edl,
    ppro_color_name,
    timecode_frames,
)
from otio_heygen.read.fcpxml import read_fcpxml
from otio_heygen.read.timeline import (
    SUPPORTED_SUFFIXES,
    check_rates,
    frames,
    read_timeline,
    round_frame,
    same_rate,
    timeline_end_frame,
    timeline_rate,
    timeline_start_frame,
)

FIXTURES = Path(__file__).parent / "fixtures" / "dialects"
EXPECTED = sorted(FIXTURES.glob("*.expected.json"))
RT = otio.opentime.RationalTime
TR = otio.opentime.TimeRange
NTSC24 = 24000 / 1001
NTSC30 = 30000 / 1001


def _expected(path: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads(path.read_text(encoding="utf-8"))
    return data


def test_generator_made_every_dialect() -> None:
    suffixes = {Path(str(_expected(p)["file"])).suffix for p in EXPECTED}
    assert {".otio", ".xml", ".fcpxml", ".edl"} <= suffixes
    assert len(EXPECTED) >= 9


@pytest.mark.parametrize("expected_path", EXPECTED, ids=lambda p: p.name.split(".")[0])
def test_fixture_reads_at_its_exact_rate(expected_path: Path) -> None:
    exp = _expected(expected_path)
    tl = read_timeline(FIXTURES / str(exp["file"]))
    assert isinstance(tl, otio.schema.Timeline)
    assert timeline_rate(tl) == exp["rate"]  # exact object, not just close
    assert timeline_end_frame(tl) > 0


def test_supported_suffixes() -> None:
    assert {".otio", ".otioz", ".xml", ".fcpxml", ".edl", ".aaf"} <= set(SUPPORTED_SUFFIXES)


# ------------------------------------------------------------------------------------ rates and timecode


@pytest.mark.parametrize(
    ("tc", "rate", "frame"),
    [
        ("01:00:00;00", NTSC30, 107892),
        ("01:01:00;02", NTSC30, 107892 + 1800),  # minute 1 drops ;00 and ;01
        ("01:10:00;00", NTSC30, 107892 + 17982),  # every 10th minute keeps them
        ("01:00:00:00", NTSC30, 108000),  # 29.97 non-drop
        ("01:00:00;00", 60000 / 1001, 215784),
        ("01:00:00:00", 25.0, 90000),
        ("01:00:00:00", NTSC24, 86400),
        ("00:00:01:12", 24.0, 36),
    ],
)
def test_timecode_frames(tc: str, rate: float, frame: int) -> None:
    assert timecode_frames(tc, rate) == frame


def test_near_identical_ntsc_rates_are_never_rescaled() -> None:
    assert same_rate(23.976, NTSC24) and same_rate(23.976024627685547, NTSC24)
    assert not same_rate(24.0, 25.0) and not same_rate(NTSC30, 30.0 + 0.1)
    assert frames(RT(1440, 23.976), NTSC24) == 1440.0  # the naive rescale gives 1439.99856
    assert frames(RT(48, 24), 48.0) == 96.0
    assert frames(RT(1, 48000), 24.0) == pytest.approx(0.0005)


def test_round_frame_rounds_never_truncates() -> None:
    assert round_frame(1439.99856) == 1440
    assert round_frame(10.5) == 11 and round_frame(11.5) == 12  # halves up, not to even
    assert round_frame(-0.4) == 0


def test_timeline_start_and_rate_edge_cases() -> None:
    tl = otio.schema.Timeline()
    assert timeline_start_frame(tl) == 0 and timeline_end_frame(tl) == 0 and timeline_rate(tl) == 24.0
    track = otio.schema.Track()
    track.append(otio.schema.Clip(source_range=TR(RT(0, 25), RT(250, 25))))
    tl.tracks.append(track)
    assert timeline_rate(tl) == 25.0  # global_start_time None (Kdenlive): the first item's rate
    tl.global_start_time = RT(86400, NTSC24)
    assert timeline_rate(tl) == NTSC24 and timeline_start_frame(tl) == 86400
    tl.global_start_time = RT(86400, 23.976)  # same rate written differently: never rescaled
    assert timeline_start_frame(tl) == 86400
    tl.global_start_time = RT(3600, 1)  # OTIO's default rate 1 is no frame rate: seconds
    assert timeline_rate(tl) == 25.0 and timeline_start_frame(tl) == 90000
    audio = otio.schema.Track(kind=otio.schema.TrackKind.Audio)
    audio.append(otio.schema.Clip(source_range=TR(RT(0, 48000), RT(48000, 48000))))
    tl.tracks.insert(0, audio)
    assert timeline_rate(tl) == 25.0  # video first, and 48 kHz is not a frame rate


# ------------------------------------------------------------------------------------ dialect details


def test_edl_cr_only_drop_frame_and_record_start() -> None:
    path = FIXTURES / "edl_2997df.edl"
    raw = path.read_bytes()
    assert b"\n" not in raw and not raw.endswith(b"\r")  # the fixture really is CR-only, no final newline
    tl = read_timeline(path)
    assert tl.global_start_time == RT(107892, NTSC30)
    assert timeline_start_frame(tl) == 107892 and timeline_end_frame(tl) == 2098


def test_edl_rate_guess_and_override(tmp_path: Path) -> None:
    assert edl_rate("001 AX V C 01:00:00;00 01:00:01;00 01:00:00;00 01:00:01;00") == NTSC30
    assert edl_rate("FCM: DROP FRAME\n001 AX V C 01:00:00:00 01:00:01:00 01:00:00:00 01:00:01:00") == NTSC30
    assert edl_rate("001 AX V C 01:00:00:00 01:00:01:23 01:00:00:00 01:00:01:23") == 24.0
    assert edl_rate("001 AX V C 01:00:00:00 01:00:01:24 01:00:00:00 01:00:01:24") == 25.0
    assert edl_rate("001 AX V C 01:00:00:00 01:00:01:29 01:00:00:00 01:00:01:29") == 30.0
    edl = tmp_path / "x.edl"
    edl.write_bytes(b"TITLE: x\r\n\r\n001  AX  V  C  01:00:00:00 01:00:10:00 01:00:00:00 01:00:10:00\r\n")
    assert timeline_rate(read_timeline(edl)) == 24.0
    tl = read_timeline(edl, edl_rate=25.0)
    assert timeline_rate(tl) == 25.0 and timeline_start_frame(tl) == 90000 and timeline_end_frame(tl) == 250


def test_normalise_edl_rewrites_drop_frame_locators() -> None:
    text, start = normalise_edl(
        "001  AX  V  C  01:00:00;00 01:01:10;00 01:00:00;00 01:01:10;00\r* LOC: 01:01:05;00 RED  Outro", NTSC30
    )
    assert start == "01:00:00;00" and text.endswith("\n") and "\r" not in text
    loc = next(line for line in text.splitlines() if "LOC" in line)
    tc = loc.split()[2]
    assert otio.opentime.from_timecode(tc, NTSC30).value == 107892 + 1948  # same frame, NDF spelling


def test_marker3_is_read_without_touching_the_file() -> None:
    path = FIXTURES / "marker3.otio"
    before = path.read_bytes()
    assert b"Marker.3" in before
    tl = read_timeline(path)
    assert path.read_bytes() == before
    assert [m.color for m in tl.tracks.markers] == ["GREEN", "BLUE"]  # by name, then by nearest rgb


def test_downgrade_marker3_nested() -> None:
    data = {"a": [{"OTIO_SCHEMA": "Marker.3", "color": {"r": 1.0, "g": 0.5, "b": 0.0, "name": ""}}]}
    out, count = downgrade_marker3(data)
    assert count == 1 and out["a"][0] == {"OTIO_SCHEMA": "Marker.2", "color": "ORANGE", "comment": ""}


def test_fcpxml_exact_rate_and_tcstart_unlike_the_adapter() -> None:
    tl = read_timeline(FIXTURES / "fcpx_23976.fcpxml")
    assert timeline_rate(tl) == NTSC24
    assert tl.global_start_time is not None
    assert tl.global_start_time.value / tl.global_start_time.rate == pytest.approx(3600.0)
    assert timeline_end_frame(tl) == 1080
    compound = [c for c in tl.tracks.find_children() if isinstance(c, otio.schema.Stack)]
    assert [c.name for c in compound] == ["Chorus comp"]


def test_fcpxml_saved_as_xml_is_recognised(tmp_path: Path) -> None:
    path = tmp_path / "final cut.xml"
    path.write_bytes((FIXTURES / "fcpx_23976.fcpxml").read_bytes())
    assert timeline_rate(read_timeline(path)) == NTSC24


def test_fcpxmld_bundle(tmp_path: Path) -> None:
    bundle = tmp_path / "Song.fcpxmld"
    bundle.mkdir()
    with pytest.raises(TimelineNotFoundError, match=r"Info\.fcpxml"):
        read_timeline(bundle)
    (bundle / "Info.fcpxml").write_bytes((FIXTURES / "fcpx_23976.fcpxml").read_bytes())
    assert timeline_end_frame(read_timeline(bundle)) == 1080


def test_fcpxml_without_project_is_a_format_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="project"):
        read_fcpxml('<fcpxml version="1.10"><resources/></fcpxml>')
    path = tmp_path / "clips.fcpxml"
    path.write_text('<fcpxml version="1.10"><resources/></fcpxml>', encoding="utf-8")
    with pytest.raises(TimelineFormatError, match=r"clips\.fcpxml"):
        read_timeline(path)


def test_premiere_colors_and_text() -> None:
    tl = read_timeline(FIXTURES / "premiere_25.xml")
    verse1, verse2 = tl.tracks.markers
    assert verse1.color == "RED"  # what the adapter says for every Premiere marker...
    assert marker_colors(verse1)[0] == "Green"  # ...and the real swatch
    assert "red" not in [c.lower() for c in marker_colors(verse1)]
    assert marker_text(verse2) == "image: red.png\nmotion: jumps"


@pytest.mark.parametrize(
    ("value", "name"),
    [("4287345071", "Green"), ("FF2C36D2", "Red"), (str(0xFFFC8D42), "Blue"), (str(0xFF0000FF), "Red"), ("x", None)],
)
def test_ppro_color_name(value: str, name: str | None) -> None:
    assert ppro_color_name(value) == name


def test_resolve_note_keywords_and_kdenlive_comment() -> None:
    tl = read_timeline(FIXTURES / "resolve_24.otio")
    verse = tl.tracks.markers[0]
    assert marker_text(verse) == "image: looks/red.png\nmotion: nods to the beat"
    assert marker_keywords(verse) == ("vocal",)
    m = otio.schema.Marker(name="x", metadata={"Resolve_OTIO": {"Keywords": "a, b", "Note": "same"}})
    m.comment = "same"
    assert marker_text(m) == "same" and marker_keywords(m) == ("a", "b")
    kden = read_timeline(FIXTURES / "kdenlive_25.otio")
    assert tl.global_start_time is not None and kden.global_start_time is None
    assert marker_text(kden.tracks.markers[1]) == "Verse 1\nexpressiveness: low"


def test_collection_gives_its_first_timeline(tmp_path: Path) -> None:
    first, second = otio.schema.Timeline(name="first"), otio.schema.Timeline(name="second")
    coll = otio.schema.SerializableCollection(children=[otio.schema.SerializableCollection(), first, second])
    path = tmp_path / "c.otio"
    otio.adapters.write_to_file(coll, str(path))
    assert read_timeline(path).name == "first"
    otio.adapters.write_to_file(otio.schema.SerializableCollection(), str(path))
    with pytest.raises(TimelineFormatError, match="no timeline"):
        read_timeline(path)
    otio.adapters.write_to_file(otio.schema.Track(), str(path))
    with pytest.raises(TimelineFormatError, match="Track"):
        read_timeline(path)


def test_otioz_bundle(tmp_path: Path) -> None:
    tl = otio.schema.Timeline(name="zipped", global_start_time=RT(90000, 25))
    track = otio.schema.Track()
    track.append(otio.schema.Clip(name="c", source_range=TR(RT(0, 25), RT(100, 25))))
    tl.tracks.append(track)
    path = tmp_path / "t.otioz"
    otio.adapters.write_to_file(tl, str(path))
    back = read_timeline(path)
    assert back.name == "zipped" and timeline_end_frame(back) == 100
    bad = tmp_path / "bad.otioz"
    bad.write_bytes(b"not a zip at all")
    with pytest.raises(TimelineFormatError, match="otioz"):
        read_timeline(bad)


# ------------------------------------------------------------------------------------ bad inputs


def _png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0\0\0\0")) + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    ("name", "content", "error", "words"),
    [
        ("photo.otio", _png(), TimelineFormatError, "PNG"),
        ("empty.otio", b"", TimelineFormatError, "empty"),
        ("blank.edl", b"\r\n  \r", TimelineFormatError, "empty"),
        ("data.otio", b'{"name": "not otio", "items": [1, 2]}', TimelineFormatError, "OTIO_SCHEMA"),
        ("list.otio", b"[1, 2, 3]", TimelineFormatError, "OTIO_SCHEMA"),
        ("text.otio", b"hello, I am a text file", TimelineFormatError, "JSON"),
        ("text.xml", b"hello, I am a text file", TimelineFormatError, "text.xml"),
        ("other.xml", b"<?xml version='1.0'?><catalog><book/></catalog>", TimelineFormatError, "other.xml"),
        ("project.xml", b"<?xml version='1.0'?><mlt><kdenlive/></mlt>", TimelineFormatError, "Kdenlive"),
        ("text.edl", b"just words\nno events", TimelineFormatError, "no edit events"),
        (
            "bad_tc.edl",
            b"001  AX  V  C  01:00:00;00 01:00:10;00 01:00:00;00 01:00:10;00\n* LOC: 01:99:99;99 RED x",
            TimelineFormatError,
            "timecodes make no sense",
        ),
        ("text.fcpxml", b"<fcp", TimelineFormatError, "FCPXML"),
        ("notes.txt", b"hello", TimelineFormatError, ".txt"),
        (
            "bad_schema.otio",
            b'{"OTIO_SCHEMA": "Timeline.99"}',
            TimelineFormatError,
            "newer OpenTimelineIO (Timeline.99)",
        ),
    ],
)
def test_bad_inputs_are_input_errors(
    tmp_path: Path, name: str, content: bytes, error: type[InputError], words: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(error) as info:
        read_timeline(path)
    assert words in str(info.value)
    assert info.value.exit_code == 2 and "\n" not in str(info.value)


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(TimelineNotFoundError, match="no such file"):
        read_timeline(tmp_path / "nope.otio")
    folder = tmp_path / "folder.otio"
    folder.mkdir()
    with pytest.raises(TimelineNotFoundError, match="folder"):
        read_timeline(folder)


def test_aaf_without_adapter_names_the_package(tmp_path: Path) -> None:
    try:
        otio.adapters.from_name("AAF")
        pytest.skip("otio-aaf-adapter is installed here")
    except Exception:
        pass
    path = tmp_path / "avid.aaf"
    path.write_bytes(b"\xd0\xcf\x11\xe0" + b"\0" * 60)
    with pytest.raises(AdapterMissingError, match="pip install otio-aaf-adapter"):
        read_timeline(path)


@pytest.mark.parametrize("expected_path", EXPECTED, ids=lambda p: p.name.split(".")[0])
def test_truncated_files_never_traceback(tmp_path: Path, expected_path: Path) -> None:
    source = FIXTURES / str(_expected(expected_path)["file"])
    raw = source.read_bytes()
    for cut in (len(raw) // 3, len(raw) // 2, len(raw) - 7):
        path = tmp_path / source.name
        path.write_bytes(raw[:cut])
        with contextlib.suppress(InputError):  # anything else would be a traceback for the user
            read_timeline(path)


def test_edl_lead_in_is_restored_and_written_back_unchanged(tmp_path: Path) -> None:
    edl = tmp_path / "lead.edl"
    edl.write_text(
        "TITLE: lead\n\n001  AX       V     C        00:00:00:00 00:00:20:00 01:00:05:00 01:00:25:00\n"
        "* FROM CLIP NAME: song.wav\n* LOC: 01:00:10:00 RED     Verse\n",
        encoding="utf-8",
    )
    tl = read_timeline(edl, edl_rate=24.0)
    assert timeline_start_frame(tl) == 86400  # the record hour, not the first event
    song = next(c for c in tl.find_clips())
    assert song.range_in_parent().start_time.value == 120  # 5 s of lead-in kept as a gap
    assert timeline_end_frame(tl) == 600
    written = otio.adapters.write_to_string(tl, "cmx_3600")
    assert "01:00:05:00 01:00:25:00" in written and "LOC: 01:00:10:00" in written


def test_edl_far_from_the_hour_starts_at_its_first_event(tmp_path: Path) -> None:
    edl = tmp_path / "late.edl"
    edl.write_text("001  AX  V  C  00:00:00:00 00:00:10:00 01:30:00:00 01:30:10:00\n", encoding="utf-8")
    tl = read_timeline(edl, edl_rate=25.0)
    assert timeline_start_frame(tl) == (90 * 60) * 25 and timeline_end_frame(tl) == 250


def _one_marker_timeline(rate: float, *, start: float | None = None) -> otio.schema.Timeline:
    rt = otio.opentime.RationalTime
    timeline = otio.schema.Timeline(name="cut")
    track = otio.schema.Track(name="V1")
    track.append(otio.schema.Clip(name="c", source_range=otio.opentime.TimeRange(rt(0, rate), rt(100, rate))))
    timeline.tracks.append(track)
    timeline.tracks.markers.append(
        otio.schema.Marker(name="Verse", marked_range=otio.opentime.TimeRange(rt(0, rate), rt(10, rate)))
    )
    if start is not None:
        timeline.global_start_time = rt(0, start)
    return timeline


@pytest.mark.parametrize(("rate", "start", "message"), [
    (0.0, None, "frame rate of 0"),
    (25.0, 0.0, "frame rate of 0"),
    (-25.0, None, "frame rate of -25"),
    (7.0, None, "runs at 7 fps"),
])
def test_a_rate_no_nle_uses_is_refused(rate: float, start: float | None, message: str) -> None:
    with pytest.raises(TimelineFormatError, match=message) as info:
        check_rates(_one_marker_timeline(rate, start=start))
    assert info.value.exit_code == 2


@pytest.mark.parametrize("rate", [24000 / 1001, 24.0, 25.0, 30000 / 1001, 60.0])
def test_rates_nles_use_pass(rate: float) -> None:
    check_rates(_one_marker_timeline(rate, start=rate))
