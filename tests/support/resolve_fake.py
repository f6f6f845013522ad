"""A fake of DaVinci Resolve's scripting API, for driving the bridge without Resolve.

It records every call (``FakeResolve.calls``: ``(object, method, args)``) and behaves like Resolve where
the bridge depends on it: ``GetMarkers()`` returns ``{frame: {color, duration, note, name, customData}}``
with float frames relative to the timeline start; ``Export(path, EXPORT_OTIO, EXPORT_NONE)`` writes a real
Resolve-dialect ``.otio`` (empty timeline name, 01:00:00:00 start, ``Resolve_OTIO`` metadata, markers on
the stack, an audio track whose clip points at a real WAV as a plain OS path); ``AppendToTimeline`` takes
an absolute ``recordFrame`` and an ``endFrame`` that is exclusive from version 19 and inclusive before.

Like the documented API (adapters/resolve/API_NOTES.md) it refuses what Resolve refuses: unknown clipInfo or
importOptions keys, fractional frames (the whole batch fails, returning None), marker colors outside the 16,
a second marker on a frame; ``EXPORT_OTIO`` is missing before 18.5. Wrong argument counts raise TypeError as
Python does. Options reproduce reported Resolve quirks (absolute stack-marker times, ``ImportTimelineFromFile``
refusing ``importSourceClips: False``, an ``endFrame`` rule that disagrees with the version).
"""

from __future__ import annotations

import struct
import wave
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import opentimelineio as otio

__all__ = [
    "CLIP_INFO_KEYS",
    "IMPORT_OPTION_KEYS",
    "MARKER_COLORS",
    "FakeResolve",
    "make_fake",
    "write_png",
    "write_wav",
]

MARKER_COLORS = frozenset(
    {"Blue", "Cyan", "Green", "Yellow", "Red", "Pink", "Purple", "Fuchsia"}
    | {"Rose", "Lavender", "Sky", "Mint", "Lemon", "Sand", "Cocoa", "Cream"}
)
CLIP_INFO_KEYS = frozenset({"mediaPoolItem", "startFrame", "endFrame", "mediaType", "trackIndex", "recordFrame"})
IMPORT_OPTION_KEYS = frozenset(
    {"timelineName", "importSourceClips", "sourceClipsPath", "sourceClipsFolders", "interlaceProcessing"}
)


def _whole(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and float(value).is_integer()


def write_wav(path: Path, seconds: float, rate: int = 48000) -> Path:
    """A real 16-bit mono WAV: a 220 Hz tone with a beat so sections differ."""
    t = np.arange(int(seconds * rate)) / rate
    tone = 12000 * (0.5 + 0.5 * np.sin(2 * np.pi * 2 * t)) * np.sin(2 * np.pi * 220 * t)
    frames = tone.astype("<i2").tobytes()
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(frames)
    return path


def write_png(path: Path, size: int = 512) -> Path:
    """A real RGB PNG (a gradient face-sized square) written with zlib."""
    y, x = np.mgrid[0:size, 0:size]
    pixels = np.stack([x % 256, y % 256, np.full_like(x, 128)], axis=-1).astype(np.uint8)
    rows = b"".join(b"\x00" + row.tobytes() for row in pixels)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
    )
    return path


class _Recorded:
    def __init__(self, owner: FakeResolve, label: str) -> None:
        self._owner = owner
        self._label = label

    def _rec(self, method: str, *args: Any) -> None:
        self._owner.calls.append((self._label, method, args))


class FakeMediaPoolItem(_Recorded):
    def __init__(self, owner: FakeResolve, path: Path) -> None:
        super().__init__(owner, f"item:{path.name}")
        self.path = path

    def GetName(self) -> str:
        return self.path.name

    def GetClipProperty(self, key: str | None = None) -> Any:
        shown = f"{self._owner.reported_path_prefix}\\{self.path.name}" if self._owner.reported_path_prefix else ""
        props = {"File Path": shown or str(self.path), "File Name": self.path.name}
        return props if key is None else props.get(key, "")


class FakeFolder(_Recorded):
    def __init__(self, owner: FakeResolve, name: str) -> None:
        super().__init__(owner, f"folder:{name}")
        self.name = name
        self.clips: list[FakeMediaPoolItem] = []
        self.subfolders: list[FakeFolder] = []
        self.timelines: list[FakeTimeline] = []

    def GetName(self) -> str:
        return self.name

    def GetClipList(self) -> list[FakeMediaPoolItem]:
        return list(self.clips)

    def GetSubFolderList(self) -> list[FakeFolder]:
        return list(self.subfolders)


@dataclass
class PlacedItem:
    track: int
    record_frame: int
    start_frame: int
    end_frame: int
    """Exclusive, whatever convention the call used."""
    item: FakeMediaPoolItem
    media_type: int | None

    # TimelineItem's documented read-back methods
    def GetName(self) -> str:
        return self.item.GetName()

    def GetStart(self, subframe_precision: bool = False) -> int:
        return self.record_frame

    def GetEnd(self, subframe_precision: bool = False) -> int:
        return self.record_frame + self.end_frame - self.start_frame

    def GetDuration(self, subframe_precision: bool = False) -> int:
        return self.end_frame - self.start_frame

    def GetMediaPoolItem(self) -> FakeMediaPoolItem:
        return self.item


@dataclass
class Marker:
    color: str
    duration: float
    note: str
    name: str
    customData: str = ""


class FakeTimeline(_Recorded):
    def __init__(
        self,
        owner: FakeResolve,
        name: str,
        *,
        fps: float = 24.0,
        start: int = 86400,
        length: int = 240,
        song: Path | None = None,
    ) -> None:
        super().__init__(owner, f"timeline:{name}")
        self.name = name
        self.fps = fps
        self.start = start
        self.length = length
        self.song = song
        self.markers: dict[float, Marker] = {}
        self.video_tracks: list[dict[str, Any]] = [{"name": "Video 1", "enabled": True}]
        self.placed: list[PlacedItem] = []
        self.imported_from: Path | None = None
        self.import_options: dict[str, Any] = {}

    # -- reading
    def GetName(self) -> str:
        return self.name

    def GetStartFrame(self) -> int:
        return self.start

    def GetEndFrame(self) -> int:
        return self.start + self.length - 1

    def GetSetting(self, key: str) -> str:
        return {"timelineFrameRate": f"{self.fps:g}"}.get(key, "")

    def GetMarkers(self) -> dict[float, dict[str, Any]]:
        return {f: dict(vars(m)) for f, m in sorted(self.markers.items())}

    def GetTrackCount(self, kind: str) -> int:
        return len(self.video_tracks) if kind == "video" else 1

    def GetTrackName(self, kind: str, index: int) -> str:
        return str(self.video_tracks[index - 1]["name"]) if kind == "video" else "Audio 1"

    # -- editing
    def AddMarker(self, frame: float, color: str, name: str, note: str, duration: float, customData: str = "") -> bool:
        self._rec("AddMarker", frame, color, name, note, duration, customData)
        if color not in MARKER_COLORS or not isinstance(customData, str):
            return False
        if float(frame) in self.markers or not 0 <= float(frame) < self.length or duration < 1:
            return False
        self.markers[float(frame)] = Marker(color, float(duration), note, name, customData)
        return True

    def DeleteMarkerAtFrame(self, frame: float) -> bool:
        self._rec("DeleteMarkerAtFrame", frame)
        return self.markers.pop(float(frame), None) is not None

    def UpdateMarkerCustomData(self, frame: float, data: str) -> bool:
        self._rec("UpdateMarkerCustomData", frame, data)
        marker = self.markers.get(float(frame))
        if marker is None:
            return False
        marker.customData = data
        return True

    def AddTrack(self, kind: str, sub_type: str | dict[str, Any] | None = None) -> bool:
        self._rec("AddTrack", kind)
        if kind not in ("video", "audio", "subtitle"):
            return False
        if kind != "video":
            return True  # only video tracks are modelled
        self.video_tracks.append({"name": f"Video {len(self.video_tracks) + 1}", "enabled": True})
        return True

    def SetTrackName(self, kind: str, index: int, name: str) -> bool:
        self._rec("SetTrackName", kind, index, name)
        if kind != "video" or not 1 <= index <= len(self.video_tracks):
            return False
        self.video_tracks[index - 1]["name"] = name
        return True

    def SetTrackEnable(self, kind: str, index: int, enabled: bool) -> bool:
        self._rec("SetTrackEnable", kind, index, enabled)
        if kind != "video" or not 1 <= index <= len(self.video_tracks) or not isinstance(enabled, bool):
            return False
        self.video_tracks[index - 1]["enabled"] = enabled
        return True

    def DeleteClips(self, items: list[Any], ripple: bool = False) -> bool:
        self._rec("DeleteClips", list(items), ripple)
        if not items or any(i not in self.placed for i in items):
            return False
        self.placed = [p for p in self.placed if all(p is not i for i in items)]
        return True

    # -- export
    def Export(self, path: str, kind: int, sub_type: int | None = None) -> bool:
        """Only OTIO is modelled; its subtype is ignored, as the README says for every type but AAF and EDL."""
        self._rec("Export", path, kind, sub_type)
        owner = self._owner
        if kind != owner.EXPORT_OTIO or owner.refuse_export:
            return False
        otio.adapters.write_to_file(self.to_otio(), path)
        return True

    def to_otio(self) -> otio.schema.Timeline:
        """What Resolve 18.5+ writes for this timeline (our reading of its dialect)."""
        rate = self.fps
        rt = lambda v: otio.opentime.RationalTime(v, rate)  # noqa: E731
        tl = otio.schema.Timeline(name="", global_start_time=rt(self.start))
        tl.metadata["Resolve_OTIO"] = {"Resolve OTIO Meta Version": "1.0"}
        offset = self.start if self._owner.absolute_marker_times else 0
        for frame, m in sorted(self.markers.items()):
            marker = otio.schema.Marker(
                name=m.name,
                color=m.color.upper(),
                marked_range=otio.opentime.TimeRange(rt(frame + offset), rt(m.duration)),
                metadata={"Resolve_OTIO": {"Keywords": [], "Note": m.note}},
            )
            tl.tracks.markers.append(marker)
        for index, spec in enumerate(self.video_tracks, start=1):
            track = otio.schema.Track(name=spec["name"], kind=otio.schema.TrackKind.Video)
            track.metadata["Resolve_OTIO"] = {"Locked": False}
            track.enabled = bool(spec["enabled"])
            cursor = 0
            for p in sorted((p for p in self.placed if p.track == index), key=lambda p: p.record_frame):
                rel = p.record_frame - self.start
                if rel > cursor:
                    track.append(otio.schema.Gap(source_range=otio.opentime.TimeRange(rt(0), rt(rel - cursor))))
                ref = otio.schema.ExternalReference(target_url=str(p.item.path))
                track.append(
                    otio.schema.Clip(
                        name=p.item.GetName(),
                        media_reference=ref,
                        source_range=otio.opentime.TimeRange(rt(p.start_frame), rt(p.end_frame - p.start_frame)),
                    )
                )
                cursor = rel + p.end_frame - p.start_frame
            if cursor < self.length:
                track.append(otio.schema.Gap(source_range=otio.opentime.TimeRange(rt(0), rt(self.length - cursor))))
            tl.tracks.append(track)
        audio = otio.schema.Track(name="Audio 1", kind=otio.schema.TrackKind.Audio)
        audio.metadata["Resolve_OTIO"] = {"Locked": False, "SoundMode": "Mono"}
        if self.song is not None:
            ref = otio.schema.ExternalReference(
                target_url=str(self.song),
                available_range=otio.opentime.TimeRange(rt(0), rt(self.length)),
            )
            ref.name = self.song.name
            audio.append(
                otio.schema.Clip(
                    name=self.song.name,
                    media_reference=ref,
                    source_range=otio.opentime.TimeRange(rt(0), rt(self.length)),
                    metadata={"Resolve_OTIO": {"Link Group ID": 1}},
                )
            )
        tl.tracks.append(audio)
        return tl


class FakeMediaPool(_Recorded):
    def __init__(self, owner: FakeResolve, project: FakeProject) -> None:
        super().__init__(owner, "media_pool")
        self.project = project
        self.root = FakeFolder(owner, "Master")
        self.current = self.root

    def GetRootFolder(self) -> FakeFolder:
        return self.root

    def GetCurrentFolder(self) -> FakeFolder:
        return self.current

    def SetCurrentFolder(self, folder: FakeFolder) -> bool:
        self._rec("SetCurrentFolder", folder.name)
        self.current = folder
        return True

    def AddSubFolder(self, parent: FakeFolder, name: str) -> FakeFolder:
        self._rec("AddSubFolder", parent.name, name)
        folder = FakeFolder(self._owner, name)
        parent.subfolders.append(folder)
        return folder

    def all_items(self) -> list[FakeMediaPoolItem]:
        out: list[FakeMediaPoolItem] = []
        stack = [self.root]
        while stack:
            folder = stack.pop()
            out += folder.clips
            stack += folder.subfolders
        return out

    def ImportMedia(self, paths: list[str]) -> list[FakeMediaPoolItem]:
        self._rec("ImportMedia", list(paths))
        items = [FakeMediaPoolItem(self._owner, Path(p)) for p in paths if Path(p).is_file()]
        self.current.clips += items
        return list(reversed(items))  # Resolve does not promise the order

    def ImportTimelineFromFile(self, path: str, options: dict[str, Any] | None = None) -> FakeTimeline | None:
        options = {} if options is None else options
        self._rec("ImportTimelineFromFile", path, dict(options))
        folders = options.get("sourceClipsFolders", [])
        if set(options) - IMPORT_OPTION_KEYS or not all(isinstance(f, FakeFolder) for f in folders):
            return None
        if self._owner.refuse_import_without_source_clips and not options.get("importSourceClips", True):
            return None
        read = otio.adapters.read_from_file(path)  # a broken file fails like Resolve would
        assert isinstance(read, otio.schema.Timeline)
        tl = FakeTimeline(self._owner, options.get("timelineName") or read.name or Path(path).stem)
        tl.imported_from = Path(path)
        tl.import_options = dict(options)
        tl.video_tracks = [{"name": t.name, "enabled": t.enabled} for t in read.video_tracks()]
        self.current.timelines.append(tl)
        self.project.timelines.append(tl)
        return tl

    def AppendToTimeline(self, infos: list[dict[str, Any]]) -> list[PlacedItem] | None:
        """The ``[{clipInfo}, ...]`` form only. A bad clipInfo fails the whole batch (None), as Resolve 21 does
        for fractional frames; a clip that cannot go where asked is None in the list."""
        self._rec("AppendToTimeline", [dict(i) for i in infos])
        timeline = self.project.current
        if timeline is None or not isinstance(infos, list) or not infos:
            return None
        for info in infos:
            if not isinstance(info, dict) or set(info) - CLIP_INFO_KEYS or "mediaPoolItem" not in info:
                return None
            frames = [info[k] for k in ("startFrame", "endFrame", "recordFrame", "trackIndex") if k in info]
            if not all(_whole(v) for v in frames) or info.get("mediaType", 1) not in (1, 2):
                return None
        inclusive = self._owner.inclusive_end_frame()
        out: list[Any] = []
        known = {id(i) for i in self.all_items()}
        for info in infos:
            item = info["mediaPoolItem"]
            start, end = int(info.get("startFrame", 0)), int(info.get("endFrame", 0)) + (1 if inclusive else 0)
            track = int(info.get("trackIndex", 1))
            ok = (
                isinstance(item, FakeMediaPoolItem)
                and id(item) in known
                and all(k in info for k in ("startFrame", "endFrame", "recordFrame"))  # the fake needs them
                and end > start
                and 1 <= track <= len(timeline.video_tracks)
            )
            if not ok:
                out.append(None)
                continue
            placed = PlacedItem(track, int(info["recordFrame"]), start, end, item, info.get("mediaType"))
            timeline.placed.append(placed)
            out.append(placed)
        return out


class FakeProject(_Recorded):
    def __init__(self, owner: FakeResolve, name: str) -> None:
        super().__init__(owner, f"project:{name}")
        self.name = name
        self.timelines: list[FakeTimeline] = []
        self.current: FakeTimeline | None = None  # type: ignore[assignment]
        self.media_pool = FakeMediaPool(owner, self)

    def GetName(self) -> str:
        return self.name

    def GetMediaPool(self) -> FakeMediaPool:
        return self.media_pool

    def GetCurrentTimeline(self) -> FakeTimeline | None:
        return self.current

    def SetCurrentTimeline(self, timeline: FakeTimeline) -> bool:
        self._rec("SetCurrentTimeline", timeline.name)
        self.current = timeline
        return True

    def GetTimelineCount(self) -> int:
        return len(self.timelines)

    def GetTimelineByIndex(self, index: int) -> FakeTimeline:
        return self.timelines[index - 1]


class FakeProjectManager:
    def __init__(self, project: FakeProject | None) -> None:
        self.project = project

    def GetCurrentProject(self) -> FakeProject | None:
        return self.project


@dataclass
class FakeResolve:
    calls: list[tuple[str, str, tuple[Any, ...]]] = field(default_factory=list)
    version: tuple[int, int, int, int, str] = (20, 2, 0, 0, "")
    end_frame_inclusive: bool | None = None
    """None: as documented for ``version`` (inclusive before 19); True/False: a build that disagrees."""
    absolute_marker_times: bool = False
    refuse_import_without_source_clips: bool = False
    refuse_export: bool = False
    reported_path_prefix: str = ""
    """Report media paths under another mount (``D:\\Media``), as Resolve does for remapped volumes."""
    project: FakeProject | None = None

    def GetProjectManager(self) -> FakeProjectManager:
        return FakeProjectManager(self.project)

    def GetProductName(self) -> str:
        return "DaVinci Resolve Studio"

    def GetVersion(self) -> list[Any]:
        return list(self.version)

    def GetVersionString(self) -> str:
        major, minor, patch, build, suffix = self.version
        return f"{major}.{minor}.{patch}{suffix}.{build}"

    @property
    def EXPORT_OTIO(self) -> int:
        if tuple(self.version[:2]) < (18, 5):
            raise AttributeError("EXPORT_OTIO")  # added in Resolve 18.5
        return 17

    @property
    def EXPORT_NONE(self) -> int:
        return 0

    def inclusive_end_frame(self) -> bool:
        if self.end_frame_inclusive is not None:
            return self.end_frame_inclusive
        return tuple(self.version[:2]) < (19, 0)

    def called(self, method: str) -> list[tuple[Any, ...]]:
        return [args for _, m, args in self.calls if m == method]


def make_fake(
    song: Path,
    markers: list[tuple[int, str, str, int, str]],
    *,
    fps: float = 24.0,
    length: int = 240,
    start: int = 86400,
    **flags: Any,
) -> FakeResolve:
    """A Resolve with project "Music Video" and timeline "Edit 1" holding ``markers``.

    Each marker is ``(frame, color, name, duration, note)``; frames relative to the timeline start.
    """
    resolve = FakeResolve(**flags)
    project = FakeProject(resolve, "Music Video")
    timeline = FakeTimeline(resolve, "Edit 1", fps=fps, start=start, length=length, song=song)
    for frame, color, name, duration, note in markers:
        assert timeline.AddMarker(float(frame), color, name, note, float(duration), "")
    project.timelines.append(timeline)
    project.current = timeline
    resolve.project = project
    resolve.calls.clear()
    return resolve
