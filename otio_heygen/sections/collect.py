"""Collecting markers (pure): every marker of a timeline, in whole frames from its first frame.

Owns the walk over the timeline's stack, every track, every clip and nested stacks/compounds, and
the mapping of each marker to timeline frames: clip source time through the clip's place and time
warp, Resolve absolute stack markers, FCP7/Premiere media-relative clip markers, CMX3600
record-time locators. Which of these markers are sections is decided in ``markers``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import opentimelineio as otio

from otio_heygen.errors import SectionError
from otio_heygen.read.dialects import marker_info
from otio_heygen.read.timeline import (
    frame_label,
    frames,
    round_frame,
    timeline_end_frame,
    timeline_rate,
    timeline_start_frame,
)
from otio_heygen.sections.directives import note_title
from otio_heygen.sections.model import FoundMarker

__all__ = ["Collected", "MarkerTime", "RawMarker", "collect", "collect_markers"]

MarkerTime = Literal["auto", "absolute", "relative"]


_Window = tuple[float, float]


@dataclass(frozen=True)
class RawMarker:
    found: FoundMarker
    aliases: frozenset[str]
    kind: str  # "timeline" | "track" | "clip"
    order: int


class Collected:
    def __init__(self, timeline: otio.schema.Timeline, marker_time: MarkerTime, prefix: str) -> None:
        self.rate = timeline_rate(timeline)
        self.start = timeline_start_frame(timeline)
        self.end = timeline_end_frame(timeline)
        self.marker_time = marker_time
        self.prefix = prefix.lower()
        self.raws: list[RawMarker] = []
        self.warnings: list[str] = []
        self.hidden = 0  # markers outside the visible part of their clip
        self.timeline = timeline

    # -- helpers
    def f(self, t: otio.opentime.RationalTime) -> float:
        return frames(t, self.rate)

    def generated(self, track: Any) -> bool:
        name = (track.name or "").lower()
        return bool(self.prefix and name.startswith(self.prefix)) or "otio_heygen" in track.metadata

    def add(self, marker: Any, start: float, duration: float, kind: str, origin: str, track: str | None) -> None:
        text, keywords, colors = marker_info(marker)
        s = round_frame(start)
        dur = 0 if duration <= 0 else max(1, round_frame(start + duration) - s)
        found = FoundMarker(
            name=str(marker.name or ""),
            color=colors[0] if colors else "",
            text=text,
            start_frame=s,
            duration_frames=dur,
            origin=origin,
            track=track,
            keywords=keywords,
        )
        self.raws.append(RawMarker(found, frozenset(c.lower() for c in colors), kind, len(self.raws)))

    # -- walking
    def run(self) -> None:
        stack = self.timeline.tracks
        self.stack_markers(stack)
        self.composition(stack, 0.0, 1.0, None, (-math.inf, math.inf), top=True)

    def stack_markers(self, stack: Any) -> None:
        markers = list(stack.markers)
        if not markers:
            return
        starts = [self.f(m.marked_range.start_time) for m in markers]
        absolute = self.marker_time == "absolute"
        if self.marker_time == "auto" and self.start > 0:
            absolute = all(s >= self.start for s in starts) and any(s >= self.end for s in starts)
            if absolute:
                self.warnings.append(
                    f"timeline markers read as absolute timecode (they start at or after the timeline start "
                    f"{self._tc(0)} and lie beyond its length otherwise); use --marker-time relative to "
                    f"read them from the first frame instead"
                )
        offset = -float(self.start) if absolute else 0.0
        for m, s in zip(markers, starts, strict=True):
            self.add(m, s + offset, self.f(m.marked_range.duration), "timeline", "timeline", None)

    def composition(
        self, comp: Any, offset: float, scale: float, track: str | None, window: _Window, top: bool = False
    ) -> None:
        """Walk a Stack (tracks in parallel) or Track (items in sequence) whose internal time t is timeline
        frame ``offset + t * scale``; only what lies inside ``window`` (timeline frames) is visible."""
        if isinstance(comp, otio.schema.Stack):
            counts: dict[str, int] = {}
            for child in comp:
                if not isinstance(child, otio.schema.Track):
                    continue
                letter = "A" if child.kind == otio.schema.TrackKind.Audio else "V"
                counts[letter] = counts.get(letter, 0) + 1
                if self.generated(child):
                    continue
                name = child.name or (f"{letter}{counts[letter]}" if top else track or "")
                # a negative trim is otio-cmx3600-adapter's record-start encoding, not a trim
                trim = max(0.0, self.f(child.source_range.start_time)) if child.source_range is not None else 0.0
                child_offset = offset - trim * scale
                for m in child.markers:
                    start = child_offset + self.f(m.marked_range.start_time) * scale
                    dur = self.f(m.marked_range.duration) * scale
                    self.place(m, start, dur, window, "track", f"track '{name}'", name)
                self.composition(child, child_offset, scale, name, window)
            return
        pos = 0.0
        for item in comp:
            if isinstance(item, otio.schema.Transition):
                continue
            try:
                trimmed = item.trimmed_range()
            except Exception:  # no source range and no media length: OTIO cannot place it
                if getattr(item, "markers", None):
                    raise SectionError(
                        f"markers on '{item.name}' cannot be placed: the clip has no length in the timeline file",
                        hint="move the markers to the timeline ruler or re-export the timeline",
                    ) from None
                self.warnings.append(f"'{item.name}' has no length in the timeline file: counted as 0 frames")
                continue
            dur = self.f(trimmed.duration)
            if isinstance(item, (otio.schema.Clip, otio.schema.Stack, otio.schema.Gap)):
                self.item(item, trimmed, offset + pos * scale, dur * scale, track, window)
            pos += dur

    def item(self, item: Any, trimmed: Any, place: float, span: float, track: str | None, window: _Window) -> None:
        """``item`` (its ``trimmed`` range) covers timeline frames ``place .. place + span``."""
        s0 = self.f(trimmed.start_time)
        dur = self.f(trimmed.duration)
        kind = (
            "clip" if isinstance(item, otio.schema.Clip) else "gap" if isinstance(item, otio.schema.Gap) else "compound"
        )
        label = f"{kind} '{item.name}'"
        k = _time_scalar(item)
        if k is None or k == 0:
            if item.markers:
                what = "a speed effect otio-heygen cannot map" if k is None else "a freeze frame"
                raise SectionError(
                    f"markers on {label} cannot be placed on the timeline: it has {what}",
                    hint="move the markers to the timeline ruler or remove the retime",
                )
            k = 1.0
        # internal time t -> place + (t - s0) * inner, where inner = timeline frames per internal frame
        inner = (span / dur if dur else 1.0) / k
        seen = (max(window[0], place), min(window[1], place + span))
        media_start = _fcp_media_start(item) if item.markers and kind == "clip" else None
        for m in item.markers:
            ms, md = self.f(m.marked_range.start_time), self.f(m.marked_range.duration)
            if media_start is not None and "fcp_xml" in m.metadata:
                ms = self.f(_fcp_marker_start(m.marked_range.start_time, media_start))
            if "cmx_3600" in m.metadata and kind == "clip":
                self.add(m, self._record_frame(ms, item), md, "clip", label, track)
                continue
            a, b = place + (ms - s0) * inner, place + (ms + md - s0) * inner
            self.place(m, min(a, b), abs(b - a) if md > 0 else 0.0, seen, "clip", label, track)
        if isinstance(item, otio.schema.Stack):
            self.composition(item, place - s0 * inner, inner, track, seen)

    def place(
        self, m: Any, start: float, dur: float, window: _Window, kind: str, origin: str, track: str | None
    ) -> None:
        """Keep the part of a marker inside ``window`` (a point marker must start inside it)."""
        lo, hi = window
        eps = 1e-6
        if dur <= 0:
            if lo - eps <= start < hi - eps:
                self.add(m, start, 0.0, kind, origin, track)
                return
        else:
            a, b = max(start, lo), min(start + dur, hi)
            if b - a > eps:
                self.add(m, a, b - a, kind, origin, track)
                return
        self.hidden += 1
        who = m.name or note_title(marker_info(m)[0]) or "(unnamed)"
        self.warnings.append(f"marker '{who}' on {origin} is outside its visible part on the timeline: ignored")

    def _record_frame(self, value: float, item: Any) -> float:
        """CMX3600 locators hold the record timecode as a frame count. The adapter keeps the record start of
        the first event as the track's negative source start (also in .otio files saved from an EDL read)."""
        parent = item.parent()
        rng = getattr(parent, "source_range", None) if isinstance(parent, otio.schema.Track) else None
        if rng is not None and rng.start_time.value < 0:
            return value + self.f(rng.start_time)
        if self.timeline.global_start_time is not None:
            return value - self.start
        hour = round(self.rate) * 3600
        return value - (value // hour) * hour

    def _tc(self, frame: int) -> str:
        return frame_label(frame, self.start, self.rate)


def _fcp_media_start(clip: Any) -> otio.opentime.TimeRange | None:
    """The media range whose timecode otio-fcp-adapter added to an FCP7/Premiere clip's source range but
    not to its markers (their ``<in>`` counts from the media's first frame, like the clip's): None when
    there is no timecode to add."""
    if "fcp_xml" not in clip.metadata:
        return None
    available = getattr(clip.media_reference, "available_range", None)
    if available is None or available.start_time.value == 0:
        return None
    return available


def _fcp_marker_start(start: otio.opentime.RationalTime, media: Any) -> otio.opentime.RationalTime:
    """A clip marker of FCP7 XML in the clip's source time. Premiere counts it from the media's first
    frame; XML written by OTIO itself already holds source time - recognised by the Premiere reading
    falling past the end of the media while the plain one lies inside it."""
    media_start = media.start_time.value_rescaled_to(start)
    media_end = media_start + media.duration.value_rescaled_to(start)
    shifted = start.value + media_start
    if shifted >= media_end and media.duration.value > 0 and media_start <= start.value < media_end:
        return start
    return otio.opentime.RationalTime(shifted, start.rate)


def _time_scalar(item: Any) -> float | None:
    """Product of the item's LinearTimeWarp scalars; None for a time effect we cannot map."""
    k = 1.0
    for effect in getattr(item, "effects", ()):
        if isinstance(effect, otio.schema.LinearTimeWarp):
            k *= float(effect.time_scalar)
        elif isinstance(effect, otio.schema.FreezeFrame):
            k = 0.0
        elif isinstance(effect, otio.schema.TimeEffect):
            return None
    return k


def collect(timeline: otio.schema.Timeline, marker_time: MarkerTime, prefix: str) -> Collected:
    collector = Collected(timeline, marker_time, prefix)
    collector.run()
    return collector


def collect_markers(
    timeline: otio.schema.Timeline, *, marker_time: MarkerTime = "auto", generated_track_prefix: str = "Avatar IV"
) -> tuple[list[FoundMarker], list[str]]:
    """Every marker of the timeline in timeline frames (from its first frame), plus warnings."""
    c = collect(timeline, marker_time, generated_track_prefix)
    return [r.found for r in c.raws], list(c.warnings)
