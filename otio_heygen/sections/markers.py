"""Markers -> frame-exact sections (pure: no I/O).

Owns: collecting markers from the timeline's stack, every track, every clip and nested stacks/compounds;
normalising each to whole frames on the timeline counted from its first frame (clip source time through the
clip's place and time warp, Resolve absolute stack markers, CMX3600 record-time locators); the marker text
and color of every dialect; section selection (color / name pattern / track); per-section ``key: value``
directives; and validation (overlap, zero length, too long, outside the song).
"""

from __future__ import annotations

import bisect
import fnmatch
import math
import re
from dataclasses import dataclass
from typing import Any, Literal

import opentimelineio as otio

from otio_heygen.errors import NoSectionsError, SectionError
from otio_heygen.read.dialects import marker_info
from otio_heygen.read.timeline import (
    frame_label,
    frames,
    round_frame,
    timeline_end_frame,
    timeline_rate,
    timeline_start_frame,
)
from otio_heygen.sections.model import FoundMarker, Section, slugify

__all__ = [
    "DIRECTIVE_KEYS",
    "MarkerSelection",
    "MarkerTime",
    "SectionScan",
    "collect_markers",
    "find_sections",
    "parse_directives",
    "unknown_directive_keys",
]

MarkerTime = Literal["auto", "absolute", "relative"]
DIRECTIVE_KEYS: tuple[str, ...] = ("image", "motion", "expressiveness", "resolution", "aspect", "takes", "skip")
_DIRECTIVE_RE = re.compile(r"^\s*([A-Za-z][A-Za-z0-9_-]*)\s*:(?!//)\s*(.*?)\s*$")


@dataclass(frozen=True)
class MarkerSelection:
    """Which markers become sections (default: all of them)."""

    colors: tuple[str, ...] = ()
    name_pattern: str | None = None
    tracks: tuple[str, ...] = ()
    marker_time: MarkerTime = "auto"
    generated_track_prefix: str = "Avatar IV"


@dataclass(frozen=True)
class SectionScan:
    """The sections found, warnings for ``plan``, and every marker seen (for messages)."""

    sections: tuple[Section, ...]
    warnings: tuple[str, ...]
    markers: tuple[FoundMarker, ...]


# ------------------------------------------------------------------------------------------- directives


def _directive_lines(text: str) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for line in re.split(r"\r\n|\r|\n", text):
        parts = line.split(";")
        matches = [_DIRECTIVE_RE.match(p) for p in parts]
        if len(parts) > 1 and all(m and m.group(1).lower() in DIRECTIVE_KEYS for m in matches):
            pairs.extend((m.group(1).lower(), m.group(2)) for m in matches if m)
            continue
        m = _DIRECTIVE_RE.match(line)
        if m:
            pairs.append((m.group(1).lower(), m.group(2)))
    return pairs


def parse_directives(text: str) -> dict[str, str]:
    """``key: value`` lines of a marker note, known keys only (lower-cased); last one wins."""
    return {k: v for k, v in _directive_lines(text) if k in DIRECTIVE_KEYS}


def unknown_directive_keys(text: str) -> list[str]:
    """Keys of ``key: value`` lines that are not directives (reported as warnings)."""
    seen: list[str] = []
    for key, _ in _directive_lines(text):
        if key not in DIRECTIVE_KEYS and key not in seen:
            seen.append(key)
    return seen


def _title(text: str) -> str:
    for line in re.split(r"\r\n|\r|\n", text):
        if line.strip() and not _DIRECTIVE_RE.match(line):
            return line.strip()[:80]
    return ""


# ------------------------------------------------------------------------------------------- collecting


_Window = tuple[float, float]


@dataclass(frozen=True)
class _Raw:
    found: FoundMarker
    aliases: frozenset[str]
    kind: str  # "timeline" | "track" | "clip"
    order: int


class _Collector:
    def __init__(self, timeline: otio.schema.Timeline, marker_time: MarkerTime, prefix: str) -> None:
        self.rate = timeline_rate(timeline)
        self.start = timeline_start_frame(timeline)
        self.end = timeline_end_frame(timeline)
        self.marker_time = marker_time
        self.prefix = prefix.lower()
        self.raws: list[_Raw] = []
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
        self.raws.append(_Raw(found, frozenset(c.lower() for c in colors), kind, len(self.raws)))

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
        who = m.name or _title(marker_info(m)[0]) or "(unnamed)"
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


def _collect(timeline: otio.schema.Timeline, marker_time: MarkerTime, prefix: str) -> _Collector:
    collector = _Collector(timeline, marker_time, prefix)
    collector.run()
    return collector


def collect_markers(
    timeline: otio.schema.Timeline, *, marker_time: MarkerTime = "auto", generated_track_prefix: str = "Avatar IV"
) -> tuple[list[FoundMarker], list[str]]:
    """Every marker of the timeline in timeline frames (from its first frame), plus warnings."""
    c = _collect(timeline, marker_time, generated_track_prefix)
    return [r.found for r in c.raws], list(c.warnings)


# ------------------------------------------------------------------------------------------- sections


def _selected(raw: _Raw, sel: MarkerSelection) -> bool:
    if sel.colors and not ({c.lower() for c in sel.colors} & raw.aliases):
        return False
    if sel.name_pattern and not fnmatch.fnmatchcase(raw.found.name.lower(), sel.name_pattern.lower()):
        return False
    if sel.tracks:
        wanted = {t.lower() for t in sel.tracks}
        where = "timeline" if raw.kind == "timeline" else (raw.found.track or "").lower()
        if where not in wanted:
            return False
    return True


def _describe(raws: list[_Raw]) -> str:
    if not raws:
        return "found no markers at all"
    counts: dict[str, list[int]] = {}
    for r in raws:
        total_points = counts.setdefault(r.kind, [0, 0])
        total_points[0] += 1
        total_points[1] += r.found.duration_frames <= 1
    parts = []
    for kind, (n, points) in counts.items():
        text = f"{n} {kind} marker{'s' if n != 1 else ''}"
        if points:
            text += " without duration" if points == n else f" ({points} without duration)"
        parts.append(text)
    return "found " + ", ".join(parts)


def _contents(timeline: otio.schema.Timeline) -> str:
    """What the timeline holds, for a message: '12 clips on 3 tracks'."""
    tracks = clips = 0
    for track in timeline.find_children(descended_from_type=otio.schema.Track):
        tracks += 1
        clips += sum(isinstance(item, otio.schema.Clip) for item in track)
    return f"{clips} clip{'s' if clips != 1 else ''} on {tracks} track{'s' if tracks != 1 else ''}"


def _no_sections(
    timeline: otio.schema.Timeline, raws: list[_Raw], sel: MarkerSelection, hidden: int = 0
) -> NoSectionsError:
    where = f"'{timeline.name}'" if timeline.name else "the timeline"
    filters = []
    if sel.colors:
        filters.append("color " + "/".join(sel.colors))
    if sel.name_pattern:
        filters.append(f"name '{sel.name_pattern}'")
    if sel.tracks:
        filters.append("track " + "/".join(sel.tracks))
    found = _describe(raws)
    if not raws and hidden:
        found = f"found {hidden} marker{'s' if hidden != 1 else ''}, none inside the visible part of its clip"
    if not raws:
        found += f" ({_contents(timeline)})"
    if raws and filters:
        found += " but none matched " + " and ".join(filters)
        colors = sorted({r.found.color for r in raws if r.found.color})
        if colors:
            found += f" (colors present: {', '.join(colors)})"
    return NoSectionsError(
        f"no section markers in {where}: {found}",
        hint="add a marker with a duration per sung section (Resolve: M, then set its Duration; Premiere: M, "
        "then Alt/Option-drag it), or one marker at the start of each section",
    )


def find_sections(
    timeline: otio.schema.Timeline,
    selection: MarkerSelection = MarkerSelection(),
    *,
    song_end_frame: int | None = None,
    max_seconds: float = 600.0,
) -> SectionScan:
    """Turn the selected markers into validated, frame-exact sections (see module docstring)."""
    c = _collect(timeline, selection.marker_time, selection.generated_track_prefix)
    warnings = list(c.warnings)
    rate, start0 = c.rate, c.start
    picked: list[_Raw] = []
    seen: set[tuple[str, int, int, str]] = set()
    for raw in sorted((r for r in c.raws if _selected(r, selection)), key=lambda r: (r.found.start_frame, r.order)):
        f = raw.found
        key = (f.name, f.start_frame, f.duration_frames, f.text)
        if key in seen:  # the same marker on linked clips / several tracks (EDL, Premiere A1+A2)
            continue
        seen.add(key)
        picked.append(raw)
    if not picked:
        raise _no_sections(timeline, c.raws, selection, c.hidden)

    def tc(frame: int) -> str:
        return frame_label(frame, start0, rate)

    song_end = song_end_frame if song_end_frame is not None else (c.end or None)
    # ranged markers sorted by start, with the furthest end reached so far (point-inside-range test)
    range_starts: list[int] = []
    reach: list[int] = []
    for r in picked:
        if r.found.duration_frames > 1:
            range_starts.append(r.found.start_frame)
            stop = r.found.start_frame + r.found.duration_frames
            reach.append(max(stop, reach[-1]) if reach else stop)
    spans: list[tuple[_Raw, int, int]] = []
    point_frames: set[int] = set()
    for i, raw in enumerate(picked):
        f = raw.found
        if f.duration_frames > 1:
            spans.append((raw, f.start_frame, f.start_frame + f.duration_frames))
            continue
        label = f.name.strip() or _title(f.text) or "(unnamed)"
        before = bisect.bisect_right(range_starts, f.start_frame)  # ranged markers starting at or before it
        if before and reach[before - 1] > f.start_frame:
            warnings.append(f"marker '{label}' at {tc(f.start_frame)} lies inside another section: ignored as a note")
            continue
        if f.start_frame in point_frames:  # e.g. a Kdenlive guide and a clip marker on the same frame
            warnings.append(
                f"marker '{label}' ({f.origin}) at {tc(f.start_frame)} is on the same frame as another section "
                f"start: ignored as a note"
            )
            continue
        point_frames.add(f.start_frame)
        j = i + 1
        while j < len(picked) and picked[j].found.start_frame <= f.start_frame:
            j += 1
        end = picked[j].found.start_frame if j < len(picked) else song_end
        if end is None:
            raise SectionError(
                f"marker '{f.name}' at {tc(f.start_frame)} starts a section with no end",
                hint="give the marker a duration or add a marker where the section ends",
            )
        spans.append((raw, f.start_frame, end))

    max_frames = math.floor(max_seconds * rate + 1e-9)  # never over the limit
    sections: list[Section] = []
    used: set[str] = set()
    prev: Section | None = None
    for raw, start, end in spans:
        f = raw.found
        name = f.name.strip() or _title(f.text) or f"Section {len(sections) + 1}"
        label = f"section '{name}' ({f.origin}, {tc(start)})"
        if start < 0:
            raise SectionError(
                f"{label} starts before the timeline's first frame {tc(0)}",
                hint="move the marker inside the timeline or use --marker-time",
            )
        if song_end_frame is None and c.end and start >= c.end:
            raise SectionError(
                f"{label} starts after the end of the timeline ({tc(c.end)})",
                hint="move or delete the marker, or check --marker-time",
            )
        if song_end_frame is not None and start >= song_end_frame:
            raise SectionError(
                f"{label} starts after the end of the song ({tc(song_end_frame)})", hint="move or delete the marker"
            )
        if song_end_frame is not None and end > song_end_frame:
            warnings.append(f"{label} runs past the end of the song: cut at {tc(song_end_frame)}")
            end = song_end_frame
        if end <= start:
            raise SectionError(f"{label} has zero length", hint="give the marker a duration")
        if end - start > max_frames:
            raise SectionError(
                f"{label} is {(end - start) / rate:.1f} s long, more than the {max_seconds:.0f} s limit",
                hint="split it with more markers",
            )
        if prev is not None and start < prev.end_frame:
            raise SectionError(
                f"{label} overlaps section '{prev.name}' ({tc(prev.start_frame)}-{tc(prev.end_frame)})",
                hint="shorten one of the markers, or pick the section markers with --color/--name/--track",
            )
        for bad in unknown_directive_keys(f.text):
            warnings.append(f"{label}: unknown setting '{bad}:' ignored (known: {', '.join(DIRECTIVE_KEYS)})")
        base = slugify(name)
        slug, n = base, 2
        while slug.lower() in used:
            slug, n = f"{base}_{n}", n + 1
        used.add(slug.lower())
        directives = parse_directives(f.text)
        prev = Section(len(sections) + 1, name, slug, start, end, rate, f.color, f.text, directives, f.origin)
        sections.append(prev)
    return SectionScan(tuple(sections), tuple(warnings), tuple(r.found for r in c.raws))
