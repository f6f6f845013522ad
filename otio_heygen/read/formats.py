"""Guess the render resolution and aspect ratio from a timeline's metadata (pure).

Owns the mapping from a timeline's frame size to HeyGen's choices (``4k``/``1080p``/``720p`` and
``16:9``/``9:16``/``4:5``/``5:4``/``1:1``). The frame size is read from wherever the dialect keeps
it: FCP7 XML's ``sequence/media/video/format/samplecharacteristics`` (``metadata["fcp_xml"]``),
Resolve's ``metadata["Resolve_OTIO"]``, or any width/height pair (or ``"1920x1080"`` string) in
the timeline's or its stack's metadata. Nothing found -> ``(None, None)``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["aspect_for_size", "guess_frame_size", "guess_render_format", "resolution_for_size"]

_ASPECTS: tuple[tuple[str, float], ...] = (
    ("16:9", 16 / 9),
    ("9:16", 9 / 16),
    ("4:5", 4 / 5),
    ("5:4", 5 / 4),
    ("1:1", 1.0),
)
_WIDTH_KEYS = ("width", "resolution width", "resolutionwidth", "timelineresolutionwidth", "frame width")
_HEIGHT_KEYS = (
    "height",
    "resolution height",
    "resolutionheight",
    "timelineresolutionheight",
    "frame height",
)
_SIZE_STRING = re.compile(r"^\s*(\d{3,5})\s*[xX×*]\s*(\d{3,5})\s*$")
_MAX_DEPTH = 8


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float) and math.isfinite(value):
        return int(value) if value > 0 else None
    if isinstance(value, str):
        match = re.match(r"^\s*(\d+)(?:\.0+)?\s*(?:px)?\s*$", value)
        return int(match.group(1)) if match and int(match.group(1)) > 0 else None
    return None


def _plausible(width: int, height: int) -> bool:
    return 100 <= width <= 16384 and 100 <= height <= 16384


def _norm(key: Any) -> str:
    return re.sub(r"[_\-]+", " ", str(key)).strip().lower()


def _size_in(meta: Any, depth: int = 0) -> tuple[int, int] | None:
    """First width/height pair found in a metadata tree (depth-first, dict order)."""
    if depth > _MAX_DEPTH:
        return None
    if isinstance(meta, Mapping):
        keys = {_norm(k): v for k, v in meta.items()}
        width = next((_as_int(keys[k]) for k in _WIDTH_KEYS if k in keys and _as_int(keys[k])), None)
        height = next((_as_int(keys[k]) for k in _HEIGHT_KEYS if k in keys and _as_int(keys[k])), None)
        if width and height and _plausible(width, height):
            return width, height
        for key in ("resolution", "timeline resolution", "format", "size", "frame size"):
            value = keys.get(key)
            if isinstance(value, str):
                match = _SIZE_STRING.match(value)
                if match and _plausible(int(match.group(1)), int(match.group(2))):
                    return int(match.group(1)), int(match.group(2))
        for value in meta.values():
            found = _size_in(value, depth + 1)
            if found:
                return found
    elif isinstance(meta, Sequence) and not isinstance(meta, str | bytes):
        for value in meta:
            found = _size_in(value, depth + 1)
            if found:
                return found
    return None


def guess_frame_size(timeline: Any) -> tuple[int, int] | None:
    """The timeline's frame size ``(width, height)`` from its metadata, or None."""
    metadata = getattr(timeline, "metadata", None) or {}
    preferred = []
    fcp = metadata.get("fcp_xml") if isinstance(metadata, Mapping) else None
    if isinstance(fcp, Mapping):
        media = fcp.get("media")
        video = media.get("video") if isinstance(media, Mapping) else None
        fmt = video.get("format") if isinstance(video, Mapping) else None
        preferred.append(fmt)
    if isinstance(metadata, Mapping):
        preferred.append(metadata.get("Resolve_OTIO"))
    preferred.append(metadata)
    tracks = getattr(timeline, "tracks", None)
    if tracks is not None:
        preferred.append(getattr(tracks, "metadata", None))
    for meta in preferred:
        if meta:
            found = _size_in(meta)
            if found:
                return found
    return None


def resolution_for_size(width: int, height: int) -> str:
    """The smallest HeyGen resolution that covers the frame's short side (no upscaling in the grade)."""
    short = min(width, height)
    if short <= 720:
        return "720p"
    if short <= 1080:
        return "1080p"
    return "4k"


def aspect_for_size(width: int, height: int) -> str:
    """The HeyGen aspect ratio closest to ``width/height`` (compared on a log scale)."""
    ratio = math.log(width / height)
    return min(_ASPECTS, key=lambda item: abs(math.log(item[1]) - ratio))[0]


def guess_render_format(timeline: Any) -> tuple[str | None, str | None]:
    """``(resolution, aspect)`` matching the timeline's frame size, or ``(None, None)`` if unknown."""
    size = guess_frame_size(timeline)
    if size is None:
        return None, None
    width, height = size
    return resolution_for_size(width, height), aspect_for_size(width, height)
