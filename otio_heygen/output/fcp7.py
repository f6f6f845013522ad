"""FCP7 XML output that Premiere (and Resolve) import without touch-ups.

Owns what otio-fcp-adapter does not do by itself:

- every ``<pathurl>`` an absolute ``file://localhost/...`` URL (the song and other media the input
  referenced by a relative path are resolved against the input's folder), so Premiere can relink;
  with one URL per file the adapter writes one ``<file id>`` per media file and back-references it;
- every ``<clipitem>`` gets a ``<masterclipid>`` (one per media file), as Premiere's own exports have;
- the sequence takes the timeline's name (or the input file's stem when the timeline has none, as
  Resolve exports), never the stack's "tracks";
- marker notes (``marker.comment``, Resolve's ``Note``) become ``<comment>``s and marker colors
  become Premiere ``pproColor`` swatches;
- disabled tracks say so, generators without FCP metadata survive, and every sequence carries a
  filled ``<format>`` block (Resolve ignores XML without one, OTIO #839).
"""

from __future__ import annotations

import copy as _copy
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from pathlib import Path, PurePath, PureWindowsPath
from typing import Any

import opentimelineio as otio

from otio_heygen.errors import OutputPathError
from otio_heygen.read.dialects import ppro_color_value
from otio_heygen.read.formats import guess_frame_size
from otio_heygen.urls import fcp_path_url, url_to_path

__all__ = ["finish_xml", "prepare_for_xml"]


def _absolute(path: PurePath) -> bool:
    return path.is_absolute() or (isinstance(path, PureWindowsPath) and bool(path.drive))


def _markers(timeline: otio.schema.Timeline) -> Iterator[Any]:
    yield from timeline.tracks.markers
    for child in timeline.tracks.find_children():
        yield from getattr(child, "markers", ())


def _link(ref: Any, base: Path) -> None:
    """An absolute ``file://localhost/`` URL for an external reference (relative ones against ``base``)."""
    url = getattr(ref, "target_url", None)
    if not isinstance(url, str) or not url.strip():
        return
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme and scheme != "file" and len(scheme) > 1:  # http:, s3:... stay as they are
        return
    path = url_to_path(url, base)
    if not _absolute(path):
        return
    ref.target_url = fcp_path_url(path)
    if not ref.name:
        ref.name = path.name  # else the adapter writes a percent-encoded <name>


def _marker_for_xml(marker: Any) -> None:
    md = dict(marker.metadata.get("fcp_xml") or {})
    if not md.get("comment"):
        resolve = marker.metadata.get("Resolve_OTIO")
        note = resolve.get("Note") if isinstance(resolve, Mapping) else None
        text = marker.comment or (note if isinstance(note, str) else "")
        if text:
            md["comment"] = text
    if "pproColor" not in md:
        value = ppro_color_value(marker.color)
        if value is not None:
            md["pproColor"] = str(value)
    if md:
        marker.metadata["fcp_xml"] = md


def prepare_for_xml(timeline: otio.schema.Timeline, *, base: Path, name: str) -> otio.schema.Timeline:
    """A copy ready for the FCP7 XML adapter. ``base`` resolves relative media references (the
    input's folder); ``name`` names the sequence when the timeline has no name."""
    copy: otio.schema.Timeline = timeline.deepcopy()
    if not copy.name:
        copy.name = name
    for clip in copy.find_clips():
        for ref in clip.media_references().values():
            _link(ref, base)
        ref = clip.media_reference
        if isinstance(ref, otio.schema.GeneratorReference) and "effecttype" not in (ref.metadata.get("fcp_xml") or {}):
            # otio-fcp-adapter 1.0 crashes on generators without FCP effect metadata (Resolve's solid
            # colours, titles...): describe them as FCP7 generator items so they survive as such.
            ref.metadata["fcp_xml"] = {"effecttype": "generator", "mediatype": "video", "effectcategory": "Matte"}
    for track in copy.tracks:
        if isinstance(track, otio.schema.Track) and not track.enabled:
            track_md = dict(track.metadata.get("fcp_xml") or {})
            track_md.setdefault("enabled", "FALSE")
            track.metadata["fcp_xml"] = track_md
    for marker in _markers(copy):
        _marker_for_xml(marker)
    return _with_xml_format(copy)


def _with_xml_format(copy: otio.schema.Timeline) -> otio.schema.Timeline:
    fcp = dict(copy.metadata.get("fcp_xml") or {})
    media = dict(fcp.get("media") or {})
    video = dict(media.get("video") or {})
    fmt = video.get("format")
    if isinstance(fmt, Mapping) and fmt.get("samplecharacteristics"):
        return copy
    width, height = guess_frame_size(copy) or (1920, 1080)
    rate = copy.global_start_time.rate if copy.global_start_time is not None else None
    if rate is None:
        rate = next((c.source_range.duration.rate for c in copy.find_clips() if c.source_range), 24.0)
    ntsc = abs(round(rate) - rate) > 1e-6
    video["format"] = {
        "samplecharacteristics": {
            "rate": {"timebase": str(round(rate)), "ntsc": "TRUE" if ntsc else "FALSE"},
            "width": str(width),
            "height": str(height),
            "anamorphic": "FALSE",
            "pixelaspectratio": "square",
            "fielddominance": "none",
        }
    }
    media["video"] = video
    fcp["media"] = media
    copy.metadata["fcp_xml"] = fcp
    return copy


def _fill_formats(root: ET.Element, final_name: str) -> None:
    """Give every sequence (nested ones too) a filled ``<format>``; the adapter leaves nested ones empty."""
    sequences = list(root.iter("sequence"))
    filled = next(
        (
            fmt.find("samplecharacteristics")
            for seq in sequences
            if (fmt := seq.find("./media/video/format")) is not None and fmt.find("samplecharacteristics") is not None
        ),
        None,
    )
    if filled is None:
        raise OutputPathError(
            f"The FCP7 XML written for '{final_name}' has no <format> block; Resolve would ignore it",
            hint="write .otio instead",
        )
    for seq in sequences:
        video = seq.find("./media/video")
        if video is None:
            continue
        fmt = video.find("format")
        if fmt is None:
            fmt = ET.Element("format")
            video.insert(0, fmt)
        if fmt.find("samplecharacteristics") is None:
            fmt.append(_copy.deepcopy(filled))


def _add_masterclip_ids(root: ET.Element) -> None:
    """``<masterclipid>masterclip-N</masterclipid>`` first in every clipitem, one N per ``<file id>``."""
    masters: dict[str, str] = {}
    for item in root.iter("clipitem"):
        if item.find("masterclipid") is not None:
            continue
        file_e = item.find("file")
        key = file_e.get("id") if file_e is not None else None
        key = key or f"clip:{item.get('id') or len(masters)}"
        master = masters.setdefault(key, f"masterclip-{len(masters) + 1}")
        element = ET.Element("masterclipid")
        element.text = master
        item.insert(0, element)


def finish_xml(path: Path, final_name: str) -> None:
    """Post-process the adapter's XML in place: formats and master clip ids."""
    tree = ET.parse(path)
    root = tree.getroot()
    _fill_formats(root, final_name)
    _add_masterclip_ids(root)
    tree.write(path, encoding="UTF-8", xml_declaration=True)
