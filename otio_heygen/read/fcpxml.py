"""An exact FCPXML reader (Final Cut Pro X projects -> ``otio.schema.Timeline``), reading only.

Why not otio-fcpx-xml-adapter: it truncates 24000/1001 to 23 fps (every time is then wrong), ignores
``tcStart``, and collects markers of nested elements onto the wrong clip. Here every time is an exact
``Fraction`` of seconds until it becomes (possibly fractional) frames at the sequence's exact rate.

Mapping: the primary storyline is track ``Primary``; connected clips and secondary storylines go to
tracks ``Lane N`` (negative lanes are audio); a compound (``ref-clip``) becomes a nested ``Stack`` with
its own tracks; ``marker``/``chapter-marker`` stay on their clip, in its local (source) time, including
markers of anchored inner elements (``<clip><video>``); transitions are absorbed by trimming the head of
the overlapping clip, so every kept marker stays frame-exact.
"""

from __future__ import annotations

import copy
import xml.etree.ElementTree as ET
from fractions import Fraction

import opentimelineio as otio

from otio_heygen.read.rates import exact_rate

__all__ = ["read_fcpxml"]

RT = otio.opentime.RationalTime
TR = otio.opentime.TimeRange


_ITEMS = {"asset-clip", "clip", "ref-clip", "gap", "video", "audio", "title", "mc-clip", "sync-clip"}
_MARKERS = {"marker", "chapter-marker"}


_ONE_FRAME = Fraction(1001, 24000)  # the longest single frame of a common rate (23.976)


def _active(elem: ET.Element) -> ET.Element | None:
    """The element that plays: an ``audition``'s first (active) pick, placed where the audition is."""
    if elem.tag != "audition":
        return elem
    pick = next((c for c in elem if c.tag in _ITEMS), None)
    if pick is None:
        return None
    pick = copy.copy(pick)
    for key in ("offset", "lane"):
        if elem.get(key) is not None:
            pick.set(key, elem.get(key, ""))
    return pick


def _conform_scalar(elem: ET.Element, rate: Fraction) -> Fraction:
    """Speed of a clip whose media Final Cut conforms to the sequence rate (25 fps media played frame for
    frame at 23.976 runs at 23.976/25): its ``start`` and markers are media time. 1 when not conformed;
    rates far apart (23.98 media in a 60 fps project) are frame-sampled, not conformed."""
    conform = elem.find("conform-rate")
    if conform is None or conform.get("scaleEnabled", "1") == "0":
        return Fraction(1)
    text = (conform.get("srcFrameRate") or "").strip()
    try:
        src = exact_rate(float(text))  # "23.98" is 24000/1001, like every NTSC spelling
    except (ValueError, OverflowError):
        return Fraction(1)
    if src <= 0:
        return Fraction(1)
    ratio = rate / src
    return ratio if abs(ratio - 1) < Fraction(1, 20) else Fraction(1)


def _sec(value: str | None) -> Fraction:
    if not value:
        return Fraction(0)
    text = value.strip().rstrip("s")
    try:
        if "/" in text:
            num, den = text.split("/", 1)
            return Fraction(int(num), int(den))
        return Fraction(text)
    except (ValueError, ZeroDivisionError):
        return Fraction(0)


def _range(start: Fraction, dur: Fraction, rate: Fraction) -> otio.opentime.TimeRange:
    """Seconds -> a range in (possibly fractional) frames at ``rate``."""
    return TR(RT(float(start * rate), float(rate)), RT(float(dur * rate), float(rate)))


_Lanes = dict[int, list[tuple[Fraction, Fraction, otio.core.Item]]]


class _Fcpx:
    def __init__(self, root: ET.Element) -> None:
        self.root = root
        self.by_id = {e.get("id"): e for e in root.iter() if e.get("id") and e.tag in ("format", "asset", "media")}

    def rate_of(self, fmt_id: str | None, fallback: Fraction) -> Fraction:
        fmt = self.by_id.get(fmt_id) if fmt_id else None
        fd = _sec(fmt.get("frameDuration")) if fmt is not None else Fraction(0)
        return 1 / fd if fd > 0 else fallback

    def sequence_stack(self, seq: ET.Element, rate: Fraction, name: str) -> otio.schema.Stack:
        """Tracks of a sequence; positions relative to its tcStart, in frames at ``rate``."""
        zero = _sec(seq.get("tcStart"))
        lanes: _Lanes = {}
        for spine in seq.findall("spine"):
            self.spine(spine, -zero, 0, lanes, rate)
        stack = otio.schema.Stack(name=name)
        for lane in sorted(lanes, key=lambda n: (n < 0, abs(n))):
            kind = otio.schema.TrackKind.Audio if lane < 0 else otio.schema.TrackKind.Video
            label = "Primary" if lane == 0 else f"Lane {lane}"
            stack.append(_track(label, kind, lanes[lane], rate))
        return stack

    def spine(self, spine: ET.Element, shift: Fraction, lane: int, lanes: _Lanes, rate: Fraction) -> None:
        """``shift`` maps the spine's local time to container time: container = local + shift."""
        for child in spine:
            elem = _active(child)
            if elem is not None and elem.tag in _ITEMS:
                self.place(elem, shift, lane, lanes, rate)

    def place(self, elem: ET.Element, shift: Fraction, lane: int, lanes: _Lanes, rate: Fraction) -> None:
        offset, start, dur = _sec(elem.get("offset")), _sec(elem.get("start")), _sec(elem.get("duration"))
        pos = offset + shift
        local_shift = pos - start  # element local time -> container time
        item = self.item(elem, start, dur, rate)
        lanes.setdefault(lane, []).append((pos, dur, item))
        for child in elem:
            sub = _active(child)
            if sub is None:
                continue
            sub_lane = sub.get("lane")
            if sub.tag in _ITEMS and sub_lane is not None:
                self.place(sub, local_shift, lane + int(sub_lane), lanes, rate)
            elif sub.tag == "spine" and sub_lane is not None:
                self.spine(sub, local_shift + _sec(sub.get("offset")), lane + int(sub_lane), lanes, rate)

    def item(self, elem: ET.Element, start: Fraction, dur: Fraction, rate: Fraction) -> otio.core.Item:
        name = elem.get("name", "") or ""
        zero = Fraction(0)
        obj: otio.core.Item
        if (
            elem.tag == "ref-clip"
            and (media := self.by_id.get(elem.get("ref"))) is not None
            and (seq := media.find("sequence")) is not None
        ):
            zero = _sec(seq.get("tcStart"))
            obj = self.sequence_stack(seq, rate, media.get("name", name))
            obj.name = name or obj.name
            obj.source_range = _range(start - zero, dur, rate)
        elif elem.tag == "gap":
            obj = otio.schema.Gap(source_range=_range(start, dur, rate))
            obj.name = name
        else:
            obj = otio.schema.Clip(
                name=name, media_reference=self.reference(elem, rate), source_range=_range(start, dur, rate)
            )
            scalar = _conform_scalar(elem, rate)
            if scalar != 1:
                obj.effects.append(otio.schema.LinearTimeWarp(name="conform-rate", time_scalar=float(scalar)))
        for m, at in self.markers(elem, Fraction(0)):
            m_start = (_sec(m.get("start")) + at - zero) * rate
            # Final Cut markers are points whose duration is one frame of the clip's media rate
            m_dur = _sec(m.get("duration")) * rate if _sec(m.get("duration")) > _ONE_FRAME else Fraction(0)
            completed = m.get("completed")
            color = {"1": "GREEN", "0": "RED"}.get(completed or "", "PURPLE")
            note = m.get("note", "")
            md = {"fcpx_xml": {"note": note, "tag": m.tag}} if note else {"fcpx_xml": {"tag": m.tag}}
            obj.markers.append(
                otio.schema.Marker(
                    name=m.get("value", ""),
                    color=color,
                    metadata=md,
                    marked_range=TR(RT(float(m_start), float(rate)), RT(float(m_dur), float(rate))),
                )
            )
        return obj

    def markers(self, elem: ET.Element, at: Fraction) -> list[tuple[ET.Element, Fraction]]:
        """Markers of ``elem`` and of its anchored (lane-less) inner elements, with the shift from the
        inner element's local time to ``elem``'s local time."""
        found = [(m, at) for m in elem if m.tag in _MARKERS]
        for sub in elem:
            if sub.tag in _ITEMS and sub.get("lane") is None and sub.tag != "ref-clip":
                inner = at + _sec(sub.get("offset")) - _sec(sub.get("start"))
                found.extend(self.markers(sub, inner))
        return found

    def reference(self, elem: ET.Element, rate: Fraction) -> otio.core.MediaReference:
        asset = self.by_id.get(elem.get("ref"))
        if asset is None or asset.tag != "asset":
            return otio.schema.MissingReference()
        rep = asset.find("media-rep")
        src = asset.get("src") or (rep.get("src") if rep is not None else None)
        rng = _range(_sec(asset.get("start")), _sec(asset.get("duration")), rate)
        if not src:
            return otio.schema.MissingReference(available_range=rng)
        return otio.schema.ExternalReference(target_url=src, available_range=rng)


def _track(
    name: str, kind: str, items: list[tuple[Fraction, Fraction, otio.core.Item]], rate: Fraction
) -> otio.schema.Track:
    track = otio.schema.Track(name=name, kind=kind)
    pos = Fraction(0)
    r = float(rate)
    for at, seconds, item in sorted(items, key=lambda p: p[0]):
        at_f, dur = at * rate, seconds * rate
        if at_f > pos:
            track.append(otio.schema.Gap(source_range=TR(RT(0, r), RT(float(at_f - pos), r))))
            pos = at_f
        rng = item.source_range
        skip = pos - at_f  # overlap (transition): trim the head so everything after stays exact
        if skip >= dur:
            continue
        if skip > 0:
            item.source_range = TR(RT(rng.start_time.value + float(skip), r), RT(float(dur - skip), r))
            dur -= skip
        track.append(item)
        pos += dur
    return track


def read_fcpxml(text: str) -> otio.schema.Timeline:
    """The first project of an FCPXML document as an exact timeline (``ValueError`` when there is none)."""
    root = ET.fromstring(text)
    if root.tag != "fcpxml":
        raise ValueError(f"root element is <{root.tag}>, not <fcpxml>")
    project = next(root.iter("project"), None)
    seq = project.find("sequence") if project is not None else None
    if project is None or seq is None:
        raise ValueError("no <project> with a <sequence> (export the project, not only clips or an event)")
    fcpx = _Fcpx(root)
    rate = fcpx.rate_of(seq.get("format"), Fraction(24))
    name = project.get("name", "") or ""
    timeline = otio.schema.Timeline(name=name)
    timeline.tracks = fcpx.sequence_stack(seq, rate, name)
    timeline.global_start_time = RT(float(_sec(seq.get("tcStart")) * rate), float(rate))
    timeline.metadata["fcpx_xml"] = {"format": seq.get("format", ""), "tcFormat": seq.get("tcFormat", "")}
    return timeline
