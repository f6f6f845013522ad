"""Dialect knowledge for reading timelines: the repairs ``timeline.read_timeline`` applies, and marker text.

Owns: ``Marker.3`` JSON (newer OTIO) -> ``Marker.2``; CMX3600 EDL clean-up (CR-only line endings, missing
trailing newline, drop-frame locators the adapter skips, the record start it loses, the rate EDLs do not
state, Resolve's timeline-marker EDL); and where each dialect keeps a marker's text, keywords and color
(Resolve ``Resolve_OTIO``, Premiere ``fcp_xml`` ``pproColor``, Kdenlive ``comment``, EDL ``cmx_3600``).
The FCPXML reader lives in ``otio_heygen.read.fcpxml``.
"""

from __future__ import annotations

import re
from typing import Any

import opentimelineio as otio

__all__ = [
    "downgrade_marker3",
    "edl_rate",
    "marker_colors",
    "marker_info",
    "marker_keywords",
    "marker_text",
    "normalise_edl",
    "ppro_color_name",
    "ppro_color_value",
    "settle_edl",
    "timecode_frames",
]

RT = otio.opentime.RationalTime
TR = otio.opentime.TimeRange

# ------------------------------------------------------------------------------------------ colors

_OTIO_RGB = {
    "RED": (1.0, 0.0, 0.0),
    "ORANGE": (1.0, 0.5, 0.0),
    "YELLOW": (1.0, 1.0, 0.0),
    "GREEN": (0.0, 1.0, 0.0),
    "CYAN": (0.0, 1.0, 1.0),
    "BLUE": (0.0, 0.0, 1.0),
    "PURPLE": (0.5, 0.0, 0.5),
    "MAGENTA": (1.0, 0.0, 1.0),
    "PINK": (1.0, 0.75, 0.8),
    "BLACK": (0.0, 0.0, 0.0),
    "WHITE": (1.0, 1.0, 1.0),
}
_PPRO_SWATCHES = {  # Premiere marker swatches (ABGR-packed) -> name
    0xFF2C36D2: "Red",
    0xFF863771: "Purple",
    0xFF8BB1AF: "Green",
    0xFF246FE9: "Orange",
    0xFF2BA1D0: "Yellow",
    0xFFFFFFFF: "White",
    0xFFFC8D42: "Blue",
    0xFFB18BAF: "Lavender",
    0xFFD619F4: "Magenta",
}


def _nearest_otio_color(rgb: tuple[float, float, float]) -> str:
    return min(_OTIO_RGB, key=lambda n: sum((a - b) ** 2 for a, b in zip(_OTIO_RGB[n], rgb, strict=True)))


def ppro_color_name(value: Any) -> str | None:
    """Premiere's ``pproColor`` (decimal, or 8 hex digits, ABGR-packed) as a color name; None if unreadable."""
    text = str(value).strip()
    try:
        hexa = re.fullmatch(r"(0x)?[0-9A-Fa-f]{8}", text) is not None and not text.isdigit()
        number = int(text, 16) if hexa else int(text)
    except ValueError:
        return None
    number &= 0xFFFFFFFF
    if number in _PPRO_SWATCHES:
        return _PPRO_SWATCHES[number]
    r, g, b = number & 0xFF, (number >> 8) & 0xFF, (number >> 16) & 0xFF
    return _nearest_otio_color((r / 255, g / 255, b / 255)).capitalize()


_PPRO_ALIASES = {  # OTIO and Resolve color names Premiere has no swatch of -> the closest swatch
    "cyan": "Blue", "sky": "Blue", "navy": "Blue", "pink": "Magenta", "rose": "Magenta", "fuchsia": "Magenta",
    "violet": "Purple", "mint": "Green", "olive": "Green", "lemon": "Yellow", "sand": "Orange",
    "cocoa": "Orange", "cream": "White",
}


def ppro_color_value(name: str | None) -> int | None:
    """The Premiere swatch (ABGR-packed ``pproColor``) for a marker color name, or None when unknown.

    The inverse of ``ppro_color_name`` for Premiere's swatch names; OTIO and Resolve names map to the
    closest swatch (PINK -> Magenta, CYAN -> Blue).
    """
    wanted = str(name or "").strip().lower()
    wanted = _PPRO_ALIASES.get(wanted, wanted).lower()
    return next((value for value, swatch in _PPRO_SWATCHES.items() if swatch.lower() == wanted), None)


_WANTED = {
    "Resolve_OTIO": ("Note", "Keywords", "Color", "color"),
    "fcp_xml": ("comment", "pproColor"),
    "kdenlive": ("comment",),
    "fcpx_xml": ("note",),
    "cmx_3600": ("color",),
}
_Meta = dict[str, dict[str, Any]]


def _namespaces(marker: Any) -> _Meta:
    """The dialect namespaces of a marker's metadata, as plain dicts (OTIO's AnyDictionary is slow)."""
    md = getattr(marker, "metadata", None)
    out: _Meta = {}
    if md is None:
        return out
    for ns in md.keys():  # noqa: SIM118 - AnyDictionary: keys() once is far faster than `in`
        wanted = _WANTED.get(ns)
        value = md[ns] if wanted else None
        if value is None or not hasattr(value, "keys"):
            continue
        present = set(value.keys())
        out[ns] = {k: value[k] for k in wanted or () if k in present}
    return out


def marker_info(marker: Any) -> tuple[str, tuple[str, ...], list[str]]:
    """(text, keywords, colors) of a marker, reading its metadata once."""
    meta = _namespaces(marker)
    return _text(marker, meta), _keywords(meta), _colors(marker, meta)


def marker_text(marker: Any) -> str:
    """The free text of a marker in any dialect (comment, Resolve note, fcp_xml comment), deduplicated."""
    return _text(marker, _namespaces(marker))


def marker_keywords(marker: Any) -> tuple[str, ...]:
    """Resolve marker keywords (a list or a comma-separated string)."""
    return _keywords(_namespaces(marker))


def marker_colors(marker: Any) -> list[str]:
    """Every name the marker's color goes by, most specific first (Premiere swatch, Resolve, EDL, OTIO).

    otio-fcp-adapter reads every Premiere marker as RED: when ``pproColor`` is present, OTIO's color is
    left out so ``--color red`` does not match a green Premiere marker."""
    return _colors(marker, _namespaces(marker))


def _text(marker: Any, meta: _Meta) -> str:
    parts: list[str] = []
    for value in (
        getattr(marker, "comment", ""),
        meta.get("Resolve_OTIO", {}).get("Note"),
        meta.get("fcp_xml", {}).get("comment"),
        meta.get("kdenlive", {}).get("comment"),
        meta.get("fcpx_xml", {}).get("note"),
    ):
        if isinstance(value, str) and value.strip() and value.strip() not in parts:
            parts.append(value.strip())
    return "\n".join(parts)


def _keywords(meta: _Meta) -> tuple[str, ...]:
    value = meta.get("Resolve_OTIO", {}).get("Keywords")
    if isinstance(value, str):
        return tuple(k.strip() for k in value.split(",") if k.strip())
    if value is None or isinstance(value, (bytes, dict)) or not hasattr(value, "__iter__"):
        return ()
    return tuple(str(k).strip() for k in value if str(k).strip())


def _colors(marker: Any, meta: _Meta) -> list[str]:
    names: list[str] = []
    ppro = meta.get("fcp_xml", {}).get("pproColor")
    if ppro is not None:
        name = ppro_color_name(ppro)
        if name:
            names.append(name)
        names.append(str(ppro))
    resolve = meta.get("Resolve_OTIO", {})
    for key in ("Color", "color"):
        if isinstance(resolve.get(key), str) and resolve[key]:
            names.append(resolve[key])
    cmx = meta.get("cmx_3600", {}).get("color")
    if isinstance(cmx, str) and cmx:
        names.append(cmx)
    if ppro is None and getattr(marker, "color", None):
        names.append(str(marker.color))
    out: list[str] = []
    for n in names:
        if n.lower() not in (o.lower() for o in out):
            out.append(n)
    return out


# ------------------------------------------------------------------------------------------ Marker.3


def _color_name(color: Any) -> str:
    if isinstance(color, str):
        return color.upper() or "RED"
    if isinstance(color, dict):
        name = color.get("name")
        if isinstance(name, str) and name:
            return name.upper()
        try:
            r, g, b = (float(color.get(k, 0.0)) for k in ("r", "g", "b"))
        except (TypeError, ValueError):
            return "RED"
        return _nearest_otio_color((r, g, b))
    return "RED"


def downgrade_marker3(data: Any) -> tuple[Any, int]:
    """Rewrite ``Marker.3`` dicts (newer OTIO) as ``Marker.2`` with a color name; returns (data, count)."""
    count = 0

    def walk(node: Any) -> Any:
        nonlocal count
        if isinstance(node, list):
            return [walk(x) for x in node]
        if not isinstance(node, dict):
            return node
        out = {k: walk(v) for k, v in node.items()}
        if out.get("OTIO_SCHEMA") == "Marker.3":
            count += 1
            out["OTIO_SCHEMA"] = "Marker.2"
            out["color"] = _color_name(out.get("color"))
            out.setdefault("comment", "")
        return out

    return walk(data), count


# ------------------------------------------------------------------------------------------ EDL

_TC = r"\d{1,2}[:;.]\d\d[:;.]\d\d[:;.,]\d\d"
_LOC_RE = re.compile(rf"^(\s*\*\s*LOC:\s*)({_TC})(.*)$", re.IGNORECASE)
_EVENT_RE = re.compile(rf"^\s*\d+\s+\S+\s+\S+\s+\S+(?:\s+\d+)?\s+({_TC})\s+({_TC})\s+({_TC})\s+({_TC})")


def _lines(text: str) -> list[str]:
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def edl_rate(text: str) -> float:
    """The rate an EDL was cut at, guessed from its timecodes (EDLs do not state it).

    Drop-frame separators (``;``) or ``FCM: DROP FRAME`` -> 30000/1001 (60000/1001 if frames reach 30);
    otherwise the smallest of 24/25/30/60 that every frame field fits in."""
    lines = _lines(text)
    stamps = [s for line in lines for s in re.findall(_TC, line)]
    drop = any(re.search(r"[;.,]\d\d$", s) for s in stamps) or any(
        re.match(r"\s*FCM:\s*DROP", line, re.IGNORECASE) for line in lines
    )
    top = max((int(s[-2:]) for s in stamps), default=0)
    if drop:
        return 60000 / 1001 if top >= 30 else 30000 / 1001
    for limit, rate in ((24, 24.0), (25, 25.0), (30, 30.0)):
        if top < limit:
            return rate
    return 60.0


def timecode_frames(tc: str, rate: float) -> int:
    """Frame count of a timecode; ``;`` (or ``.``/``,``) before the frames means drop-frame."""
    drop = re.search(r"[;.,]\d\d$", tc) is not None
    hh, mm, ss, ff = (int(p) for p in re.split(r"[:;.,]", tc))
    nominal = round(rate)
    if drop and nominal in (30, 60):
        text = f"{hh:02d}:{mm:02d}:{ss:02d};{ff:02d}"
        return round(float(otio.opentime.from_timecode(text, rate).value))
    return ((hh * 60 + mm) * 60 + ss) * nominal + ff


def normalise_edl(text: str, rate: float) -> tuple[str, str | None]:
    """LF line endings, a trailing newline, and locators in the ``HH:MM:SS:FF`` form the adapter parses
    (a drop-frame LOC is rewritten as the non-drop string of the same frame count).
    Returns (text, record-in timecode of the first event or None)."""
    out: list[str] = []
    rec_start: str | None = None
    for line in _lines(text.lstrip("\ufeff")):
        event = _EVENT_RE.match(line)
        if event and rec_start is None:
            rec_start = event.group(3)
        loc = _LOC_RE.match(line)
        if loc and not re.fullmatch(r"\d\d:\d\d:\d\d:\d\d", loc.group(2)):
            frame = timecode_frames(loc.group(2), rate)
            tc = otio.opentime.to_timecode(RT(frame, rate), rate, drop_frame=False)
            line = f"* LOC: {tc}{loc.group(3)}"
        elif loc:
            line = f"* LOC: {loc.group(2)}{loc.group(3)}"
        out.append(line)
    return "\n".join(out).rstrip("\n") + "\n", rec_start


_RESOLVE_LIST = re.compile(r"\|C:(?:ResolveColor)?(\w*)\s*\|M:(.*?)\s*\|D:(\d+)")
_EDL_LEAD_IN_LIMIT = 10 * 60  # seconds of leading gap we restore before the first event


def settle_edl(timeline: otio.schema.Timeline, first_record: str, rate: float) -> None:
    """Give an EDL timeline the start an NLE had: the record hour (01:00:00:00) with a leading gap when
    the first event starts less than 10 minutes after it, else the first event. Resolve's "timeline
    markers" EDL (`` |C:ResolveColorBlue |M:Verse 1 |D:240`` under 1-frame events) becomes timeline
    markers."""
    first = timecode_frames(first_record, rate)
    sep = ";" if re.search(r"[;.,]\d\d$", first_record) else ":"
    hour = timecode_frames(f"{first_record[:2]}:00:00{sep}00", rate)
    lead = first - hour
    start = hour if 0 < lead <= _EDL_LEAD_IN_LIMIT * rate else first
    if start < first:
        for track in timeline.tracks:
            track.insert(0, otio.schema.Gap(source_range=TR(RT(0, rate), RT(first - start, rate))))
            if track.source_range is not None:  # the adapter's record-start encoding, kept for its writer
                length = float(track.source_range.duration.value) + first - start
                track.source_range = TR(RT(-start, rate), RT(length, rate))
    timeline.global_start_time = RT(start, rate)
    seen: set[tuple[str, float]] = set()
    for track in timeline.tracks:
        pos = 0.0
        for item in track:
            if isinstance(item, otio.schema.Transition):
                continue
            comments = item.metadata.get("cmx_3600", {}).get("comments", []) if item.metadata else []
            for comment in comments:
                match = _RESOLVE_LIST.search(str(comment))
                if match and (match.group(2), pos) not in seen:
                    seen.add((match.group(2), pos))
                    color = match.group(1).upper()
                    note = str(comment)[: match.start()].strip().lstrip("*").strip()  # Resolve: note before |C:
                    timeline.tracks.markers.append(
                        otio.schema.Marker(
                            name=match.group(2),
                            marked_range=TR(RT(pos, rate), RT(int(match.group(3)), rate)),
                            color=color if hasattr(otio.schema.MarkerColor, color) else "RED",
                            metadata={"Resolve_OTIO": {"Color": match.group(1), "Note": note, "Keywords": []}},
                        )
                    )
            pos += float(item.duration().value)
