"""Issue 15: links an NLE can relink and the input's own schema versions, through whole offline renders."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import opentimelineio as otio
import pytest

from otio_heygen import RenderOptions
from otio_heygen import render_file as render_timeline
from otio_heygen.errors import OutputPathError
from otio_heygen.output.otio_versions import release_map, schemas_in, target_schema_versions
from otio_heygen.read.dialects import ppro_color_name
from otio_heygen.urls import url_to_path
from tests.conftest import SAMPLES

SECTIONS = [("Intro", 0, 192), ("Verse 1", 192, 528), ("Chorus 1", 528, 768), ("Verse 2", 768, 1056),
            ("Chorus 2", 1056, 1296), ("Outro", 1296, 1440)]


@pytest.fixture
def edit_dir(tmp_path: Path) -> Path:
    dest = tmp_path / "edit"
    shutil.copytree(SAMPLES, dest, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return dest


def _ranges(timeline: otio.schema.Timeline) -> list[list[tuple[str, int, int]]]:
    """Every track's clips as (name, first frame, end frame) in timeline frames."""
    out = []
    for track in timeline.tracks:
        out.append([(c.name, round(c.range_in_parent().start_time.value),
                     round(c.range_in_parent().end_time_exclusive().value)) for c in track.find_clips()])
    return out


def test_fcp7_xml_with_a_relative_song_written_elsewhere_relinks(edit_dir: Path, tmp_path: Path) -> None:
    source = edit_dir / "demo_premiere.xml"
    assert "<pathurl>song.wav</pathurl>" in source.read_text()  # the song is a relative path
    out = tmp_path / "renders" / "v1" / "demo_avatar.xml"
    render_timeline(source, out, RenderOptions(backend="preview", only=("Intro", "Chorus 1")))

    root = ET.parse(out).getroot()
    urls = [e.text or "" for e in root.iter("pathurl")]
    assert urls and all(u.startswith("file://localhost/") for u in urls)
    paths = [Path(url_to_path(u)) for u in urls]
    assert all(p.is_absolute() and p.is_file() for p in paths), paths
    assert (edit_dir / "song.wav").resolve() in paths

    clipitems = list(root.iter("clipitem"))
    assert clipitems and all(c.findtext("masterclipid", "").startswith("masterclip-") for c in clipitems)
    # one <file> element per media file, later clipitems refer back to its id
    full_files = [f for f in root.iter("file") if f.find("pathurl") is not None]
    assert len({f.findtext("pathurl") for f in full_files}) == len(full_files)
    masters = {c.findtext("masterclipid"): c.find("file").get("id") for c in clipitems}  # type: ignore[union-attr]
    assert len(set(masters.values())) == len(masters)  # one master clip per file

    sequence = root.find(".//sequence")
    assert sequence is not None and sequence.findtext("name") == "Demo Song"

    back = otio.adapters.read_from_file(str(out))
    original = otio.adapters.read_from_file(str(source))
    def by_kind(timeline: otio.schema.Timeline, kind: str) -> list[list[tuple[str, int, int]]]:
        return [r for t, r in zip(timeline.tracks, _ranges(timeline), strict=True) if t.kind == kind]

    video, audio = otio.schema.TrackKind.Video, otio.schema.TrackKind.Audio
    assert by_kind(back, audio) == by_kind(original, audio) == [[("song.wav", 0, 1440)]]  # same frames
    assert by_kind(back, video)[:-1] == by_kind(original, video)
    assert by_kind(back, video)[-1] == [s for s in SECTIONS if s[0] in ("Intro", "Chorus 1")]


def test_xml_sequence_and_marker_notes_from_a_resolve_timeline(edit_dir: Path, tmp_path: Path) -> None:
    source = edit_dir / "demo_resolve.otio"  # Resolve leaves the timeline name empty; notes in Resolve_OTIO
    out = tmp_path / "out" / "resolve_to_premiere.xml"
    render_timeline(source, out, RenderOptions(backend="preview", only=("Verse 1",)))
    root = ET.parse(out).getroot()
    assert root.find(".//sequence").findtext("name") == "demo_resolve"  # type: ignore[union-attr]
    markers = {m.findtext("name"): m for m in root.iter("marker")}
    note = "motion: nods to the beat, holds the microphone"
    assert markers["Verse 1"].findtext("comment") == note
    generated = [m for c in root.iter("clipitem") if c.findtext("name") == "Verse 1" for m in c.iter("marker")]
    assert generated and all(m.findtext("pproColor") for m in generated)
    assert ppro_color_name(generated[0].findtext("pproColor")) == "Green"  # the section's GREEN marker


def test_clip_1_input_gets_no_newer_schema_back(edit_dir: Path, tmp_path: Path) -> None:
    current = otio.adapters.read_from_file(str(edit_dir / "demo_resolve.otio"))
    old_input = edit_dir / "demo_014.otio"
    otio.adapters.write_to_file(current, str(old_input),
                                target_schema_versions=otio.versioning.fetch_map("OTIO_CORE", "0.14.0"))
    used = schemas_in(old_input.read_text())
    assert used["Clip"] == 1

    out = tmp_path / "out" / "demo_avatar.otio"
    render_timeline(old_input, out, RenderOptions(backend="preview", only=("Chorus 2",)))
    written = schemas_in(out.read_text())
    assert written["Clip"] == 1 and '"Clip.2"' not in out.read_text()
    release = release_map("0.14.0")
    assert all(version <= used.get(name, release.get(name, version)) for name, version in written.items())

    back = otio.adapters.read_from_file(str(out))  # OTIO 0.18 reads it, frame-exact
    assert _ranges(back)[-1] == [("Chorus 2", 1056, 1296)]
    clip = back.tracks[-1].find_clips()[0]
    assert Path(url_to_path(clip.media_reference.target_url)).is_file()  # absolute file:// link by default
    assert clip.media_reference.target_url.startswith("file:///")
    song = next(c for c in back.find_clips() if "song" in str(getattr(c.media_reference, "target_url", "")))
    assert song.media_reference.target_url == (edit_dir / "song.wav").resolve().as_uri()


def test_otio_version_applies_to_otioz_and_is_checked(edit_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out" / "bundle.otioz"
    render_timeline(edit_dir / "demo_resolve.otio", out,
                    RenderOptions(backend="preview", only=("Outro",), schema_version="0.14.2"))
    with zipfile.ZipFile(out) as bundle:
        content = bundle.read("content.otio").decode()
    assert schemas_in(content)["Clip"] == 1
    assert json.loads(content)["OTIO_SCHEMA"] == "Timeline.1"
    for good in ("0.14", "0.15.0", "0.16.1", "0.17.0", "0.18.3", "v0.18.1"):
        assert release_map(good)["Clip"] in (1, 2)
    for bad in ("0.13.0", "0.19.0", "1.0", "latest"):
        with pytest.raises(OutputPathError, match="OTIO release"):
            release_map(bad)
    with pytest.raises(OutputPathError, match=r"\.otio and \.otioz"):
        render_timeline(edit_dir / "demo_resolve.otio", tmp_path / "x.xml",
                        RenderOptions(backend="preview", schema_version="0.14.0"))


def test_default_versions_follow_the_input() -> None:
    out = Path("o.otio")
    assert target_schema_versions(out, requested=None, input_versions=None) is None
    assert target_schema_versions(out, requested=None, input_versions={"Clip": 2, "Marker": 2}) is None
    assert target_schema_versions(out, requested=None, input_versions={"Marker": 3}) is None  # newer than us
    old = target_schema_versions(out, requested=None, input_versions={"Clip": 1, "Timeline": 1})
    assert old is not None and old["Clip"] == 1 and old["Marker"] == 2
    assert target_schema_versions(Path("o.xml"), requested="0.14.0", input_versions={"Clip": 1}) is None


def test_relative_paths_make_every_otio_link_relative(edit_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "renders" / "demo_avatar.otio"
    render_timeline(edit_dir / "demo_resolve.otio", out,
                    RenderOptions(backend="preview", only=("Intro",), relative_paths=True))
    back = otio.adapters.read_from_file(str(out))
    urls = [c.media_reference.target_url for c in back.find_clips()
            if isinstance(c.media_reference, otio.schema.ExternalReference)]
    assert urls and not any(u.startswith(("file:", "/")) for u in urls)
    assert all((out.parent / u).is_file() for u in urls)
    assert "../edit/song.wav" in urls
