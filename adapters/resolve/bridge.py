"""The DaVinci Resolve bridge: one action that renders the marked sections of the open timeline.

Owns everything that talks to Resolve's scripting API (``resolve`` object, duck-typed so tests drive a
fake): connecting, exporting the current timeline to OTIO, handing it to
``otio_heygen.render_file``, importing the media into a bin, bringing the result back (a
new timeline imported from the output file, or clips on new video tracks of the current timeline at the
section frames), and recoloring the section markers with the job ids in their custom data.

The pure parts (``placements_from_output``, ``marker_updates``, ``detect_marker_time``) live in
``mapping``; ``run_bridge`` is the only function that does I/O. Resolve facts relied on (sources in
API_NOTES.md): marker frames from ``GetMarkers()`` count from the timeline's first frame; ``AppendToTimeline``'s
``recordFrame`` is absolute (timeline start frame included), its frames must be whole numbers, and ``endFrame``
is exclusive from Resolve 19 but inclusive in 18.x (the placed lengths are read back and corrected);
``EXPORT_OTIO`` exists from Resolve 18.5; marker colors are the 16 of ``mapping.MARKER_COLORS``.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import opentimelineio as otio

import otio_heygen
from otio_heygen import ProgressEvent, RenderOptions, RenderResult, slugify

from .api import apply_marker_updates, call, export_otio, marker_color, resolve_version
from .connect import FILE_ROUTE, ResolveError, connect
from .mapping import (
    MARKER_COLORS,
    MarkerUpdate,
    Placement,
    detect_marker_time,
    end_frame_exclusive,
    marker_updates,
    placements_from_output,
)

__all__ = [
    "BIN_NAME",
    "FILE_ROUTE",
    "MARKER_COLORS",
    "BridgeOptions",
    "BridgeResult",
    "MarkerUpdate",
    "Placement",
    "ResolveError",
    "connect",
    "default_output_dir",
    "detect_marker_time",
    "marker_updates",
    "placements_from_output",
    "resolve_version",
    "run_bridge",
]

BIN_NAME = "otio-heygen"
TIMELINE_SUFFIX = " + Avatar IV"
MEDIA_TYPE_VIDEO = 1
"""``mediaType`` for ``AppendToTimeline``: video only (the song is already on the timeline)."""

RenderFn = Callable[..., RenderResult]
Log = Callable[[str], None]


@dataclass(frozen=True)
class BridgeOptions:
    """How the bridge runs; ``render`` carries the usual ``otio-heygen render`` options (its ``backend``
    must be named: the caller chooses it)."""

    place: Literal["track", "timeline"] = "track"
    render: RenderOptions = field(default_factory=RenderOptions)
    output_dir: Path | None = None
    """Where the output timeline, its ``_media`` folder and the journal go (stable per timeline)."""
    bin_name: str = BIN_NAME
    color_markers: bool | None = None
    """Recolor section markers; None = yes unless sections are selected by marker color."""
    rendered_color: str = "Green"
    failed_color: str = "Red"


@dataclass
class BridgeResult:
    summary: RenderResult
    output_path: Path
    placements: list[Placement]
    track_indices: list[int] = field(default_factory=list)
    new_timeline_name: str | None = None
    marker_updates: list[MarkerUpdate] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def default_output_dir(project_name: str, timeline_name: str) -> Path:
    """``~/Documents/otio-heygen/<project>/<timeline>/``: stable, so re-runs reuse the journal."""
    import platformdirs

    docs = Path(platformdirs.user_documents_dir())
    return docs / "otio-heygen" / slugify(project_name, "project") / slugify(timeline_name, "timeline")


# ------------------------------------------------------------------------------------------- Resolve


def _bin(media_pool: Any, name: str) -> Any:
    root = media_pool.GetRootFolder()
    for folder in root.GetSubFolderList() or []:
        if folder.GetName() == name:
            return folder
    folder = media_pool.AddSubFolder(root, name)
    if not folder:
        raise ResolveError(f"Resolve refused to create the media pool bin '{name}'")
    return folder


def _norm(path: object) -> str:
    """A comparable form of a media path (Resolve may report the real path, other slashes or case)."""
    text = str(path or "")
    if text and os.path.exists(text):
        text = os.path.realpath(text)
    return text.replace("\\", "/").lower()


def _file_name(item: Any) -> str:
    return str(item.GetClipProperty("File Path") or "").replace("\\", "/").rsplit("/", 1)[-1] or str(item.GetName())


def _import_media(media_pool: Any, folder: Any, paths: Sequence[Path]) -> dict[str, Any]:
    """Media pool items for ``paths`` (reusing the bin's items for files imported by an earlier run)."""
    items = {_norm(i.GetClipProperty("File Path")): i for i in folder.GetClipList() or []}
    missing = sorted({str(p) for p in paths if _norm(p) not in items})
    if missing:
        media_pool.SetCurrentFolder(folder)
        imported = [i for i in media_pool.ImportMedia(missing) or [] if i]
        items.update({_norm(i.GetClipProperty("File Path")): i for i in imported})
        by_name = {_file_name(i): i for i in imported}  # only this import's items: names repeat across runs
        for p in missing:
            if _norm(p) not in items and Path(p).name in by_name:
                items[_norm(p)] = by_name[Path(p).name]
    lost = [p.name for p in paths if _norm(p) not in items]
    if lost:
        raise ResolveError(
            f"Resolve could not import {', '.join(lost)}",
            hint="check the files exist and that Resolve can read MP4 (H.264/AAC)",
        )
    return {_norm(p): items[_norm(p)] for p in paths}


def _unique_track_name(timeline: Any, name: str) -> str:
    count = int(timeline.GetTrackCount("video") or 0)
    taken = {timeline.GetTrackName("video", i) for i in range(1, count + 1)}
    if name not in taken:
        return name
    n = 2
    while f"{name} ({n})" in taken:
        n += 1
    return f"{name} ({n})"


def _duration(item: Any) -> int | None:
    value = call(item, "GetDuration")
    return round(float(value)) if isinstance(value, (int, float)) else None


def _append(media_pool: Any, infos: list[dict[str, Any]], index: int) -> list[Any]:
    answer = media_pool.AppendToTimeline(infos)  # a list of TimelineItems; Resolve 17 answered a bool
    appended = [a for a in answer if a] if isinstance(answer, (list, tuple)) else []
    if len(appended) != len(infos):
        raise ResolveError(
            f"Resolve placed {len(appended)} of {len(infos)} clips on track {index}",
            hint="import the output timeline instead (--place timeline)",
        )
    return appended


def _place_on_tracks(
    media_pool: Any,
    timeline: Any,
    placements: Sequence[Placement],
    items: Mapping[str, Any],
    version: tuple[int, int] | None,
    notes: list[str],
) -> list[int]:
    start = int(timeline.GetStartFrame())
    inclusive = 0 if end_frame_exclusive(version) else 1
    indices: list[int] = []
    for track in sorted({p.track for p in placements}):
        mine = sorted((p for p in placements if p.track == track), key=lambda p: p.record_frame)
        if not timeline.AddTrack("video"):
            raise ResolveError("Resolve refused to add a video track to the timeline")
        index = int(timeline.GetTrackCount("video"))
        timeline.SetTrackName("video", index, _unique_track_name(timeline, mine[0].track_name))
        if not mine[0].enabled:
            call(timeline, "SetTrackEnable", "video", index, False)
        infos = [
            {
                "mediaPoolItem": items[_norm(p.media)],
                "startFrame": int(p.source_start),
                "endFrame": int(p.source_end) - inclusive,
                "trackIndex": index,
                "recordFrame": start + int(p.record_frame),
                "mediaType": MEDIA_TYPE_VIDEO,
            }
            for p in mine
        ]
        appended = _append(media_pool, infos, index)
        # Read the lengths back: the endFrame rule changed in Resolve 19 and the version may be unknown.
        deltas = {(_duration(a) or 0) - (p.source_end - p.source_start) for a, p in zip(appended, mine, strict=True)}
        if deltas in ({1}, {-1}) and all(_duration(a) is not None for a in appended):
            (delta,) = deltas
            if call(timeline, "DeleteClips", appended, False):
                appended = _append(media_pool, [{**i, "endFrame": i["endFrame"] - delta} for i in infos], index)
                notes.append(f"Resolve read endFrame the other way round; re-placed track {index} to the frame")
            else:
                notes.append(f"the clips on track {index} came out {delta:+d} frame long; trim them by hand")
        elif deltas - {0}:
            notes.append(f"some clips on track {index} differ in length from the render; check them")
        indices.append(index)
    return indices


def _unique_timeline_name(project: Any, name: str) -> str:
    count = int(project.GetTimelineCount() or 0)
    taken = {project.GetTimelineByIndex(i).GetName() for i in range(1, count + 1)}
    n = 2
    unique = name
    while unique in taken:
        unique, n = f"{name} ({n})", n + 1
    return unique


def _import_timeline(media_pool: Any, folder: Any, output: Path, name: str, media_dir: Path) -> Any:
    media_pool.SetCurrentFolder(folder)
    # importSourceClips False: link to the clips already in the bin ("sourceClipsFolders" is where to look).
    options = {"timelineName": name, "importSourceClips": False, "sourceClipsFolders": [folder]}
    imported = media_pool.ImportTimelineFromFile(str(output), options)
    if not imported:  # some versions only link when they import the source clips themselves
        imported = media_pool.ImportTimelineFromFile(
            str(output), {"timelineName": name, "importSourceClips": True, "sourceClipsPath": str(media_dir)}
        )
    if not imported:
        raise ResolveError(
            f"Resolve could not import the timeline {output}",
            hint="import it by hand: File > Import > Timeline...",
        )
    return imported


def _with_marker_time(
    ropts: RenderOptions, exported_path: Path, markers: Mapping[Any, Any], start_frame: int, notes: list[str]
) -> RenderOptions:
    """The options with ``marker_time`` set from what the export wrote, when left on ``auto``."""
    if ropts.marker_time != "auto":
        return ropts
    try:
        exported = otio.adapters.read_from_file(str(exported_path))
    except Exception:  # the pipeline reports unreadable files itself
        return ropts
    if isinstance(exported, otio.schema.Timeline):
        reading = detect_marker_time(exported, markers, start_frame)
        if reading != "auto":
            notes.append(f"Resolve wrote marker times {reading} to the timeline start")
            return dataclasses.replace(ropts, marker_time=reading)
    return ropts


def run_bridge(
    resolve: Any,
    options: BridgeOptions | None = None,
    *,
    render: RenderFn | None = None,
    on_event: Callable[[ProgressEvent], None] | None = None,
    log: Log = print,
) -> BridgeResult:
    """Export the open timeline, render its sections, and bring the clips back into Resolve."""
    options = options or BridgeOptions()
    rendered_color = marker_color(options.rendered_color, "rendered")
    failed_color = marker_color(options.failed_color, "failed")
    render = render or otio_heygen.render_file
    project = resolve.GetProjectManager().GetCurrentProject()
    if not project:
        raise ResolveError("No project is open in DaVinci Resolve", hint="open the project, then run again")
    timeline = project.GetCurrentTimeline()
    if not timeline:
        raise ResolveError("No timeline is open in DaVinci Resolve", hint="open the marked timeline")
    name = str(timeline.GetName() or "Timeline")
    out_dir = options.output_dir or default_output_dir(str(project.GetName() or "Project"), name)
    out_dir.mkdir(parents=True, exist_ok=True)
    output_path = out_dir / f"{slugify(name, 'timeline')}_avatar.otio"
    markers = dict(timeline.GetMarkers() or {})
    start_frame = int(timeline.GetStartFrame())
    version = resolve_version(resolve)
    notes: list[str] = []
    ropts = options.render
    if ropts.config_path is None and (out_dir / "otio-heygen.toml").is_file():
        ropts = dataclasses.replace(ropts, config_path=out_dir / "otio-heygen.toml")

    with tempfile.TemporaryDirectory(prefix="otio-heygen-resolve-") as tmp:
        exported_path = Path(tmp) / f"{slugify(name, 'timeline')}.otio"
        export_otio(resolve, timeline, exported_path, name, version)
        log(f"Exported '{name}' ({len(markers)} markers) from Resolve")
        ropts = _with_marker_time(ropts, exported_path, markers, start_frame, notes)
        summary = render(exported_path, output_path, ropts, on_event=on_event)

    output = otio.adapters.read_from_file(str(output_path))
    placements = placements_from_output(output, output_path.parent, summary.clips)
    media_pool = project.GetMediaPool()
    previous = media_pool.GetCurrentFolder()
    folder = _bin(media_pool, options.bin_name)
    result = BridgeResult(summary=summary, output_path=output_path, placements=placements, notes=notes)
    try:
        items = _import_media(media_pool, folder, [p.media for p in placements]) if placements else {}
        log(f"Imported {len(items)} clips into the '{options.bin_name}' bin")
        if options.place == "timeline":
            new_name = _unique_timeline_name(project, f"{name}{TIMELINE_SUFFIX}")
            new_timeline = _import_timeline(media_pool, folder, output_path, new_name, summary.media_dir)
            result.new_timeline_name = str(new_timeline.GetName() or new_name)
            log(f"Imported the new timeline '{result.new_timeline_name}'")
        elif placements:
            result.track_indices = _place_on_tracks(media_pool, timeline, placements, items, version, notes)
            log(f"Placed {len(placements)} clips on video track(s) {result.track_indices}")
    finally:
        if previous:
            media_pool.SetCurrentFolder(previous)

    recolor = options.color_markers if options.color_markers is not None else not ropts.colors
    if options.color_markers is None and ropts.colors:
        notes.append("markers kept their colors (sections are selected by color); job ids are in custom data")
    result.marker_updates = marker_updates(
        markers,
        placements,
        [(f.title, f.reason) for f in summary.failures],
        output_path=output_path,
        recolor=recolor,
        rendered_color=rendered_color,
        failed_color=failed_color,
    )
    refused = apply_marker_updates(timeline, markers, result.marker_updates)
    if refused:
        notes.append(f"Resolve refused to update the marker(s) {', '.join(refused)}; the renders are placed")
    if options.place == "timeline" and result.new_timeline_name:
        project.SetCurrentTimeline(new_timeline)
    return result
