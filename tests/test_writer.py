"""Tests for otio_heygen.output.writer: output checks, media URLs and atomic round trips per format."""

from __future__ import annotations

import errno
import os
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import opentimelineio as otio
import pytest

from otio_heygen.errors import InputError, OutputPathError
from otio_heygen.output.conform import conform, is_generated_track
from otio_heygen.output.writer import (
    OUTPUT_SUFFIXES,
    _fcp_path_url,
    check_output_path,
    media_url,
    url_style_for,
    write_timeline,
)
from otio_heygen.sections.model import Section
from tests.support.builders import make_section
from tests.test_conform import RATES, build_input_timeline, clips, frames, make_result

MakeMp4 = Callable[[Path, int], Path]
RT = otio.opentime.RationalTime


@pytest.fixture
def make_mp4() -> MakeMp4:
    """Write a real, tiny H.264 MP4 of ``n`` frames (64x64) with PyAV."""

    def make(path: Path, n: int) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        with av.open(str(path), "w") as container:
            stream = container.add_stream("libx264", rate=Fraction(25))
            stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
            for i in range(n):
                img = np.full((64, 64, 3), (i * 37) % 255, np.uint8)
                for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        return path

    return make


def summary(item: Any, rate: float) -> Any:
    """What must survive any format: kinds, names, frame ranges, media URLs, markers."""
    if isinstance(item, otio.schema.Track):
        return (item.kind, [summary(child, rate) for child in item])
    out: list[Any] = [type(item).__name__, frames(item.range_in_parent().start_time, rate)]
    out.append(frames(item.duration(), rate))
    if isinstance(item, otio.schema.Clip):
        out += [item.name, frames(item.source_range.start_time, rate), item.media_reference.target_url]
        out += [(m.name, frames(m.marked_range.start_time, rate)) for m in item.markers]
    return out


def sections(rate: float) -> list[Section]:
    return [
        make_section(1, "Verse", 48, 144, rate, "GREEN"),
        make_section(2, "Chorus 1", 200, 350, rate, "YELLOW"),
        make_section(3, "Bridge", 300, 400, rate, "BLUE"),  # overlaps the chorus: spills
    ]


def render(tmp_path: Path, make_mp4: MakeMp4, rate: float, output: Path, *, relative: bool = False) -> Any:
    """Input timeline on disk, real MP4 results (handles, a second take), conformed for ``output``."""
    song = make_mp4(tmp_path / "song media" / "song.mp4", 3)
    input_path = tmp_path / "input.otio"
    tl = build_input_timeline(rate, song_url=song.as_uri())
    otio.adapters.write_to_file(tl, str(input_path))
    media = output.parent / f"{output.stem}_media"
    results = []
    for sec in sections(rate):
        for take in (1, 2) if sec.index == 1 else (1,):
            job_media = media / f"{sec.index:02d}_{sec.slug}_take{take}.mp4"
            make_mp4(job_media, 4)
            results.append(make_result(sec, job_media, take=take, handles=6, sync_offset_ms=None))
    style = url_style_for(output)

    def url_for(path: Path) -> str:
        return media_url(path, output_path=output, relative=relative, style=style)

    out_tl = conform(tl, results, url_for=url_for, created_at="2026-11-27T00:00:00+00:00")
    return tl, input_path, results, out_tl


def read_back(path: Path) -> Any:
    return otio.adapters.read_from_file(str(path))


def check_generated(back: Any, rate: float, *, expect_tracks: int = 3) -> None:
    gen = [t for t in back.tracks if is_generated_track(t)]
    assert len(gen) == expect_tracks
    placed: dict[str, list[tuple[int, int]]] = {}
    for track in gen:
        for clip in clips(track):
            rng = clip.range_in_parent()
            placed.setdefault(clip.name, []).append(
                (frames(rng.start_time, rate), frames(rng.end_time_exclusive(), rate))
            )
            assert frames(clip.source_range.start_time, rate) == 6  # handles trimmed off
    want = {s.name: (s.start_frame, s.end_frame) for s in sections(rate)}
    assert placed == {"Verse": [want["Verse"]] * 2, "Chorus 1": [want["Chorus 1"]], "Bridge": [want["Bridge"]]}


@pytest.mark.parametrize("suffix", [".otio", ".otioz", ".xml"])
@pytest.mark.parametrize("rate_name", list(RATES))
def test_round_trip_is_frame_exact_and_keeps_the_rest(
    tmp_path: Path, make_mp4: MakeMp4, suffix: str, rate_name: str
) -> None:
    rate = RATES[rate_name]
    output = tmp_path / "out" / f"video{suffix}"
    output.parent.mkdir()
    tl, input_path, _, out_tl = render(tmp_path, make_mp4, rate, output)
    write_timeline(out_tl, output, input_path=input_path)
    back = read_back(output)
    check_generated(back, rate)
    assert frames(back.global_start_time, rate) == frames(tl.global_start_time, rate)
    rest = [t for t in back.tracks if not is_generated_track(t)]
    if suffix == ".otio":
        assert back.is_equivalent_to(out_tl)
        assert len(rest) == len(tl.tracks)
        assert all(a.is_equivalent_to(b) for a, b in zip(rest, tl.tracks, strict=True))
        assert [t.enabled for t in back.tracks if is_generated_track(t)] == [True, True, False]
    elif suffix == ".otioz":
        with zipfile.ZipFile(output) as bundle:
            names = set(bundle.namelist())
        assert {"content.otio", "version.txt", "media/song.mp4", "media/01_Verse_take2.mp4"} <= names
        want = [summary(t, rate) for t in tl.tracks]
        got = [summary(t, rate) for t in rest]
        # Only the song's URL changes (it is bundled); the missing b-roll keeps its URL.
        want[1][1][0][5] = "media/song.mp4"
        assert got == want
        assert rest[0].is_equivalent_to(tl.tracks[0])
    else:
        # Compare with the input taken through the same adapter on its own.
        plain = tmp_path / "plain.xml"
        write_timeline(tl, plain, input_path=input_path)
        plain_tl = read_back(plain)  # keep the timeline alive while its tracks are used
        expected = list(plain_tl.tracks)
        assert [summary(t, rate) for t in rest] == [summary(t, rate) for t in expected]
        assert len(back.tracks.markers) == len(tl.tracks.markers)


@pytest.mark.parametrize("suffix", [".otio", ".otioz", ".xml"])
def test_running_on_its_own_output_leaves_one_avatar_track(tmp_path: Path, make_mp4: MakeMp4, suffix: str) -> None:
    rate = RATES["23.976"]
    first = tmp_path / f"first{suffix}"
    tl, input_path, results, out_tl = render(tmp_path, make_mp4, rate, first)
    write_timeline(out_tl, first, input_path=input_path)
    back = read_back(first)
    second = tmp_path / f"second{suffix}"
    url_style = url_style_for(second)
    again = conform(
        back,
        results,
        url_for=lambda p: media_url(p, output_path=second, style=url_style),
        created_at="2026-11-27T00:00:00+00:00",
    )
    write_timeline(again, second, input_path=first)
    back2 = read_back(second)
    check_generated(back2, rate)
    assert len(back2.tracks) == len(tl.tracks) + 3
    if suffix != ".xml":
        assert [t.name for t in back2.tracks if is_generated_track(t)] == [
            "Avatar IV",
            "Avatar IV (2)",
            "Avatar IV take 2",
        ]


def test_relative_paths_resolve_against_the_output_folder(tmp_path: Path, make_mp4: MakeMp4) -> None:
    output = tmp_path / "out.otio"
    _, input_path, _, out_tl = render(tmp_path, make_mp4, 25.0, output, relative=True)
    write_timeline(out_tl, output, input_path=input_path)
    back = read_back(output)
    for clip in clips(next(t for t in back.tracks if is_generated_track(t))):
        url = clip.media_reference.target_url
        assert url.startswith("out_media/")
        assert (tmp_path / url).is_file()


def test_otioz_bundles_media_from_relative_urls(tmp_path: Path, make_mp4: MakeMp4) -> None:
    output = tmp_path / "out.otioz"
    _, input_path, _, out_tl = render(tmp_path, make_mp4, 25.0, output, relative=True)
    write_timeline(out_tl, output, input_path=input_path)
    extract = tmp_path / "extracted"
    extract.mkdir()
    back = otio.adapters.read_from_file(str(output), extract_to_directory=str(extract))
    for clip in clips(next(t for t in back.tracks if is_generated_track(t))):
        path = extract / otio.url_utils.filepath_from_url(clip.media_reference.target_url)
        assert path.is_file()
        assert path.read_bytes() == (tmp_path / "out_media" / path.name).read_bytes()


def test_old_schema_versions_write_clip_1(tmp_path: Path, make_mp4: MakeMp4) -> None:
    output = tmp_path / "old.otio"
    _, input_path, _, out_tl = render(tmp_path, make_mp4, 24.0, output)
    write_timeline(out_tl, output, input_path=input_path, schema_versions="0.14.0")
    text = output.read_text()
    assert '"Clip.1"' in text and '"Clip.2"' not in text
    check_generated(read_back(output), 24.0)
    with pytest.raises(OutputPathError, match="schema version"):
        write_timeline(out_tl, tmp_path / "x.otio", schema_versions="9.9.9")
    with pytest.raises(OutputPathError, match=r"\.otio"):
        write_timeline(out_tl, tmp_path / "x.xml", schema_versions="0.14.0")


def test_fcp_xml_has_pathurls_and_a_format_block(tmp_path: Path, make_mp4: MakeMp4) -> None:
    output = tmp_path / "my edit" / "out.xml"
    output.parent.mkdir()
    _, input_path, _, out_tl = render(tmp_path, make_mp4, 30000 / 1001, output)
    out_tl.metadata["Resolve_OTIO"] = {"Width": 1080, "Height": 1920}
    write_timeline(out_tl, output, input_path=input_path)
    text = output.read_text()
    media_dir = (tmp_path / "my edit" / "out_media").as_posix().lstrip("/").replace(" ", "%20")
    assert f"<pathurl>file://localhost/{media_dir}/01_Verse_take1.mp4</pathurl>" in text
    assert "<width>1080</width>" in text and "<height>1920</height>" in text
    root = ET.parse(output).getroot()
    for seq in root.iter("sequence"):
        fmt = seq.find("./media/video/format/samplecharacteristics")
        assert fmt is not None
        assert fmt.findtext("./rate/timebase") == "30" and fmt.findtext("./rate/ntsc") == "TRUE"


@pytest.mark.parametrize(
    ("path", "style", "relative", "expected"),
    [
        (
            "/Volumes/Media/My Song/01_Verse_take1.mp4",
            "otio",
            False,
            "file:///Volumes/Media/My%20Song/01_Verse_take1.mp4",
        ),
        ("/m/Café #1.mp4", "otio", False, "file:///m/Caf%C3%A9%20%231.mp4"),
        ("/m/a b.mp4", "fcp_xml", False, "file://localhost/m/a%20b.mp4"),
        ("/out/out_media/a b.mp4", "otio", True, "out_media/a b.mp4"),
        ("/out/out_media/a b.mp4", "fcp_xml", True, "out_media/a%20b.mp4"),
        ("/elsewhere/a.mp4", "otio", True, "../elsewhere/a.mp4"),
    ],
)
def test_media_url(path: str, style: Any, relative: bool, expected: str) -> None:
    assert media_url(Path(path), output_path=Path("/out/x.otio"), relative=relative, style=style) == expected


def test_fcp_url_for_windows_drives() -> None:
    assert _fcp_path_url("D:\\Media\\My Song\\a.mp4") == "file://localhost/D%3a/Media/My%20Song/a.mp4"


def test_url_style_for() -> None:
    assert url_style_for(Path("a.XML")) == "fcp_xml"
    assert [url_style_for(Path(f"a{s}")) for s in (".otio", ".otioz", ".fcpxml")] == ["otio"] * 3


def test_output_equal_to_input_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "edit.otio"
    src.write_text("{}")
    (tmp_path / "sub").mkdir()
    link = tmp_path / "link.otio"
    link.symlink_to(src)
    for same in (src, tmp_path / "sub" / ".." / "edit.otio", link):
        with pytest.raises(OutputPathError, match="never overwrites its input") as info:
            check_output_path(same, src)
        assert isinstance(info.value, InputError) and info.value.exit_code == 2
    with pytest.raises(OutputPathError):
        write_timeline(otio.schema.Timeline(), src, input_path=src)
    assert src.read_text() == "{}"
    check_output_path(tmp_path / "other.otio", src)


def test_bad_output_paths(tmp_path: Path) -> None:
    with pytest.raises(OutputPathError, match=r"unsupported extension '\.mov'.*\.otio, \.otioz, \.xml"):
        check_output_path(tmp_path / "x.mov", None)
    with pytest.raises(OutputPathError, match="does not exist"):
        check_output_path(tmp_path / "missing" / "x.otio", None)
    with pytest.raises(OutputPathError, match="is a folder"):
        check_output_path(tmp_path, None)
    (tmp_path / "file").write_text("")
    with pytest.raises(OutputPathError):
        check_output_path(tmp_path / "file" / "x.otio", None)
    assert ".otio" in OUTPUT_SUFFIXES


def test_non_writable_folder(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        # Root ignores permission bits; /proc refuses new files for everyone.
        folder = locked if not os.access(locked, os.W_OK) else Path("/proc")
        with pytest.raises(OutputPathError, match="is not writable") as info:
            check_output_path(folder / "x.otio", None)
        assert info.value.exit_code == 2
        with pytest.raises(OutputPathError, match="is not writable"):
            write_timeline(otio.schema.Timeline(), folder / "x.otio")
        assert not (folder / "x.otio").exists()
        assert not any(p.name.startswith(".otio-heygen-probe") for p in locked.iterdir())
    finally:
        locked.chmod(0o755)


def test_check_leaves_no_probe_behind(tmp_path: Path) -> None:
    check_output_path(tmp_path / "x.otio", None)
    assert list(tmp_path.iterdir()) == []


def test_failed_write_leaves_previous_output_intact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rate = 25.0
    tl = build_input_timeline(rate)
    for suffix in (".otio", ".xml"):
        output = tmp_path / f"out{suffix}"
        write_timeline(tl, output)
        before = output.read_bytes()
        listing = sorted(os.listdir(tmp_path))
        bad = tl.deepcopy()
        bad.tracks[0].metadata["fcp_xml"] = [1, 2]  # the FCP7 XML adapter cannot serialise this
        if suffix == ".otio":
            # A disk that fills up halfway through the adapter's write.
            def half_write(timeline: Any, filepath: str, *args: Any, **kwargs: Any) -> None:
                Path(filepath).write_text('{"OTIO_SCHEMA": "Timeline.1", "na')
                raise OSError(errno.ENOSPC, "No space left on device")

            monkeypatch.setattr(otio.adapters, "write_to_file", half_write)
        with pytest.raises(OutputPathError, match="Could not write"):
            write_timeline(bad, output)
        monkeypatch.undo()
        assert output.read_bytes() == before
        assert sorted(os.listdir(tmp_path)) == listing  # no temp files left behind


def test_fcpxml_round_trip_at_whole_rates(tmp_path: Path, make_mp4: MakeMp4) -> None:
    output = tmp_path / "out.fcpxml"
    _, input_path, _, out_tl = render(tmp_path, make_mp4, 25.0, output)
    check_output_path(output, input_path)
    write_timeline(out_tl, output, input_path=input_path)
    check_generated(read_back(output), 25.0)


def test_fcpxml_at_ntsc_rates_says_what_to_do(tmp_path: Path, make_mp4: MakeMp4) -> None:
    # otio-fcpx-xml-adapter 1.0.0 (the version installed) cannot write 23.976: the writer must say
    # so in one line naming the file and the .xml alternative, and leave the old file alone. When a
    # newer adapter writes it, this test fails and should become a frame-exact round trip.
    output = tmp_path / "out.fcpxml"
    output.write_text("previous")
    _, input_path, _, out_tl = render(tmp_path, make_mp4, 24000 / 1001, output)
    with pytest.raises(OutputPathError) as info:
        write_timeline(out_tl, output, input_path=input_path)
    assert "out.fcpxml" in str(info.value) and ".xml" in str(info.value)
    assert output.read_text() == "previous"


def test_xml_marks_take_tracks_disabled_and_keeps_sync_notes(tmp_path: Path, make_mp4: MakeMp4) -> None:
    rate = 25.0
    output = tmp_path / "out.xml"
    tl = build_input_timeline(rate)
    sec = make_section(1, "Verse", 48, 144, rate)
    media = tmp_path / "out_media"
    results = [
        make_result(sec, make_mp4(media / "01_Verse_take1.mp4", 3), sync_offset_ms=200.0),
        make_result(sec, make_mp4(media / "01_Verse_take2.mp4", 3), take=2),
    ]
    out_tl = conform(tl, results, url_for=lambda p: media_url(p, output_path=output, style="fcp_xml"))
    write_timeline(out_tl, output)
    root = ET.parse(output).getroot()
    video_tracks = root.findall("./project/children/sequence/media/video/track") or root.findall(
        ".//sequence/media/video/track"
    )
    assert [t.findtext("enabled") for t in video_tracks] == [None, None, "FALSE"]
    comments = [m.findtext("comment") for m in video_tracks[1].iter("marker")]
    assert "sync +200ms (5.0 frames)" in comments


def test_xml_nested_sequences_get_a_format_too(tmp_path: Path) -> None:
    rate = 25.0
    tl = build_input_timeline(rate)
    tl.metadata["Resolve_OTIO"] = {"Width": 1280, "Height": 720}
    nested = otio.schema.Stack(name="nest", source_range=otio.opentime.TimeRange(RT(0, rate), RT(50, rate)))
    inner = otio.schema.Track(name="inner")
    ref = otio.schema.ExternalReference(
        target_url="file:///m/i.mov", available_range=otio.opentime.TimeRange(RT(0, rate), RT(100, rate))
    )
    inner.append(
        otio.schema.Clip(
            name="ic", media_reference=ref, source_range=otio.opentime.TimeRange(RT(0, rate), RT(50, rate))
        )
    )
    nested.append(inner)
    tl.tracks[0].append(nested)
    output = tmp_path / "nested.xml"
    write_timeline(tl, output)
    sequences = list(ET.parse(output).getroot().iter("sequence"))
    assert len(sequences) == 2
    for seq in sequences:
        assert seq.findtext("./media/video/format/samplecharacteristics/width") == "1280"
    back = read_back(output)  # still readable after the post-processing
    assert [t.kind for t in back.tracks] == [otio.schema.TrackKind.Video, otio.schema.TrackKind.Audio]


# ------------------------------------------------------------------ relative media of the input


def _timeline_with_media(urls: list[str]) -> otio.schema.Timeline:
    tl = otio.schema.Timeline(name="rel")
    track = otio.schema.Track(name="A1", kind=otio.schema.TrackKind.Audio)
    for i, url in enumerate(urls):
        rng = otio.opentime.TimeRange(otio.opentime.RationalTime(0, 24), otio.opentime.RationalTime(24, 24))
        track.append(otio.schema.Clip(name=f"c{i}", media_reference=otio.schema.ExternalReference(
            target_url=url, available_range=rng), source_range=rng))
    tl.tracks.append(track)
    return tl


def test_relative_media_of_the_input_still_resolves_from_another_output_folder(tmp_path: Path) -> None:
    from otio_heygen.output.writer import rebase_relative_media

    src = tmp_path / "edit"
    (src / "audio").mkdir(parents=True)
    song = src / "audio" / "my song.wav"
    song.write_bytes(b"RIFF")
    out_dir = tmp_path / "renders" / "v1"
    out_dir.mkdir(parents=True)
    urls = ["audio/my song.wav", "audio/my%20song.wav", "/abs/elsewhere.wav", "file:///abs/x.wav", "C:/media/y.wav"]
    rebased = rebase_relative_media(_timeline_with_media(urls), src, out_dir)
    got = [c.media_reference.target_url for c in rebased.find_clips()]
    assert (out_dir / got[0]).resolve() == song.resolve()
    assert (out_dir / got[1]).resolve() == song.resolve()
    assert got[2:] == urls[2:]  # absolute paths, URLs and drive paths are left as they were
    far = rebase_relative_media(_timeline_with_media(urls[:1]), src, Path(song.anchor))
    assert next(iter(far.find_clips())).media_reference.target_url == song.resolve().as_posix()  # no ../../..
    same = rebase_relative_media(_timeline_with_media(urls), src, src)
    assert [c.media_reference.target_url for c in same.find_clips()] == urls


def test_generated_clips_keep_their_output_relative_urls(tmp_path: Path) -> None:
    from otio_heygen.output.conform import GENERATED_KEY
    from otio_heygen.output.writer import rebase_relative_media

    tl = _timeline_with_media(["x_media/01_A_take1.mp4"])
    next(iter(tl.find_clips())).metadata[GENERATED_KEY] = {"job_key": "k"}
    rebased = rebase_relative_media(tl, tmp_path / "a", tmp_path / "b")
    assert next(iter(rebased.find_clips())).media_reference.target_url == "x_media/01_A_take1.mp4"


def test_otioz_in_another_folder_bundles_the_inputs_relative_song(tmp_path: Path) -> None:
    src = tmp_path / "edit"
    src.mkdir()
    (src / "song.wav").write_bytes(b"RIFF-song")
    input_path = src / "edit.otio"
    otio.adapters.write_to_file(_timeline_with_media(["song.wav"]), str(input_path))
    out = tmp_path / "out" / "bundle.otioz"
    out.parent.mkdir()
    write_timeline(otio.adapters.read_from_file(str(input_path)), out, input_path=input_path)
    with zipfile.ZipFile(out) as bundle:
        assert any(name.endswith("song.wav") for name in bundle.namelist())
