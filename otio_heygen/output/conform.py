"""Conform: place finished clips on a copy of the input timeline (pure, no file I/O).

Owns the layout of the generated tracks: one top-level video track (default "Avatar IV")
built as ``Gap + Clip + Gap + Clip`` in whole frames at exactly the timeline's rate, extra
takes on disabled tracks ("Avatar IV take 2", ...), overlapping sections spilled to further
tracks, a marker per clip, a RED marker for clips whose lip-sync is off, and provenance in
``metadata["otio_heygen"]``. Re-running replaces the tool's own tracks; everything else in the
timeline is left exactly as it was.

Sync offset convention: ``ClipResult.sync_offset_ms`` is positive when the clip's audio comes
*later* than the audio that was sent. ``fix_sync`` moves the clip's ``source_range`` later by
the offset (rounded to whole frames) so picture and song line up again.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

import opentimelineio as otio

from otio_heygen.planning.types import ClipResult

__all__ = [
    "GENERATED_KEY",
    "conform",
    "is_generated_track",
    "json_safe",
    "sync_marker_name",
    "timeline_rate",
]

GENERATED_KEY = "otio_heygen"
"""Metadata key on generated tracks and clips."""

_DEFAULT_MARKER_COLOR = otio.schema.MarkerColor.GREEN
_SYNC_MARKER_COLOR = otio.schema.MarkerColor.RED
_MEDIA_NAME = re.compile(r"^\d{2,}_.+_take\d+\.[A-Za-z0-9]+$")


def is_generated_track(track: Any) -> bool:
    """True for a track this tool made (its metadata says so, or every clip carries our provenance).

    The second test catches tracks that went through a format that drops track metadata
    (FCP7 XML keeps clip metadata only partly, so clips whose media file names follow our
    ``03_Chorus_1_take1.mp4`` pattern count too).
    """
    if not isinstance(track, otio.schema.Track):
        return False
    meta = track.metadata.get(GENERATED_KEY)
    if isinstance(meta, Mapping) and meta.get("generated"):
        return True
    clips = [item for item in track if isinstance(item, otio.schema.Clip)]
    if not clips or track.kind != otio.schema.TrackKind.Video:
        return False
    if any(not isinstance(item, otio.schema.Clip | otio.schema.Gap) for item in track):
        return False
    return all(_clip_looks_generated(clip) for clip in clips)


def _clip_looks_generated(clip: Any) -> bool:
    if GENERATED_KEY in clip.metadata:
        return True
    ref = clip.media_reference
    if not isinstance(ref, otio.schema.ExternalReference) or not ref.target_url:
        return False
    name = PurePath(ref.target_url.replace("\\", "/")).name
    return bool(_MEDIA_NAME.match(name)) and PurePath(ref.target_url.replace("\\", "/")).parent.name.endswith("_media")


def timeline_rate(timeline: otio.schema.Timeline, section_rate: float) -> float:
    """The rate object to build new items at: the timeline's own when it agrees with the sections'.

    Never rescales between near-identical NTSC rates: if the timeline says ``24000/1001`` and the
    sections were computed at ``23.976``, frame counts are the same and the timeline's float wins.
    """
    gst = timeline.global_start_time
    if gst is not None and gst.rate > 0 and math.isclose(gst.rate, section_rate, rel_tol=1e-3):
        return float(gst.rate)
    return float(section_rate)


def json_safe(value: Any) -> Any:
    """A copy of ``value`` using only JSON types OTIO metadata stores (paths and others become strings)."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value if -(2**63) <= value < 2**63 else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, Sequence | set | frozenset):
        return [json_safe(v) for v in value]
    if isinstance(value, _dt.datetime | _dt.date):
        return value.isoformat()
    return str(value)


def sync_marker_name(offset_ms: float, offset_frames: float, *, shifted_frames: int = 0) -> str:
    """``"sync +83ms (2.0 frames)"``, plus ``", shifted 2 frames"`` when ``fix_sync`` moved the clip."""
    text = f"sync {offset_ms:+.0f}ms ({offset_frames:.1f} frames)"
    if shifted_frames:
        text += f", shifted {shifted_frames:+d} frames"
    return text


@dataclass
class _Placed:
    result: ClipResult
    rank: int
    """1 = main clip of its section, 2 = second take, ..."""


def conform(
    timeline: otio.schema.Timeline,
    results: Sequence[ClipResult],
    *,
    url_for: Callable[[Path], str],
    track_name: str = "Avatar IV",
    fix_sync: bool = False,
    sync_tolerance_frames: float = 1.0,
    created_at: str | None = None,
) -> otio.schema.Timeline:
    """A copy of ``timeline`` with the tool's tracks replaced by new ones holding ``results``.

    ``results`` come ordered; per section the first is the main clip, the next ones are
    takes 2, 3... ``url_for`` turns a media path into the ``target_url`` to write.
    """
    out: otio.schema.Timeline = timeline.deepcopy()
    stack = out.tracks
    for index in reversed(range(len(stack))):
        if is_generated_track(stack[index]):
            del stack[index]
    if not results:
        return out

    now = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()
    rate = timeline_rate(out, results[0].job.section.rate)

    seen: dict[tuple[int, str], int] = {}
    by_rank: dict[int, list[_Placed]] = {}
    for result in results:
        sec = result.job.section
        ident = (sec.index, sec.name)
        seen[ident] = seen.get(ident, 0) + 1
        rank = seen[ident]
        by_rank.setdefault(rank, []).append(_Placed(result, rank))

    for rank in sorted(by_rank):
        base = track_name if rank == 1 else f"{track_name} take {rank}"
        lanes = _spill(by_rank[rank])
        for lane_no, lane in enumerate(lanes, start=1):
            name = base if lane_no == 1 else f"{base} ({lane_no})"
            track = _build_track(
                lane,
                name=name,
                rate=rate,
                enabled=rank == 1,
                url_for=url_for,
                fix_sync=fix_sync,
                tolerance=sync_tolerance_frames,
                created_at=created_at,
                now=now,
            )
            stack.append(track)
    return out


def _spill(placed: list[_Placed]) -> list[list[_Placed]]:
    """Greedy interval colouring: each lane holds clips that do not overlap, in start order."""
    lanes: list[list[_Placed]] = []
    ends: list[int] = []
    ordered = sorted(placed, key=lambda p: (p.result.job.section.start_frame, p.result.job.section.end_frame))
    for item in ordered:
        sec = item.result.job.section
        for lane_no, end in enumerate(ends):
            if sec.start_frame >= end:
                lanes[lane_no].append(item)
                ends[lane_no] = sec.end_frame
                break
        else:
            lanes.append([item])
            ends.append(sec.end_frame)
    return lanes


def _build_track(
    lane: list[_Placed],
    *,
    name: str,
    rate: float,
    enabled: bool,
    url_for: Callable[[Path], str],
    fix_sync: bool,
    tolerance: float,
    created_at: str | None,
    now: str,
) -> otio.schema.Track:
    track = otio.schema.Track(name=name, kind=otio.schema.TrackKind.Video)
    track.enabled = enabled
    track.metadata[GENERATED_KEY] = {"generated": True}
    track.metadata["Resolve_OTIO"] = {"Locked": False}
    cursor = 0
    for item in lane:
        sec = item.result.job.section
        if sec.start_frame > cursor:
            track.append(otio.schema.Gap(duration=otio.opentime.RationalTime(sec.start_frame - cursor, rate)))
        track.append(
            _build_clip(
                item,
                rate=rate,
                url_for=url_for,
                fix_sync=fix_sync,
                tolerance=tolerance,
                created_at=created_at or str(item.result.provenance.get("created_at") or now),
            )
        )
        cursor = sec.end_frame
    return track


def _build_clip(
    item: _Placed,
    *,
    rate: float,
    url_for: Callable[[Path], str],
    fix_sync: bool,
    tolerance: float,
    created_at: str,
) -> otio.schema.Clip:
    result = item.result
    job = result.job
    sec = job.section
    media_frames = int(result.media_duration_frames)
    duration = sec.duration_frames
    source_start = sec.start_frame - job.audio_start_frame

    offset_ms = result.sync_offset_ms
    offset_frames = None if offset_ms is None else offset_ms * rate / 1000.0
    off_sync = offset_frames is not None and abs(offset_frames) > tolerance
    shift = 0
    if fix_sync and off_sync and offset_frames is not None:
        # Keep the shifted range inside the media (never before its first frame).
        upper = max(media_frames - duration - source_start, 0)
        shift = max(-source_start, min(round(offset_frames), upper))
        source_start += shift

    def rt(frames: int) -> otio.opentime.RationalTime:
        return otio.opentime.RationalTime(frames, rate)

    # Media with a start timecode (grade formats) is addressed on its own clock, as NLEs do.
    origin = result.media_start_frame
    ref = otio.schema.ExternalReference(
        target_url=url_for(result.media_path),
        available_range=otio.opentime.TimeRange(rt(origin), rt(media_frames)),
    )
    ref.name = result.media_path.name
    source_range = otio.opentime.TimeRange(rt(origin + source_start), rt(duration))
    clip = otio.schema.Clip(name=sec.name, media_reference=ref, source_range=source_range)

    clip.markers.append(
        otio.schema.Marker(
            name=sec.name,
            marked_range=source_range,
            color=sec.color or _DEFAULT_MARKER_COLOR,
        )
    )
    if off_sync and offset_ms is not None and offset_frames is not None:
        marker = otio.schema.Marker(
            name=sync_marker_name(offset_ms, offset_frames, shifted_frames=shift),
            marked_range=otio.opentime.TimeRange(rt(origin + source_start), rt(1)),
            color=_SYNC_MARKER_COLOR,
        )
        marker.comment = marker.name
        clip.markers.append(marker)

    prov = _provenance(result, rank=item.rank, offset_frames=offset_frames, shift=shift, created_at=created_at)
    # Frames the clip shows beyond the end of the media (a render a little shorter than its audio).
    prov["media_short_frames"] = max(0, source_start + duration - media_frames)
    clip.metadata[GENERATED_KEY] = prov
    return clip


def _provenance(
    result: ClipResult, *, rank: int, offset_frames: float | None, shift: int, created_at: str
) -> dict[str, Any]:
    job = result.job
    sec = job.section
    settings = job.settings
    prov: dict[str, Any] = {
        "job_key": job.key,
        "video_id": None,
        "section": {
            "name": sec.name,
            "index": sec.index,
            "slug": sec.slug,
            "start_frame": sec.start_frame,
            "end_frame": sec.end_frame,
            "rate": sec.rate,
            "color": sec.color,
        },
        "take": job.take,
        "track_rank": rank,
        "handles_frames": job.handles_frames,
        "photo": str(settings.image),
        "motion_prompt": settings.motion_prompt,
        "settings": {
            "expressiveness": settings.expressiveness,
            "resolution": settings.resolution,
            "aspect_ratio": settings.aspect_ratio,
            "fit": settings.fit,
            "takes": settings.takes,
        },
        "cost_usd": None,
        "media_file": result.media_path.name,
        "media_duration_frames": result.media_duration_frames,
        "sync_offset_ms": result.sync_offset_ms,
        "sync_offset_frames": offset_frames,
        "sync_shift_frames": shift,
        "created_at": created_at,
    }
    for key, value in result.provenance.items():
        if key != "created_at":
            prov[str(key)] = value
    if "cost" in prov and prov.get("cost_usd") is None:
        prov["cost_usd"] = prov["cost"]
    prov["created_at"] = created_at
    safe = json_safe(prov)
    assert isinstance(safe, dict)
    return safe
