"""The takes an output timeline holds: every clip this tool placed, grouped by section (pure, no file I/O).

``review`` (the HTML page) and ``choose`` (keeper swap) both start here. A take is read back from
the provenance ``conform`` writes in ``metadata["otio_heygen"]`` on each generated clip: section,
take number, track rank (1 = on the main track), media file, sync measurement, cost and video id.
Formats that drop clip metadata (FCP7 XML, EDL, FCPXML) have no takes to read; ``read_takes`` says so.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import opentimelineio as otio

from otio_heygen.errors import OutputPathError
from otio_heygen.output.conform import GENERATED_KEY, is_generated_track

__all__ = ["OutputTakes", "SectionTakes", "Take", "plain", "read_takes"]


def plain(value: Any) -> Any:
    """OTIO's AnyDictionary/AnyVector as plain dicts and lists (recursively)."""
    if isinstance(value, Mapping) or (hasattr(value, "items") and not isinstance(value, str | bytes)):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple) or type(value).__name__ == "AnyVector":
        return [plain(v) for v in value]
    return value


@dataclass(frozen=True)
class Take:
    """One generated clip on the output timeline."""

    section_index: int
    section_name: str
    section_slug: str
    take: int
    rank: int
    """Its place among the section's takes: 1 = on the main (enabled) track, 2.. = disabled take tracks."""
    track_name: str
    start_frame: int
    """Timeline frame (from the timeline's first frame) where the clip starts."""
    duration_frames: int
    source_start_frame: int
    target_url: str
    media_path: Path | None
    """The media file on this machine, when it can be found."""
    provenance: dict[str, Any]

    @property
    def on_main_track(self) -> bool:
        return self.rank == 1

    @property
    def video_id(self) -> str | None:
        value = self.provenance.get("video_id")
        return str(value) if value else None

    @property
    def cost_usd(self) -> float | None:
        value = self.provenance.get("cost_usd")
        return float(value) if isinstance(value, int | float) else None

    @property
    def sync(self) -> dict[str, Any]:
        """The sync measurement made at render time (offset_ms, offset_frames, confidence, flagged)."""
        value = self.provenance.get("sync")
        return dict(value) if isinstance(value, Mapping) else {}


@dataclass
class SectionTakes:
    """A section and its takes, the one on the main track first, then by take number."""

    index: int
    name: str
    slug: str
    start_frame: int
    end_frame: int
    rate: float
    photo: str | None
    motion_prompt: str | None
    takes: list[Take] = field(default_factory=list)

    @property
    def main(self) -> Take | None:
        return next((t for t in self.takes if t.on_main_track), None)

    def find(self, take: int) -> Take | None:
        return next((t for t in self.takes if t.take == take), None)


@dataclass(frozen=True)
class OutputTakes:
    """Everything ``read_takes`` found on one output timeline."""

    sections: list[SectionTakes]
    rate: float
    timecode_start: int
    """The timeline's start timecode in frames (``global_start_time``)."""
    main_track_name: str


def media_file_of(url: str, output_path: Path, media_file: str | None) -> Path | None:
    """The local media file of a generated clip: its URL (absolute ``file://`` or relative to the output),
    else the file of that name in the output's ``<stem>_media`` folder (an ``.otioz`` points into its bundle)."""
    base = output_path.resolve().parent
    candidates: list[Path] = []
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme == "file":
        candidates.append(Path(otio.url_utils.filepath_from_url(url)))
    elif url and not parsed.scheme:
        rel = Path(urllib.parse.unquote(url))
        candidates.append(rel if rel.is_absolute() else base / rel)
    name = media_file or (Path(urllib.parse.unquote(parsed.path)).name if url else "")
    if name:
        candidates.append(base / f"{output_path.stem}_media" / name)
    return next((c for c in candidates if c.is_file()), None)


def _frames(t: otio.opentime.RationalTime, rate: float) -> int:
    return round(float(t.rescaled_to(rate).value))


def _take_of(clip: Any, track: Any, rate: float, output_path: Path) -> Take | None:
    prov = plain(clip.metadata.get(GENERATED_KEY))
    if not isinstance(prov, dict) or not isinstance(prov.get("section"), dict):
        return None
    sec = prov["section"]
    start = _frames(clip.range_in_parent().start_time, rate)
    ref = clip.media_reference
    url = str(getattr(ref, "target_url", "") or "")
    return Take(
        section_index=int(sec.get("index") or 0),
        section_name=str(sec.get("name") or clip.name),
        section_slug=str(sec.get("slug") or clip.name),
        take=int(prov.get("take") or 1),
        rank=int(prov.get("track_rank") or (1 if track.enabled else 2)),
        track_name=str(track.name),
        start_frame=start,
        duration_frames=_frames(clip.source_range.duration, rate),
        source_start_frame=_frames(clip.source_range.start_time, rate),
        target_url=url,
        media_path=media_file_of(url, output_path, prov.get("media_file")),
        provenance=prov,
    )


def _timeline_rate(timeline: otio.schema.Timeline, clips: Sequence[Any]) -> float:
    gst = timeline.global_start_time
    if gst is not None and gst.rate > 0:
        return float(gst.rate)
    return float(clips[0].source_range.duration.rate) if clips else 24.0


def read_takes(timeline: otio.schema.Timeline, output_path: Path) -> OutputTakes:
    """The sections and takes placed on ``timeline`` (read from ``output_path``), in timeline order.

    Raises ``OutputPathError`` when the timeline holds no generated clips with their details."""
    tracks = [t for t in timeline.tracks if is_generated_track(t)]
    clips = [c for t in tracks for c in t.find_clips()]
    rate = _timeline_rate(timeline, clips)
    sections: dict[int, SectionTakes] = {}
    main_name = str(tracks[0].name) if tracks else "Avatar IV"  # conform puts the main track first
    for track in tracks:
        for clip in track.find_clips():
            take = _take_of(clip, track, rate, output_path)
            if take is None:
                continue
            prov = take.provenance
            sec = prov["section"]
            entry = sections.setdefault(take.section_index, SectionTakes(
                index=take.section_index, name=take.section_name, slug=take.section_slug,
                start_frame=int(sec.get("start_frame", take.start_frame)),
                end_frame=int(sec.get("end_frame", take.start_frame + take.duration_frames)),
                rate=float(sec.get("rate") or rate),
                photo=str(prov["photo"]) if prov.get("photo") else None,
                motion_prompt=str(prov["motion_prompt"]) if prov.get("motion_prompt") else None,
            ))
            entry.takes.append(take)
    if not sections:
        name = output_path.name
        if clips or output_path.suffix.lower() not in (".otio", ".otioz"):
            raise OutputPathError(
                f"{name} does not carry otio-heygen's take details (this format drops clip metadata)",
                hint="render again with -o to an .otio file (free: every finished clip is reused) and use that",
            )
        raise OutputPathError(f"{name} holds no otio-heygen clips", hint="give the output timeline of a render")
    ordered = sorted(sections.values(), key=lambda s: (s.start_frame, s.index))
    for entry in ordered:
        entry.takes.sort(key=lambda t: (t.rank != 1, t.take))
    gst = timeline.global_start_time
    tc0 = _frames(gst, rate) if gst is not None else 0
    return OutputTakes(sections=ordered, rate=rate, timecode_start=tc0, main_track_name=main_name)
