"""Markers -> frame-exact sections (pure: no I/O).

Owns section selection (color / name pattern / track) over the markers ``collect`` found,
turning point markers into sections closed by the next marker or the song's end, and validation
(overlap, zero length, too long, outside the song). Marker notes' settings are read by
``directives``.
"""

from __future__ import annotations

import bisect
import fnmatch
import math
from dataclasses import dataclass

import opentimelineio as otio

from otio_heygen.errors import NoSectionsError, SectionError
from otio_heygen.read.timeline import (
    frame_label,
)
from otio_heygen.sections.collect import MarkerTime, RawMarker, collect
from otio_heygen.sections.directives import DIRECTIVE_KEYS, note_title, parse_directives, unknown_directive_keys
from otio_heygen.sections.model import FoundMarker, Section, slugify

__all__ = ["MarkerSelection", "SectionScan", "find_sections"]


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


def _selected(raw: RawMarker, sel: MarkerSelection) -> bool:
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


def _describe(raws: list[RawMarker]) -> str:
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
    timeline: otio.schema.Timeline, raws: list[RawMarker], sel: MarkerSelection, hidden: int = 0
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
    c = collect(timeline, selection.marker_time, selection.generated_track_prefix)
    picked = _pick(c.raws, selection)
    if not picked:
        raise _no_sections(timeline, c.raws, selection, c.hidden)
    scan = _Scan(c.rate, c.start, c.end, song_end_frame, max_seconds, list(c.warnings))
    sections: list[Section] = []
    used: set[str] = set()
    for raw, start, end in _spans(picked, scan):
        sections.append(scan.section(raw, start, end, sections, used))
    return SectionScan(tuple(sections), tuple(scan.warnings), tuple(r.found for r in c.raws))


def _pick(raws: list[RawMarker], selection: MarkerSelection) -> list[RawMarker]:
    """The selected markers by start, each marker once (the same one on linked clips or tracks)."""
    picked: list[RawMarker] = []
    seen: set[tuple[str, int, int, str]] = set()
    for raw in sorted((r for r in raws if _selected(r, selection)), key=lambda r: (r.found.start_frame, r.order)):
        f = raw.found
        key = (f.name, f.start_frame, f.duration_frames, f.text)
        if key in seen:  # the same marker on linked clips / several tracks (EDL, Premiere A1+A2)
            continue
        seen.add(key)
        picked.append(raw)
    return picked


@dataclass
class _Scan:
    """What checking one section needs to know about the timeline and the song."""

    rate: float
    start0: int
    timeline_end: int
    song_end_frame: int | None
    max_seconds: float
    warnings: list[str]

    def tc(self, frame: int) -> str:
        return frame_label(frame, self.start0, self.rate)

    @property
    def song_end(self) -> int | None:
        """Where the last point marker's section ends: the song's end, else the timeline's."""
        return self.song_end_frame if self.song_end_frame is not None else (self.timeline_end or None)

    def section(self, raw: RawMarker, start: int, end: int, done: list[Section], used: set[str]) -> Section:
        """The validated section for one span (raises ``SectionError`` on a bad one)."""
        f = raw.found
        name = f.name.strip() or note_title(f.text) or f"Section {len(done) + 1}"
        label = f"section '{name}' ({f.origin}, {self.tc(start)})"
        end = self._check_bounds(label, start, end)
        prev = done[-1] if done else None
        if prev is not None and start < prev.end_frame:
            raise SectionError(
                f"{label} overlaps section '{prev.name}' ({self.tc(prev.start_frame)}-{self.tc(prev.end_frame)})",
                hint="shorten one of the markers, or pick the section markers with --color/--name/--track",
            )
        for bad in unknown_directive_keys(f.text):
            self.warnings.append(f"{label}: unknown setting '{bad}:' ignored (known: {', '.join(DIRECTIVE_KEYS)})")
        base = slugify(name)
        slug, n = base, 2
        while slug.lower() in used:
            slug, n = f"{base}_{n}", n + 1
        used.add(slug.lower())
        directives = parse_directives(f.text)
        return Section(len(done) + 1, name, slug, start, end, self.rate, f.color, f.text, directives, f.origin)

    def _check_bounds(self, label: str, start: int, end: int) -> int:
        """The span's end, cut at the song's end; errors for spans outside the timeline or song."""
        song_end_frame, tc = self.song_end_frame, self.tc
        if start < 0:
            raise SectionError(
                f"{label} starts before the timeline's first frame {tc(0)}",
                hint="move the marker inside the timeline or use --marker-time",
            )
        if song_end_frame is None and self.timeline_end and start >= self.timeline_end:
            raise SectionError(
                f"{label} starts after the end of the timeline ({tc(self.timeline_end)})",
                hint="move or delete the marker, or check --marker-time",
            )
        if song_end_frame is not None and start >= song_end_frame:
            raise SectionError(
                f"{label} starts after the end of the song ({tc(song_end_frame)})", hint="move or delete the marker"
            )
        if song_end_frame is not None and end > song_end_frame:
            self.warnings.append(f"{label} runs past the end of the song: cut at {tc(song_end_frame)}")
            end = song_end_frame
        if end <= start:
            raise SectionError(f"{label} has zero length", hint="give the marker a duration")
        max_frames = math.floor(self.max_seconds * self.rate + 1e-9)  # never over the limit
        if end - start > max_frames:
            raise SectionError(
                f"{label} is {(end - start) / self.rate:.1f} s long, more than the {self.max_seconds:.0f} s limit",
                hint="split it with more markers",
            )
        return end


def _spans(picked: list[RawMarker], scan: _Scan) -> list[tuple[RawMarker, int, int]]:
    """Each section's frames: a ranged marker's own range, a point marker up to the next marker
    (or the song's end); point markers inside a range or on another start's frame are notes."""
    # ranged markers sorted by start, with the furthest end reached so far (point-inside-range test)
    range_starts: list[int] = []
    reach: list[int] = []
    for r in picked:
        if r.found.duration_frames > 1:
            range_starts.append(r.found.start_frame)
            stop = r.found.start_frame + r.found.duration_frames
            reach.append(max(stop, reach[-1]) if reach else stop)
    spans: list[tuple[RawMarker, int, int]] = []
    point_frames: set[int] = set()
    for i, raw in enumerate(picked):
        f = raw.found
        if f.duration_frames > 1:
            spans.append((raw, f.start_frame, f.start_frame + f.duration_frames))
            continue
        label = f.name.strip() or note_title(f.text) or "(unnamed)"
        before = bisect.bisect_right(range_starts, f.start_frame)  # ranged markers starting at or before it
        if before and reach[before - 1] > f.start_frame:
            scan.warnings.append(
                f"marker '{label}' at {scan.tc(f.start_frame)} lies inside another section: ignored as a note"
            )
            continue
        if f.start_frame in point_frames:  # e.g. a Kdenlive guide and a clip marker on the same frame
            scan.warnings.append(
                f"marker '{label}' ({f.origin}) at {scan.tc(f.start_frame)} is on the same frame as another "
                f"section start: ignored as a note"
            )
            continue
        point_frames.add(f.start_frame)
        j = i + 1
        while j < len(picked) and picked[j].found.start_frame <= f.start_frame:
            j += 1
        end = picked[j].found.start_frame if j < len(picked) else scan.song_end
        if end is None:
            raise SectionError(
                f"marker '{f.name}' at {scan.tc(f.start_frame)} starts a section with no end",
                hint="give the marker a duration or add a marker where the section ends",
            )
        spans.append((raw, f.start_frame, end))
    return spans
