"""Thin wrappers over the Resolve scripting calls whose form depends on the Resolve version.

Owns: calling optional methods safely, reading the version, the OTIO export call, and rewriting section
markers (there is no call that recolors a marker). Sources for every fact: API_NOTES.md beside this file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .connect import FILE_ROUTE, ResolveError
from .mapping import MARKER_COLORS, MarkerUpdate, canonical_color, parse_resolve_version

__all__ = ["apply_marker_updates", "call", "export_otio", "marker_color", "resolve_version"]


def call(obj: Any, method: str, *args: Any) -> Any:
    """``obj.method(*args)``, or None when this Resolve lacks the method (older versions may answer None
    for an unknown attribute instead of raising) or the call fails."""
    fn = getattr(obj, method, None)
    if not callable(fn):
        return None
    try:
        return fn(*args)
    except Exception:  # a failing optional call must not stop the bridge
        return None


def resolve_version(resolve: Any) -> tuple[int, int] | None:
    """(major, minor) of the running Resolve, or None when it does not say."""
    return parse_resolve_version(call(resolve, "GetVersion"), call(resolve, "GetVersionString"))


def export_otio(resolve: Any, timeline: Any, path: Path, name: str, version: tuple[int, int] | None) -> None:
    """``Timeline.Export(path, resolve.EXPORT_OTIO, resolve.EXPORT_NONE)``; the subtype is ignored for OTIO."""
    kind = getattr(resolve, "EXPORT_OTIO", None)
    running = f" (this is {version[0]}.{version[1]})" if version else ""
    if kind is None:
        raise ResolveError(
            f"This DaVinci Resolve cannot export OpenTimelineIO{running}",
            hint="OTIO export and import need DaVinci Resolve 18.5 or later: update Resolve, then run again",
        )
    subtype = getattr(resolve, "EXPORT_NONE", None)
    args = (str(path), kind) if subtype is None else (str(path), kind, subtype)
    if not timeline.Export(*args):
        raise ResolveError(
            f"Resolve could not export '{name}' as OpenTimelineIO{running}",
            hint="check the folder is writable and the timeline is not empty; or use the file route: " + FILE_ROUTE,
        )


def _whole(value: Any) -> Any:
    """``96.0`` -> ``96``: GetMarkers() hands back floats; AddMarker is documented with whole frames."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def apply_marker_updates(
    timeline: Any, markers: Mapping[Any, Mapping[str, Any]], updates: Sequence[MarkerUpdate]
) -> list[str]:
    """Apply ``updates``; returns the names of the markers Resolve refused to change."""
    refused: list[str] = []
    for u in updates:
        m = markers[u.frame]
        label = str(m.get("name") or f"frame {_whole(u.frame)}")
        if u.color is None or u.color == m.get("color"):
            if not timeline.UpdateMarkerCustomData(u.frame, u.custom_data):
                refused.append(label)
            continue
        # No API changes a marker's color: delete it and add it again with the same name, note and duration.
        args = (str(m.get("name", "")), str(m.get("note", "")), _whole(m.get("duration", 1)))
        if not timeline.DeleteMarkerAtFrame(u.frame):
            refused.append(label)
            continue
        if not timeline.AddMarker(_whole(u.frame), u.color, *args, u.custom_data):
            timeline.AddMarker(_whole(u.frame), m.get("color", "Blue"), *args, m.get("customData", ""))
            refused.append(label)
    return refused


def marker_color(color: str, what: str) -> str:
    found = canonical_color(color)
    if found is None:
        raise ResolveError(
            f"'{color}' is not a DaVinci Resolve marker color (the {what} color)",
            hint="use one of " + ", ".join(MARKER_COLORS),
        )
    return found
