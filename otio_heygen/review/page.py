"""The review page of an output: ``<stem>_review/index.html``, one row per section, every take playable.

Owns gathering what a reviewer needs for each take (player source, poster and thumbnail strip,
lip-sync re-measured on the media file with its correlation curve, cost, video id, provenance, which
take is on the main track) and rendering it with the Jinja2 templates shipped in
``otio_heygen/review/templates``. The page is plain HTML/CSS/JS with everything inlined except the
small JPEGs beside it and the clips themselves (relative links into ``<stem>_media``): it opens from
disk with no server and no network. The folder is built beside the old one and swapped in, so a
reviewer never sees half a page; stills of unchanged clips are carried over instead of re-made.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shlex
import shutil
import urllib.parse
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import opentimelineio as otio

from otio_heygen.errors import MediaError, OutputPathError
from otio_heygen.fsutil import commit_temp, create_temp_dir_beside, discard_temp, forget_temp, reserve_temp_beside
from otio_heygen.media.audio import read_audio
from otio_heygen.media.sync import ANALYSIS_RATE, MIN_CONFIDENCE, correlation_curve, curve_peak
from otio_heygen.media.thumbs import photo_thumb, video_stills
from otio_heygen.output.choose import CHOICES_FORMAT
from otio_heygen.output.takes import OutputTakes, SectionTakes, Take, read_takes
from otio_heygen.read.timeline import read_timeline
from otio_heygen.review.plot import decimate, sync_svg
from otio_heygen.run.journal import journal_path

__all__ = ["CHOICES_FORMAT", "ReviewPage", "build_review", "review_dir_for", "sent_audio_for"]

SYNC_TOLERANCE_FRAMES = 1.0
"""A take more than this many frames off is marked OFF (the same rule as the render's red marker)."""

_PLOT_SPAN_MS = 500.0
_MAX_LAG_MS = 1000.0
_CACHE_FILE = "measurements.json"


@dataclass(frozen=True)
class ReviewPage:
    """What ``build_review`` wrote."""

    path: Path
    sections: int
    takes: int
    off_sync: int
    size_bytes: int


def review_dir_for(output_path: Path) -> Path:
    return output_path.parent / f"{output_path.stem}_review"


def sent_audio_for(output_path: Path, job_key: str) -> Path | None:
    """The section audio that was uploaded for a render (kept beside the output's journal), if still there."""
    folder = journal_path(output_path.resolve().parent).parent / "audio"
    for suffix in (".wav", ".mp3"):
        candidate = folder / f"{job_key[:24]}{suffix}"
        if candidate.is_file():
            return candidate
    return None


def _timecode(frame: int, rate: float) -> str:
    try:
        return str(otio.opentime.to_timecode(otio.opentime.RationalTime(frame, rate), rate))
    except (ValueError, TypeError):
        return f"{frame}f"


def _link(target: Path, from_dir: Path) -> str:
    """A relative URL from the page's folder to ``target`` (a ``file:`` URL when none exists)."""
    try:
        rel = os.path.relpath(target.resolve(), from_dir.resolve())
    except ValueError:
        return target.resolve().as_uri()
    return urllib.parse.quote(rel.replace(os.sep, "/"), safe="/")


def _file_id(path: Path) -> str:
    """Changes when the file does (path, size, modification time)."""
    stat = path.stat()
    return hashlib.sha256(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:16]


def _still_name(media: Path, kind: str) -> str:
    """A file name that changes when the media file does, so stills of unchanged clips are reused."""
    return f"{media.stem}-{_file_id(media)[:12]}-{kind}.jpg"


class _Cache:
    """Measurements of the previous page, reused while the files measured have not changed."""

    def __init__(self, old_dir: Path) -> None:
        try:
            loaded = json.loads((old_dir / _CACHE_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            loaded = {}
        self.old: dict[str, Any] = loaded if isinstance(loaded, dict) else {}
        self.new: dict[str, Any] = {}

    def get(self, key: str, make: Any) -> dict[str, Any]:
        value = self.old.get(key)
        if not isinstance(value, dict):
            value = make()
        self.new[key] = value
        return value

    def save(self, new_dir: Path) -> None:
        (new_dir / _CACHE_FILE).write_text(json.dumps(self.new), encoding="utf-8")


class _Stills:
    """Makes the JPEGs in the new page folder, reusing identical ones from the previous page."""

    def __init__(self, new_dir: Path, old_dir: Path) -> None:
        self.new = new_dir / "thumbs"
        self.old = old_dir / "thumbs"
        self.new.mkdir(parents=True, exist_ok=True)

    def has(self, name: str) -> bool:
        """True when the still exists in the new folder (copied over from the previous page if there)."""
        dest, old = self.new / name, self.old / name
        if not dest.exists() and old.is_file():
            shutil.copy2(old, dest)
        return dest.exists()

    def get(self, name: str, make: Callable[[Path], object] | None) -> str:
        """The page-relative URL of a still, made with ``make(dest)`` unless it already exists."""
        if not self.has(name) and make is not None:
            make(self.new / name)
        return f"thumbs/{urllib.parse.quote(name)}"


def _sync_of_files(media: Path, sent: Path) -> dict[str, Any]:
    """Offset (ms), confidence and the correlation curve (plot window) of a clip against the audio sent."""
    try:
        clip, clip_rate = read_audio(media, ANALYSIS_RATE)
        ref, ref_rate = read_audio(sent, ANALYSIS_RATE)
    except MediaError:
        return {"offset_ms": 0.0, "confidence": 0.0, "lags": [], "values": []}
    lags, values = correlation_curve(ref, ref_rate, clip, clip_rate, max_lag_ms=_MAX_LAG_MS)
    offset_ms, confidence = curve_peak(lags, values)
    span = max(_PLOT_SPAN_MS, min(_MAX_LAG_MS, abs(offset_ms) + 150.0))
    keep = abs(lags) <= span
    plot_lags, plot_values = decimate(lags[keep].tolist(), values[keep].tolist())
    return {"offset_ms": offset_ms, "confidence": confidence,
            "lags": [round(x, 1) for x in plot_lags], "values": [round(v, 4) for v in plot_values]}


def _measure(take: Take, output_path: Path, cache: _Cache) -> dict[str, Any]:
    """Sync of the media file against the audio sent: offset, frames, confidence, OFF flag and plot."""
    rate = float(take.provenance.get("section", {}).get("rate") or 24.0)
    sent = sent_audio_for(output_path, str(take.provenance.get("job_key") or ""))
    lags: list[float] = []
    values: list[float] = []
    if take.media_path is not None and sent is not None:
        media, audio = take.media_path, sent
        found = cache.get(f"{_file_id(media)}|{_file_id(audio)}", lambda: _sync_of_files(media, audio))
        offset_ms, confidence = float(found["offset_ms"]), float(found["confidence"])
        lags, values = found["lags"], found["values"]
        source = "measured on the file"
    else:  # the audio that was sent is gone: what the render measured
        stored = take.sync
        offset_ms = float(stored.get("offset_ms") or take.provenance.get("sync_offset_ms") or 0.0)
        confidence = float(stored.get("confidence") or 0.0)
        source = "measured at render" if stored else "not measured"
    frames = offset_ms / 1000.0 * rate
    measurable = confidence >= MIN_CONFIDENCE
    off = measurable and abs(frames) > SYNC_TOLERANCE_FRAMES
    return {
        "text": _sync_text(offset_ms, frames) if measurable else "sync not measurable (no matching audio)",
        "offset_ms": round(offset_ms, 1) if measurable else None,
        "offset_frames": round(frames, 2) if measurable else None,
        "confidence": round(confidence, 3),
        "badge": "OFF" if off else ("OK" if measurable else "N/A"),
        "source": source,
        "svg": sync_svg(lags, values, offset_ms=offset_ms if measurable else None,
                        tolerance_ms=SYNC_TOLERANCE_FRAMES / rate * 1000.0, off=off),
    }


def _sync_text(offset_ms: float, frames: float) -> str:
    """``in sync``, or ``audio 200 ms late (4.8 frames)`` / ``... early ...``."""
    if abs(offset_ms) < 0.5:
        return "in sync (0 ms)"
    word = "late" if offset_ms > 0 else "early"
    return f"audio {abs(offset_ms):.0f} ms {word} ({abs(frames):.1f} frames)"


def _take_view(take: Take, section: SectionTakes, output_path: Path, page_dir: Path, stills: _Stills,
               cache: _Cache) -> dict[str, Any]:
    prov = take.provenance
    media = take.media_path
    view: dict[str, Any] = {
        "take": take.take, "main": take.on_main_track, "track": take.track_name,
        "media_name": media.name if media else str(prov.get("media_file") or take.target_url),
        "src": _link(media, page_dir) if media else None, "poster": None, "strip": None, "seconds": None,
        "video_id": take.video_id or "-", "cost": take.cost_usd, "backend": prov.get("backend") or "-",
        "created_at": prov.get("created_at") or "-", "job_key": str(prov.get("job_key") or ""),
        "provenance": json.dumps(prov, indent=1, sort_keys=True, default=str),
        "dom_id": f"s{section.index}t{take.take}",
    }
    if media is not None:
        strip, poster = _still_name(media, "strip"), _still_name(media, "poster")
        seconds: list[float] = []
        if not stills.has(strip) or not stills.has(poster):
            seconds.append(video_stills(media, stills.new / strip, stills.new / poster))
        view["strip"], view["poster"] = stills.get(strip, None), stills.get(poster, None)
        frames = prov.get("media_duration_frames") or take.duration_frames
        view["seconds"] = seconds[0] if seconds else float(frames) / section.rate
    view["sync"] = _measure(take, output_path, cache)
    return view


def _section_view(section: SectionTakes, data: OutputTakes, stills: _Stills,
                  takes: list[dict[str, Any]]) -> dict[str, Any]:
    photo = Path(section.photo) if section.photo else None
    photo_src = None
    if photo is not None and photo.is_file():
        with contextlib.suppress(OSError, MediaError):
            photo_src = stills.get(_still_name(photo, "photo"), lambda dest: photo_thumb(photo, dest))
    frames = section.end_frame - section.start_frame
    main = section.main
    return {
        "index": section.index, "name": section.name, "slug": section.slug,
        "tc_in": _timecode(data.timecode_start + section.start_frame, data.rate),
        "tc_out": _timecode(data.timecode_start + section.end_frame, data.rate),
        "frames": frames, "seconds": frames / section.rate,
        "photo_name": photo.name if photo else "-", "photo_src": photo_src,
        "motion_prompt": section.motion_prompt or "", "main_take": main.take if main else None,
        "takes": takes,
    }


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("otio_heygen.review", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
    )


def render_page(context: dict[str, Any]) -> str:
    """The HTML of the page for a context made by ``build_review`` (pure)."""
    return _environment().get_template("review.html.j2").render(**context)


def _swap_in(tmp_dir: Path, final: Path) -> None:
    """Replace ``final`` by ``tmp_dir`` with renames only (the old page stays whole until the last one)."""
    old: Path | None = None
    if final.exists():
        old = reserve_temp_beside(final, ".old")
        os.replace(final, old)
    try:
        commit_temp(tmp_dir, final)
    except OSError:
        if old is not None:
            os.replace(old, final)
            forget_temp(old)
        raise
    if old is not None:
        discard_temp(old)


def build_review(output_path: Path) -> ReviewPage:
    """Write ``<stem>_review/index.html`` for an output timeline; no network, nothing spent."""
    output_path = Path(output_path)
    data = read_takes(read_timeline(output_path), output_path)
    final = review_dir_for(output_path)
    try:
        tmp_dir = create_temp_dir_beside(final, ".tmp")
    except OSError as exc:
        raise OutputPathError(f"cannot write the review page beside {output_path}: {exc.strerror or exc}",
                              hint="choose an output folder you can write to") from exc
    try:
        stills, cache = _Stills(tmp_dir, final), _Cache(final)
        pairs = [(s, t) for s in data.sections for t in s.takes]
        # decoding (PyAV) and the FFTs (numpy) release the GIL: a few threads use every core
        with ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1))) as pool:
            views = list(pool.map(lambda st: _take_view(st[1], st[0], output_path, tmp_dir, stills, cache), pairs))
        by_section: dict[int, list[dict[str, Any]]] = {}
        for (section, _), view in zip(pairs, views, strict=True):
            by_section.setdefault(section.index, []).append(view)
        sections = [_section_view(s, data, stills, by_section.get(s.index, [])) for s in data.sections]
        cache.save(tmp_dir)
        context = _context(output_path, data, sections)
        (tmp_dir / "index.html").write_text(render_page(context), encoding="utf-8")
        os.chmod(tmp_dir, 0o755)
        _swap_in(tmp_dir, final)
    except BaseException:
        discard_temp(tmp_dir)
        raise
    size = sum(p.stat().st_size for p in final.rglob("*") if p.is_file())
    takes = [t for s in sections for t in s["takes"]]
    return ReviewPage(path=final / "index.html", sections=len(sections), takes=len(takes),
                      off_sync=sum(1 for t in takes if t["sync"]["badge"] == "OFF"), size_bytes=size)


def _context(output_path: Path, data: OutputTakes, sections: list[dict[str, Any]]) -> dict[str, Any]:
    takes = [t for s in sections for t in s["takes"]]
    costs = [t["cost"] for t in takes if t["cost"] is not None]
    choice_data = {
        "format": CHOICES_FORMAT, "output": output_path.name,
        "command": f"otio-heygen choose {shlex.quote(str(output_path))}",
        "file_name": f"{output_path.stem}_choices.json",
        "sections": [{"index": s["index"], "slug": s["slug"], "name": s["name"], "main_take": s["main_take"],
                      "takes": [t["take"] for t in s["takes"]]} for s in sections],
    }
    return {
        "title": output_path.name, "output_path": str(output_path.resolve()), "rate": data.rate,
        "track_name": data.main_track_name, "sections": sections, "take_count": len(takes),
        "off_count": sum(1 for t in takes if t["sync"]["badge"] == "OFF"),
        "total_cost": sum(costs) if costs else None,
        "choice_json": json.dumps(choice_data).replace("</", "<\\/"),
    }
