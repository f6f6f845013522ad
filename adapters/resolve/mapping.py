"""Pure mapping between an otio-heygen output and a Resolve timeline: which clip goes where, which marker
became which render. No Resolve calls, no file I/O; ``bridge`` does those.

Frames are relative to the timeline's first frame, as ``GetMarkers()`` and OTIO stack-local time count them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import opentimelineio as otio

from otio_heygen import GENERATED_KEY, RenderedClip, is_generated_track, slugify

from .connect import url_to_path

__all__ = [
    "END_FRAME_EXCLUSIVE_SINCE",
    "MARKER_COLORS",
    "MarkerUpdate",
    "Placement",
    "canonical_color",
    "detect_marker_time",
    "end_frame_exclusive",
    "marker_updates",
    "parse_resolve_version",
    "placements_from_output",
]

MARKER_COLORS = (
    "Blue", "Cyan", "Green", "Yellow", "Red", "Pink", "Purple", "Fuchsia",
    "Rose", "Lavender", "Sky", "Mint", "Lemon", "Sand", "Cocoa", "Cream",
)  # fmt: skip
"""The marker colors Resolve knows (README "Analyze Slate Settings": resolve.MARKER_BLUE ... MARKER_CREAM)."""

END_FRAME_EXCLUSIVE_SINCE = (19, 0)
"""``AppendToTimeline``'s ``endFrame`` is exclusive from Resolve 19 and inclusive in 18.x (see API_NOTES.md)."""

_VERSION_TEXT = re.compile(r"(\d+)(?:\.(\d+))?")


def canonical_color(color: str) -> str | None:
    """``"green"`` -> ``"Green"``; None when Resolve has no marker color of that name."""
    return next((c for c in MARKER_COLORS if c.lower() == str(color).strip().lower()), None)


def parse_resolve_version(fields: object, text: object = None) -> tuple[int, int] | None:
    """(major, minor) from ``GetVersion()`` (``[major, minor, patch, build, suffix]``) or ``GetVersionString()``."""
    if isinstance(fields, (list, tuple)) and len(fields) >= 2:
        try:
            return int(fields[0]), int(fields[1])
        except (TypeError, ValueError):
            pass
    if isinstance(fields, dict) and fields:  # some bridges hand Lua-style tables back as {1: major, 2: minor}
        return parse_resolve_version([fields.get(k) for k in sorted(fields)], text)
    match = _VERSION_TEXT.match(str(text or "").strip())
    if match:
        return int(match.group(1)), int(match.group(2) or 0)
    return None


def end_frame_exclusive(version: tuple[int, int] | None) -> bool:
    """Whether ``endFrame`` in an ``AppendToTimeline`` clipInfo is exclusive (unknown version: the newest rule)."""
    return version is None or version >= END_FRAME_EXCLUSIVE_SINCE


_TAKE = re.compile(r"\s*\(take \d+\)$")


@dataclass(frozen=True)
class Placement:
    """One generated clip to put on the Resolve timeline (frames relative to the timeline start)."""

    track: int
    """0-based index among the generated tracks of the output."""
    track_name: str
    enabled: bool
    media: Path
    record_frame: int
    source_start: int
    source_end: int
    """Exclusive."""
    section: str
    section_start: int
    take: int
    job_key: str | None
    video_id: str | None


@dataclass(frozen=True)
class MarkerUpdate:
    """What to do to one Resolve marker: its new color (None = keep) and custom data."""

    frame: Any
    """The key exactly as ``GetMarkers()`` returned it (Resolve may use floats)."""
    color: str | None
    custom_data: str
    status: Literal["rendered", "failed"]


def _frame_key(frame: Any) -> int:
    return round(float(frame))


def detect_marker_time(
    exported: otio.schema.Timeline, markers: Mapping[Any, Mapping[str, Any]], start_frame: int
) -> Literal["auto", "absolute", "relative"]:
    """Whether the exported stack markers count from the timeline start (relative) or from 00:00:00:00.

    ``GetMarkers()`` gives the truth (relative frames); compare it with what the export wrote.
    """
    truth = {_frame_key(f) for f in markers}
    if not truth or start_frame == 0:
        return "auto"
    seen = {round(m.marked_range.start_time.value) for m in exported.tracks.markers}
    if not seen:
        return "auto"
    if seen <= truth:
        return "relative"
    if seen <= {f + start_frame for f in truth}:
        return "absolute"
    return "auto"


def _frames(t: otio.opentime.RationalTime, rate: float) -> int:
    value: float = t.value if abs(t.rate - rate) < 1e-9 else t.value_rescaled_to(rate)
    return round(value)


def placements_from_output(
    output: otio.schema.Timeline, base_dir: Path, clips: Sequence[RenderedClip] = ()
) -> list[Placement]:
    """Every clip on the generated tracks of the output timeline, in frames relative to its start.

    ``clips`` (``RenderResult.clips``) fills in video ids the output metadata does not carry.
    """
    ids = {c.media.name: c.video_id for c in clips}
    result: list[Placement] = []
    generated = [t for t in output.video_tracks() if is_generated_track(t)]
    for index, track in enumerate(generated):
        for clip in track.find_clips(shallow_search=True):
            ref = clip.media_reference
            if not isinstance(ref, otio.schema.ExternalReference) or not ref.target_url:
                continue
            rate = clip.source_range.duration.rate if clip.source_range else track.duration().rate
            placed = clip.range_in_parent()
            source = clip.source_range or clip.available_range()
            start = _frames(source.start_time, rate)
            meta = clip.metadata.get(GENERATED_KEY) or {}
            section = meta.get("section") or {}
            media = url_to_path(ref.target_url, base_dir)
            video_id = meta.get("video_id") or ids.get(media.name)
            record = _frames(placed.start_time, rate)
            result.append(
                Placement(
                    track=index,
                    track_name=track.name or "Avatar IV",
                    enabled=bool(track.enabled),
                    media=media,
                    record_frame=record,
                    source_start=start,
                    source_end=start + _frames(source.duration, rate),
                    section=str(section.get("name") or clip.name),
                    section_start=int(section.get("start_frame", record)),
                    take=int(meta.get("take") or 1),
                    job_key=meta.get("job_key"),
                    video_id=str(video_id) if video_id else None,
                )
            )
    return result


def _custom_data(old: Any, ours: dict[str, Any]) -> str:
    """Merge our entry into a marker's custom data, keeping whatever else was there."""
    data: dict[str, Any] = {}
    if isinstance(old, str) and old.strip():
        try:
            parsed = json.loads(old)
        except ValueError:
            parsed = None
        data = dict(parsed) if isinstance(parsed, dict) else {"previous_custom_data": old}
    data[GENERATED_KEY] = ours
    return json.dumps(data, sort_keys=True)


def marker_updates(
    markers: Mapping[Any, Mapping[str, Any]],
    placements: Sequence[Placement],
    failures: Sequence[tuple[str, str]],
    *,
    output_path: Path,
    recolor: bool,
    rendered_color: str = "Green",
    failed_color: str = "Red",
) -> list[MarkerUpdate]:
    """Which markers became which renders (matched by section start frame, else by name)."""
    by_frame = {_frame_key(f): f for f in markers}
    jobs: dict[Any, list[Placement]] = {}
    for p in placements:
        key = by_frame.get(p.section_start)
        if key is None:
            key = next((f for f, m in markers.items() if str(m.get("name", "")) == p.section), None)
        if key is not None:
            jobs.setdefault(key, []).append(p)
    updates: list[MarkerUpdate] = []
    for key, placed in jobs.items():
        entry = {
            "status": "rendered",
            "output": str(output_path),
            "jobs": [
                {"take": p.take, "job_key": p.job_key, "video_id": p.video_id, "media": str(p.media)}
                for p in sorted(placed, key=lambda p: p.take)
            ],
        }
        data = _custom_data(markers[key].get("customData"), entry)
        updates.append(MarkerUpdate(key, rendered_color if recolor else None, data, "rendered"))
    failed_names = {_TAKE.sub("", name): message for name, message in failures}
    failed_slugs = {slugify(name): message for name, message in failed_names.items()}
    for key, marker in markers.items():
        name = str(marker.get("name", ""))
        message = failed_names.get(name, failed_slugs.get(slugify(name)))
        if key in jobs or message is None:
            continue
        entry = {"status": "failed", "error": message, "output": str(output_path)}
        data = _custom_data(marker.get("customData"), entry)
        updates.append(MarkerUpdate(key, failed_color if recolor else None, data, "failed"))
    return updates
