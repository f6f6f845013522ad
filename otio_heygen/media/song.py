"""Locating the song on a timeline: which audio clips make it, where their files are, relinking by name.

This module owns ``locate_song`` (the track holding the song or the ``--drive-track`` vocal stem,
or an ``--audio`` override) and its result, ``SongLayout`` of ``SongClip``s in timeline frames, and
``resolve_media_url`` (a clip's ``target_url`` to a path, relinked under ``--media-root``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio

from otio_heygen.errors import MediaError
from otio_heygen.media.probe import RELINK_HINT, audio_seconds, probe_media
from otio_heygen.read.rates import exact_rate
from otio_heygen.read.timeline import timeline_rate
from otio_heygen.urls import url_to_path

__all__ = ["SongClip", "SongLayout", "locate_song", "resolve_media_url"]


@dataclass(frozen=True)
class SongClip:
    path: Path
    timeline_start_frame: int
    duration_frames: int
    source_start_seconds: float


@dataclass(frozen=True)
class SongLayout:
    clips: tuple[SongClip, ...]
    rate: float
    end_frame: int
    track_name: str | None


def resolve_media_url(url: str, timeline_dir: Path, media_root: Path | None = None) -> tuple[Path, bool]:
    """Turn a ``target_url`` into a path; returns (path, exists). Relinks by file name under media_root."""
    path = url_to_path(url, timeline_dir)
    name = path.name
    candidate = path if isinstance(path, Path) else Path(path.as_posix())
    if candidate.is_file():
        return candidate.resolve(), True
    if media_root is not None and name:
        found = _find_by_name(media_root, name)
        if found is not None:
            return found.resolve(), True
    return candidate, False


def _find_by_name(root: Path, name: str) -> Path | None:
    if not root.is_dir():
        return None
    folded: Path | None = None
    for path in sorted(root.rglob("*")):
        if path.name == name and path.is_file():
            return path
        if folded is None and path.name.lower() == name.lower() and path.is_file():
            folded = path
    return folded


def _to_frames(t: otio.opentime.RationalTime, rate: float) -> int:
    return math.floor(Fraction(t.value) * exact_rate(rate) / exact_rate(t.rate) + Fraction(1, 2))


def _media_clips(track: otio.schema.Track) -> list[otio.schema.Clip]:
    return [
        c
        for c in track.find_clips(shallow_search=True)
        if c.enabled and isinstance(c.media_reference, otio.schema.ExternalReference) and c.media_reference.target_url
    ]


def _pick_track(timeline: otio.schema.Timeline, drive_track: str | None) -> otio.schema.Track | None:
    audio = list(timeline.audio_tracks())
    if drive_track is not None:
        every = audio + list(timeline.video_tracks())
        exact = [t for t in every if t.name == drive_track]
        for track in exact or [t for t in every if (t.name or "").casefold() == drive_track.casefold()]:
            if not _media_clips(track):
                raise MediaError(
                    f"Drive track '{drive_track}' has no clips with media",
                    hint="check the track name or drop --drive-track",
                )
            return track
        names = ", ".join(repr(t.name) for t in audio) or "none"
        raise MediaError(
            f"No track named '{drive_track}' on the timeline (audio tracks: {names})",
            hint="check --drive-track",
        )
    # enabled tracks first: a muted scratch track is not the song unless nothing else has media
    candidates = audio if audio else list(timeline.video_tracks())
    for track in sorted(candidates, key=lambda t: not t.enabled):
        if _media_clips(track):
            return track
    return None


def locate_song(
    timeline: otio.schema.Timeline,
    timeline_path: Path,
    *,
    audio_override: Path | None = None,
    media_root: Path | None = None,
    drive_track: str | None = None,
    rate: float | None = None,
    require_media: bool = True,
) -> SongLayout:
    """Where the song (or the vocal stem on ``drive_track``) is on the timeline and which files hold it."""
    the_rate = float(rate) if rate is not None else timeline_rate(timeline)
    if audio_override is not None:
        path = Path(audio_override).expanduser()
        if not path.is_file():
            if require_media:
                raise MediaError(f"Audio file not found: {path}", hint="check the --audio path")
            return SongLayout((), the_rate, 0, None)
        path = path.resolve()
        info = probe_media(path)
        if not info.has_audio:
            raise MediaError(f"{path} has no audio stream", hint="pass a song file to --audio")
        seconds = audio_seconds(path) or info.duration_seconds  # the sound, not a longer picture
        frames = max(1, math.floor(Fraction(seconds) * exact_rate(the_rate)))
        return SongLayout((SongClip(path, 0, frames, 0.0),), the_rate, frames, None)

    track = _pick_track(timeline, drive_track)
    if track is None:
        if require_media:
            raise MediaError(
                "The timeline has no audio clips with media (no song found)",
                hint="pass --audio FILE with the song",
            )
        return SongLayout((), the_rate, 0, None)
    timeline_dir = Path(timeline_path).resolve().parent
    clips: list[SongClip] = []
    checked: set[Path] = set()
    for clip in _media_clips(track):
        ref = clip.media_reference
        path, exists = resolve_media_url(str(ref.target_url), timeline_dir, media_root)
        if require_media and not exists:
            raise MediaError(
                f"Song media not found: {ref.target_url} (clip '{clip.name}' on track '{track.name}')",
                hint=RELINK_HINT,
            )
        if require_media and path not in checked:
            info = probe_media(path)
            if not info.has_audio:
                raise MediaError(f"Song media has no audio: {path} (clip '{clip.name}')", hint=RELINK_HINT)
            checked.add(path)
        in_parent = clip.trimmed_range_in_parent()
        start = _to_frames(in_parent.start_time, the_rate)
        end = _to_frames(in_parent.end_time_exclusive(), the_rate)
        source = clip.trimmed_range().start_time
        available = ref.available_range
        if available is not None:
            source = source - available.start_time.rescaled_to(source.rate)
        clips.append(SongClip(path, start, end - start, max(0.0, float(source.to_seconds()))))
    end_frame = max((c.timeline_start_frame + c.duration_frames for c in clips), default=0)
    return SongLayout(tuple(clips), the_rate, end_frame, track.name or None)
