"""The Premiere Pro file route: version -> format, and a whole render of a Premiere-style export."""

from __future__ import annotations

from pathlib import Path

import opentimelineio as otio
import pytest

from otio_heygen import RenderOptions
from otio_heygen.adapters.premiere import route
from otio_heygen.errors import InputError
from otio_heygen.output.conform import is_generated_track
from tests.support.resolve_fake import make_fake, write_png, write_wav


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("25.6", (25, 6)),
        ("25.6.1", (25, 6)),
        ("Premiere Pro 2025", (25, 0)),
        ("v26", (26, 0)),
        ("24", (24, 0)),
        ("", None),
        (None, None),
    ],
)
def test_parse_version(text: str | None, expected: tuple[int, int] | None) -> None:
    assert route.parse_version(text) == expected


def test_unreadable_version_is_an_input_error() -> None:
    with pytest.raises(InputError, match="Help > About"):
        route.parse_version("latest")


@pytest.mark.parametrize(
    ("version", "name", "suffix"),
    [
        ("25.6", "seq.xml", ".otio"),
        ("25.5", "seq.otio", ".xml"),
        ("2026", "seq.xml", ".otio"),
        ("24.2", "seq.xml", ".xml"),
        (None, "seq.otio", ".otio"),
        (None, "seq.xml", ".xml"),
    ],
)
def test_output_format_follows_the_premiere_version(version: str | None, name: str, suffix: str) -> None:
    out = route.premiere_output_path(Path("/edits") / name, None, version)
    assert out == Path("/edits") / f"seq_avatar{suffix}"
    assert route.premiere_output_path(Path("/edits") / name, Path("/out"), version).parent == Path("/out")


def _premiere_xml(tmp: Path) -> Path:
    """A small sequence as Premiere exports it (FCP7 XML, sequence markers with comments, song on A1)."""
    song = write_wav(tmp / "song.wav", 4.0)
    timeline = make_fake(song, [(0, "Red", "Intro", 36, ""), (48, "Red", "Verse", 48, "")], length=96, start=0)
    assert timeline.project is not None and timeline.project.current is not None
    tl = timeline.project.current.to_otio()
    tl.name = "Sequence 01"
    for marker in tl.tracks.markers:
        note = str(marker.metadata["Resolve_OTIO"]["Note"])
        del marker.metadata["Resolve_OTIO"]
        marker.metadata["fcp_xml"] = {"comment": note}
    path = tmp / "Sequence 01.xml"
    otio.adapters.write_to_file(tl, str(path))
    return path


def test_prepare_premiere_import_renders_xml_for_older_premiere(tmp_path: Path) -> None:
    xml = _premiere_xml(tmp_path)
    options = RenderOptions(backend="preview", image=write_png(tmp_path / "artist.png"))
    result = route.prepare_premiere_import(xml, tmp_path / "out", "24.2", options)
    assert result.output_path == tmp_path / "out" / "Sequence 01_avatar.xml"
    assert result.summary is not None and result.summary.rendered == 2

    back = otio.adapters.read_from_file(str(result.output_path))
    (track,) = [t for t in back.video_tracks() if is_generated_track(t)]
    starts = [round(c.range_in_parent().start_time.value) for c in track.find_clips()]
    assert starts == [0, 48]
    for clip in track.find_clips():
        url = clip.media_reference.target_url
        assert url.startswith("file://localhost/")
        assert Path(otio.url_utils.filepath_from_url(url.replace("file://localhost/", "file:///"))).is_file()

    text = result.instructions_path.read_text()
    assert result.instructions_path.name == "Sequence 01_avatar_IMPORT.txt"
    assert "File > Import..." in text and str(result.output_path) in text and "Final Cut Pro XML" in text
    assert "Link Media" in text and str(result.summary.media_dir) in text


def test_prepare_premiere_import_writes_otio_for_premiere_25_6(tmp_path: Path) -> None:
    xml = _premiere_xml(tmp_path)
    options = RenderOptions(backend="preview", image=write_png(tmp_path / "artist.png"), only=("Verse",))
    result = route.prepare_premiere_import(xml, None, "25.6", options)
    assert result.output_path == tmp_path / "Sequence 01_avatar.otio"
    back = otio.adapters.read_from_file(str(result.output_path))
    (track,) = [t for t in back.video_tracks() if is_generated_track(t)]
    (clip,) = track.find_clips()
    assert round(clip.range_in_parent().start_time.value) == 48
    assert "OpenTimelineIO" in result.instructions_path.read_text()


def test_cli_premiere_command_prints_the_import_steps(tmp_path: Path) -> None:
    from click.testing import CliRunner

    import otio_heygen.cli.main  # noqa: F401 - the real entry order: main imports resolve_cmd
    from otio_heygen.cli.resolve_cmd import premiere

    xml = _premiere_xml(tmp_path)
    photo = write_png(tmp_path / "artist.png")
    res = CliRunner().invoke(
        premiere,
        [str(xml), "--premiere-version", "24.2", "--backend", "preview", "--image", str(photo), "--only", "Intro"],
    )
    assert res.exit_code == 0, res.output
    assert "1. In Premiere Pro choose File > Import..." in res.output
    assert (tmp_path / "Sequence 01_avatar.xml").is_file() and (tmp_path / "Sequence 01_avatar_IMPORT.txt").is_file()
