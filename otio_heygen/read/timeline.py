"""Reading timelines of every NLE dialect into one ``otio.schema.Timeline`` (reading only).

Owns: choosing the reader by extension (and by content for ``.xml`` holding FCPXML), the dialect repairs
of ``otio_heygen.read.dialects`` (``Marker.3`` JSON, CMX3600 EDL clean-up) and ``otio_heygen.read.fcpxml``, turning
every failure into an ``InputError`` an editor understands (never a traceback), and the timeline's rate,
first frame and length in whole frames. Writing belongs to ``writer``/``conform``.
"""

from __future__ import annotations

import json
import logging
import math
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import opentimelineio as otio

from otio_heygen.errors import AdapterMissingError, TimelineFormatError, TimelineNotFoundError
from otio_heygen.read.dialects import downgrade_marker3, edl_rate, normalise_edl, settle_edl
from otio_heygen.read.fcpxml import read_fcpxml

__all__ = [
    "ADAPTER_PACKAGES",
    "SUPPORTED_SUFFIXES",
    "frame_label",
    "frames",
    "read_timeline",
    "round_frame",
    "same_rate",
    "timeline_end_frame",
    "timeline_rate",
    "timeline_start_frame",
]

SUPPORTED_SUFFIXES: tuple[str, ...] = (".otio", ".otioz", ".xml", ".fcpxml", ".fcpxmld", ".edl", ".aaf")

ADAPTER_PACKAGES: dict[str, tuple[str, str]] = {
    # suffix -> (OTIO adapter name, pip package that provides it)
    ".otio": ("otio_json", "opentimelineio"),
    ".otioz": ("otioz", "opentimelineio"),
    ".otiod": ("otiod", "opentimelineio"),
    ".xml": ("fcp_xml", "otio-fcp-adapter"),
    ".fcpxml": ("fcpx_xml", "otio-fcpx-xml-adapter"),
    ".fcpxmld": ("fcpx_xml", "otio-fcpx-xml-adapter"),
    ".edl": ("cmx_3600", "otio-cmx3600-adapter"),
    ".aaf": ("AAF", "otio-aaf-adapter"),
    ".ale": ("ale", "otio-ale-adapter"),
    ".kdenlive": ("kdenlive", "otio-kdenlive-adapter"),
    ".mlt": ("mlt_xml", "otio-mlt-adapter"),
    ".xges": ("xges", "otio-xges-adapter"),
    ".drp": ("drp", "otio-drp-adapter"),
}

_LOG = logging.getLogger(__name__)
_MAGIC = {
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"%PDF": "a PDF document",
    b"RIFF": "a RIFF (WAV/AVI) media file",
    b"ID3": "an MP3 file",
    b"fLaC": "a FLAC file",
    b"OggS": "an Ogg file",
}


# ----------------------------------------------------------------------------------------------- rates


def same_rate(a: float, b: float) -> bool:
    """True when two rates are the same rate written differently (23.976 vs 24000/1001 vs a float32)."""
    return abs(a - b) <= 0.0015 * max(a, b, 1e-9)


def round_frame(value: float) -> int:
    """Nearest whole frame, halves up (never truncate: 1439.99856 is frame 1440)."""
    return math.floor(value + 0.5)


def frames(t: otio.opentime.RationalTime, rate: float) -> float:
    """``t`` as (fractional) frames at ``rate``; no rescale between near-identical NTSC rates."""
    if t.rate <= 0:
        return float(t.value)
    if same_rate(t.rate, rate):
        return float(t.value)
    return float(t.value) * rate / float(t.rate)


def _frame_rate(rate: float) -> bool:
    """A plausible video frame rate (not OTIO's default 1, not an audio sample rate)."""
    return 8.0 <= rate <= 300.0


def check_rates(timeline: otio.schema.Timeline) -> None:
    """Refuse a timeline whose frame rate cannot be a video rate an NLE uses (``TimelineFormatError``,
    exit 2): times at rate 0 (or negative, or not a number), or only rates outside 8-300 fps other than
    OTIO's default 1 and audio sample rates. Without this such a timeline became 24 fps silently."""
    gst = timeline.global_start_time
    times = [*([gst] if gst is not None else []), *_candidate_times(timeline)]
    for t in times:
        if not (math.isfinite(t.rate) and t.rate > 0):
            raise TimelineFormatError(
                f"the timeline '{timeline.name}' has times at a frame rate of {t.rate:g}, which no NLE uses",
                hint="re-export the timeline from the NLE, or set its frame rate there",
            )
    if times and not any(_frame_rate(t.rate) for t in times):
        odd = sorted({t.rate for t in times if t.rate != 1 and t.rate < 1000})
        if odd:
            rates = ", ".join(f"{r:g}" for r in odd)
            raise TimelineFormatError(
                f"the timeline '{timeline.name}' runs at {rates} fps, not a video frame rate NLEs use (8-300 fps)",
                hint="re-export the timeline from the NLE with its real frame rate",
            )


def _candidate_times(timeline: otio.schema.Timeline) -> Iterator[otio.opentime.RationalTime]:
    tracks = [t for t in timeline.tracks if isinstance(t, otio.schema.Track)]
    tracks.sort(key=lambda t: t.kind != otio.schema.TrackKind.Video)  # video first
    for track in tracks:
        for child in track:
            rng = getattr(child, "source_range", None)
            if rng is not None:
                yield rng.duration
    for marker in timeline.tracks.markers:
        yield marker.marked_range.start_time
    for item in timeline.tracks.find_children():
        rng = getattr(item, "source_range", None)
        if rng is not None:
            yield rng.duration
        for marker in getattr(item, "markers", ()):
            yield marker.marked_range.start_time


def timeline_rate(timeline: otio.schema.Timeline) -> float:
    """The exact rate value the timeline uses: ``global_start_time``'s, else its first video item's, else
    any plausible frame rate found in it, else 24."""
    gst = timeline.global_start_time
    if gst is not None and _frame_rate(gst.rate):
        return float(gst.rate)
    for t in _candidate_times(timeline):
        if _frame_rate(t.rate):
            return float(t.rate)
    return 24.0


def frame_label(frame: int, start: int, rate: float) -> str:
    """Timeline frame ``frame`` (from the first frame ``start``) as the timecode the editor sees."""
    try:
        return str(otio.opentime.to_timecode(otio.opentime.RationalTime(frame + start, rate), rate))
    except Exception:  # rates OTIO has no timecode for (23.976 written as a float...)
        return f"{(frame + start) / rate:.3f}s"


def timeline_start_frame(timeline: otio.schema.Timeline) -> int:
    """``global_start_time`` in whole frames at the timeline rate (0 when None)."""
    gst = timeline.global_start_time
    if gst is None:
        return 0
    return round_frame(frames(gst, timeline_rate(timeline)))


def timeline_end_frame(timeline: otio.schema.Timeline) -> int:
    """The timeline's length in whole frames, counted from its first frame."""
    try:
        duration = timeline.tracks.duration()
    except Exception:  # pragma: no cover - OTIO refuses odd compositions
        return 0
    return max(0, round_frame(frames(duration, timeline_rate(timeline))))


# ----------------------------------------------------------------------------------------------- reading


def _not_found(path: Path, why: str) -> TimelineNotFoundError:
    return TimelineNotFoundError(f"cannot open timeline {path}: {why}", hint="check the path and try again")


def _format_error(path: Path, why: str) -> TimelineFormatError:
    return TimelineFormatError(
        f"{path.name} is not a timeline otio-heygen can read: {why}",
        hint="export the timeline from your editor as .otio, FCP7 XML (.xml), .fcpxml or .edl",
    )


def _first_timeline(obj: Any) -> otio.schema.Timeline | None:
    if isinstance(obj, otio.schema.Timeline):
        return obj
    if isinstance(obj, otio.schema.SerializableCollection):
        for child in obj:
            found = _first_timeline(child)
            if found is not None:
                return found
    return None


def _adapter_available(name: str) -> bool:
    try:
        otio.adapters.from_name(name)
    except Exception:
        return False
    return True


def _read_json_otio(path: Path, text: str) -> Any:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        try:  # OTIO's JSON also allows the bare constants Inf / -Inf (RapidJSON), Python's does not
            data = json.loads(_python_constants(text))
        except json.JSONDecodeError:
            raise _format_error(path, f"not valid OTIO JSON ({exc.msg} at line {exc.lineno})") from exc
    if not isinstance(data, dict) or "OTIO_SCHEMA" not in data:
        raise _format_error(path, "JSON without an OTIO_SCHEMA (not an OpenTimelineIO file)")
    if "Marker.3" in text:
        data, count = downgrade_marker3(data)
        _LOG.info("%s: read %d Marker.3 markers as Marker.2 (newer OTIO file)", path.name, count)
        text = json.dumps(data)
    try:
        return otio.adapters.read_from_string(text, adapter_name="otio_json")
    except Exception as exc:
        why = f"OTIO could not read it ({_short(exc)})"
        if "unsupported schema" in str(exc).lower():
            known = otio.core.type_version_map()
            found = set(re.findall(r'"OTIO_SCHEMA"\s*:\s*"([A-Za-z]+)\.(\d+)"', text))
            newer = sorted(f"{n}.{v}" for n, v in found if n in known and int(v) > known[n])
            why += f" - it was written by a newer OpenTimelineIO ({', '.join(newer[:8]) or 'newer schemas'})"
        raise _format_error(path, why) from exc


_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_BARE_INF = re.compile(r"\bInf\b")


def _python_constants(text: str) -> str:
    """``Inf`` outside JSON strings as Python's ``Infinity`` (which OTIO reads too)."""
    parts: list[str] = []
    pos = 0
    for string in _JSON_STRING.finditer(text):
        parts.append(_BARE_INF.sub("Infinity", text[pos : string.start()]))
        parts.append(string.group())
        pos = string.end()
    parts.append(_BARE_INF.sub("Infinity", text[pos:]))
    return "".join(parts)


def _read_otioz(path: Path) -> Any:
    try:
        return otio.adapters.read_from_file(str(path), adapter_name="otioz")
    except Exception as first:
        try:
            with zipfile.ZipFile(path) as bundle:
                text = bundle.read("content.otio").decode("utf-8", errors="replace")
        except (zipfile.BadZipFile, KeyError, OSError) as exc:
            raise _format_error(path, f"not an .otioz bundle ({_short(exc)})") from first
        return _read_json_otio(path, text)


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:200]


def _read_edl(path: Path, raw: bytes, rate: float | None) -> Any:
    text = raw.decode("utf-8", errors="replace")
    use_rate = rate or edl_rate(text)
    try:
        fixed, rec_start = normalise_edl(text, use_rate)
    except Exception as exc:
        raise _format_error(path, f"its timecodes make no sense ({_short(exc)})") from exc
    if rec_start is None:
        raise _format_error(path, "no edit events found in the EDL")
    try:
        result = otio.adapters.read_from_string(
            fixed, adapter_name="cmx_3600", rate=use_rate, ignore_timecode_mismatch=True
        )
    except Exception as exc:
        raise _format_error(path, f"the EDL reader failed ({_short(exc)})") from exc
    timeline = _first_timeline(result)
    if timeline is not None:
        try:
            settle_edl(timeline, rec_start, use_rate)
        except Exception as exc:
            raise _format_error(path, f"its timecodes make no sense ({_short(exc)})") from exc
    return result


def _read_fcpxml(path: Path, raw: bytes) -> Any:
    try:
        return read_fcpxml(raw.decode("utf-8", errors="replace"))
    except Exception as exc:
        raise _format_error(path, f"the FCPXML could not be read ({_short(exc)})") from exc


def _read_with_adapter(path: Path, adapter: str) -> Any:
    # AAF: keep Avid's markers on their own event tracks at sequence time; attaching them to clips
    # misplaces markers of tracks the AAF does not carry (a marker on the TC track lands on a clip)
    options: dict[str, Any] = {"attach_markers": False} if adapter == "AAF" else {}
    try:
        try:
            return otio.adapters.read_from_file(str(path), adapter_name=adapter, **options)
        except TypeError:
            if not options:
                raise
            return otio.adapters.read_from_file(str(path), adapter_name=adapter)
    except Exception as exc:
        raise _format_error(path, f"the {adapter} reader failed ({_short(exc)})") from exc


def read_timeline(path: Path, *, edl_rate: float | None = None) -> otio.schema.Timeline:
    """Read any supported timeline file (first timeline of a collection).

    ``edl_rate`` sets an EDL's frame rate (EDLs do not state it; default: guessed from the timecodes,
    drop-frame -> 30000/1001). Raises ``TimelineNotFoundError``, ``TimelineFormatError`` or
    ``AdapterMissingError`` (naming the pip package) - never anything else for bad input.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    try:
        if not path.exists():
            raise _not_found(path, "no such file")
        if suffix == ".fcpxmld" and path.is_dir():  # Final Cut 10.6+ bundle
            path, suffix = path / "Info.fcpxml", ".fcpxml"
            if not path.is_file():
                raise _not_found(path, "the .fcpxmld bundle has no Info.fcpxml")
        if path.is_dir() and suffix != ".otiod":
            raise _not_found(path, "it is a folder, not a timeline file")
        raw = b"" if path.is_dir() else path.read_bytes()
    except OSError as exc:
        raise _not_found(path, exc.strerror or "unreadable") from exc
    if suffix not in ADAPTER_PACKAGES:
        known = ", ".join(SUPPORTED_SUFFIXES)
        raise _format_error(path, f"unknown extension '{suffix or '(none)'}' (supported: {known})")
    head = raw[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if suffix == ".xml" and b"<fcpxml" in head:
        suffix = ".fcpxml"  # Final Cut XML saved as .xml
    adapter, package = ADAPTER_PACKAGES[suffix]
    if suffix != ".fcpxml" and not _adapter_available(adapter):
        raise AdapterMissingError(
            f"reading {suffix} files needs the OTIO adapter '{adapter}', which is not installed",
            hint=f"pip install {package}",
        )
    if not path.is_dir():
        if not raw.strip():
            raise _format_error(path, "the file is empty")
        for magic, what in _MAGIC.items():
            if raw.startswith(magic):
                raise _format_error(path, f"it is {what}")
    result: Any
    if suffix == ".otio":
        result = _read_json_otio(path, raw.decode("utf-8", errors="replace").lstrip("\ufeff"))
    elif suffix == ".otioz":
        result = _read_otioz(path)
    elif suffix == ".edl":
        result = _read_edl(path, raw, edl_rate)
    elif suffix == ".fcpxml":
        result = _read_fcpxml(path, raw)
    else:
        if suffix == ".xml" and (b"<mlt" in head or b"<kdenlive" in head):
            raise TimelineFormatError(
                f"{path.name} is a Kdenlive/MLT project, not FCP7 XML",
                hint="export the timeline from Kdenlive as .otio (File > Export > OpenTimelineIO)",
            )
        result = _read_with_adapter(path, adapter)
    timeline = _first_timeline(result)
    if timeline is None:
        what = type(result).__name__
        raise _format_error(path, f"it holds a {what} with no timeline in it")
    if suffix == ".aaf":
        _event_tracks_to_ruler(timeline)
    return timeline


def _event_tracks_to_ruler(timeline: otio.schema.Timeline) -> None:
    """Avid's sequence markers arrive on extra tracks of kind 'AAF_Descriptive Metadata' (one per marked
    track): they become timeline markers, and the empty tracks go (NLEs would show them as tracks)."""
    for track in list(timeline.tracks):
        if (
            not isinstance(track, otio.schema.Track)
            or track.kind in (otio.schema.TrackKind.Video, otio.schema.TrackKind.Audio)
            or track.source_range is not None
            or any(not isinstance(item, otio.schema.Gap) for item in track)
        ):
            continue
        for marker in track.markers:
            timeline.tracks.markers.append(marker.clone())
        timeline.tracks.remove(track)
