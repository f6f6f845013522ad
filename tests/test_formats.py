"""Tests for otio_heygen.read.formats: render resolution and aspect ratio from a timeline's metadata."""

from __future__ import annotations

from pathlib import Path

import opentimelineio as otio
import pytest

from otio_heygen.output.writer import write_timeline
from otio_heygen.read.formats import aspect_for_size, guess_frame_size, guess_render_format, resolution_for_size

RT = otio.opentime.RationalTime


@pytest.mark.parametrize(
    ("width", "height", "resolution", "aspect"),
    [
        (1920, 1080, "1080p", "16:9"),
        (3840, 2160, "4k", "16:9"),
        (4096, 2160, "4k", "16:9"),
        (1280, 720, "720p", "16:9"),
        (1080, 1920, "1080p", "9:16"),
        (2160, 3840, "4k", "9:16"),
        (1080, 1350, "1080p", "4:5"),
        (1350, 1080, "1080p", "5:4"),
        (1080, 1080, "1080p", "1:1"),
        (720, 720, "720p", "1:1"),
        (2048, 858, "1080p", "16:9"),  # 2.39 scope: closest offered shape
        (2560, 1440, "4k", "16:9"),  # covers 1440 lines without upscaling
        (640, 480, "720p", "5:4"),
    ],
)
def test_size_mapping(width: int, height: int, resolution: str, aspect: str) -> None:
    assert resolution_for_size(width, height) == resolution
    assert aspect_for_size(width, height) == aspect


def test_resolve_metadata() -> None:
    tl = otio.schema.Timeline()
    tl.metadata["Resolve_OTIO"] = {"Resolve OTIO Meta Version": "1.0", "Width": "3840", "Height": "2160"}
    assert guess_render_format(tl) == ("4k", "16:9")


def test_fcp_xml_sequence_format_read_from_a_real_file(tmp_path: Path) -> None:
    tl = otio.schema.Timeline(name="vertical", global_start_time=RT(90000, 25))
    track = otio.schema.Track()
    track.append(otio.schema.Gap(duration=RT(50, 25)))
    tl.tracks.append(track)
    tl.metadata["fcp_xml"] = {
        "media": {"video": {"format": {"samplecharacteristics": {"width": "1080", "height": "1920"}}}}
    }
    path = tmp_path / "v.xml"
    write_timeline(tl, path)
    back = otio.adapters.read_from_file(str(path))
    assert guess_frame_size(back) == (1080, 1920)
    assert guess_render_format(back) == ("1080p", "9:16")


@pytest.mark.parametrize(
    "metadata",
    [
        {"kdenlive": {"profile": {"width": 1080, "height": 1350}}},
        {"project": {"resolution": "1080x1350"}},
        {"some_tool": [{"frame_width": 1080.0, "frame_height": 1350}]},
    ],
)
def test_generic_metadata(metadata: dict[str, object]) -> None:
    tl = otio.schema.Timeline()
    tl.metadata.update(metadata)
    assert guess_render_format(tl) == ("1080p", "4:5")


def test_stack_metadata_is_read_too() -> None:
    tl = otio.schema.Timeline()
    tl.tracks.metadata["Resolve_OTIO"] = {"width": 1280, "height": 720}
    assert guess_render_format(tl) == ("720p", "16:9")


@pytest.mark.parametrize(
    "metadata",
    [
        {},
        {"Resolve_OTIO": {"Locked": False}},
        {"fcp_xml": {"media": {"video": {"format": None}}}},
        {"x": {"width": "wide", "height": 1080}},
        {"x": {"width": 10, "height": 10}},  # implausible
        {"x": {"width": True, "height": True}},
    ],
)
def test_unknown(metadata: dict[str, object]) -> None:
    tl = otio.schema.Timeline()
    tl.metadata.update(metadata)
    assert guess_render_format(tl) == (None, None)
