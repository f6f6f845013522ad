"""Song audio: find it on the timeline, decode it once, cut sections sample-exactly, encode uploads, probe.

This module owns every read of song/clip media with PyAV: ``locate_song`` (which audio clips make the
song, where their files are), ``SongAudio`` (decode each distinct file once and cut timeline-frame ranges
sample-exactly), ``write_upload_audio`` (16-bit WAV, or MP3 above the upload limit, written atomically),
``probe_media`` and ``read_audio`` (whole-file decode of a short file such as a downloaded clip).
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import tempfile
import wave
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import av
import numpy as np
import opentimelineio as otio

from otio_heygen.errors import MediaError
from otio_heygen.media.files import MAX_UPLOAD_BYTES
from otio_heygen.read.rates import exact_rate
from otio_heygen.read.timeline import timeline_rate

__all__ = [
    "DECODE_COUNTS",
    "NO_VOCAL_DBFS",
    "UPLOAD_LIMIT_BYTES",
    "MediaInfo",
    "SongAudio",
    "SongClip",
    "SongLayout",
    "frame_to_sample",
    "locate_song",
    "probe_media",
    "read_audio",
    "resolve_media_url",
    "write_upload_audio",
]

UPLOAD_LIMIT_BYTES = MAX_UPLOAD_BYTES
"""HeyGen's upload size limit; a WAV above it is sent as MP3 instead."""

DECODE_COUNTS: Counter[Path] = Counter()
"""How many times each file was fully decoded by ``SongAudio`` (observability; tests check decode-once)."""

NO_VOCAL_DBFS = -50.0
"""A drive (vocal stem) slice quieter than this (``SongAudio.vocal_energy``) has no vocal to lip-sync."""

_HINT = "pass --media-root DIR to relink by file name, or --audio FILE to choose the song"
_BAD = "re-export or convert the file"
_MP3_RATES = (48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000)
_WIN_DRIVE = re.compile(r"^/?([A-Za-z]):[\\/]")


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


@dataclass(frozen=True)
class MediaInfo:
    duration_seconds: float
    has_video: bool
    has_audio: bool
    fps: float | None
    width: int | None
    height: int | None




def frame_to_sample(frame: int | float, rate: float, sample_rate: int) -> int:
    """Sample index of a timeline frame: round-half-up(frame / rate * sample_rate), exact arithmetic."""
    value = Fraction(frame) * sample_rate / exact_rate(rate)
    return math.floor(value + Fraction(1, 2))


# ---------------------------------------------------------------- locating the song


def resolve_media_url(url: str, timeline_dir: Path, media_root: Path | None = None) -> tuple[Path, bool]:
    """Turn a ``target_url`` into a path; returns (path, exists). Relinks by file name under media_root."""
    text = url.strip()
    if text.lower().startswith("file:"):
        parsed = urlparse(text)
        text = unquote(parsed.path)
        netloc = unquote(parsed.netloc)
        if re.fullmatch(r"[A-Za-z]:", netloc):  # file://D:/Music/song.wav
            text = netloc + text
        elif netloc and netloc.lower() != "localhost" and not _WIN_DRIVE.match(text):
            text = f"//{netloc}{text}"  # UNC share
    windows = _WIN_DRIVE.match(text)
    if windows:
        text = text.lstrip("/")
    name = re.split(r"[\\/]", text)[-1]
    if windows or text.startswith("\\\\"):
        candidate = Path(text.replace("\\", "/"))
    else:
        candidate = Path(text)
        if not candidate.is_absolute():
            candidate = timeline_dir / candidate
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
        seconds = _audio_seconds(path) or info.duration_seconds  # the sound, not a longer picture
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
                hint=_HINT,
            )
        if require_media and path not in checked:
            info = probe_media(path)
            if not info.has_audio:
                raise MediaError(f"Song media has no audio: {path} (clip '{clip.name}')", hint=_HINT)
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


# ---------------------------------------------------------------- decoding


def _open(path: Path) -> Any:
    try:
        return av.open(str(path))
    except (av.FFmpegError, OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)  # FFmpeg's words, without errno and path
        raise MediaError(f"Cannot read media file {path}: {reason}", hint=_BAD) from exc


def probe_media(path: Path) -> MediaInfo:
    """Duration, streams, fps and size of a media file (MediaError if it cannot be read)."""
    path = Path(path)
    if not path.is_file():
        raise MediaError(f"Media file not found: {path}", hint=_HINT)
    with _open(path) as container:
        video = container.streams.video[0] if container.streams.video else None
        audio = container.streams.audio[0] if container.streams.audio else None
        if video is None and audio is None:
            raise MediaError(f"{path} has no audio or video stream", hint=_BAD)
        duration = 0.0
        if container.duration is not None:
            duration = container.duration / 1_000_000
        else:
            for stream in (video, audio):
                if stream is not None and stream.duration is not None and stream.time_base is not None:
                    duration = max(duration, float(stream.duration * stream.time_base))
        fps = float(video.average_rate) if video is not None and video.average_rate else None
        return MediaInfo(
            duration,
            video is not None,
            audio is not None,
            fps,
            video.codec_context.width if video is not None else None,
            video.codec_context.height if video is not None else None,
        )


def _decode_frames(path: Path, sample_rate: int | None, fmt: str, layout: str | None) -> Iterator[Any]:
    """Yield resampled frames (timestamps kept) of a file's first audio stream."""
    with _open(path) as container:
        if not container.streams.audio:
            raise MediaError(f"{path} has no audio stream", hint=_HINT)
        stream = container.streams.audio[0]
        rate = sample_rate or stream.codec_context.sample_rate
        resampler = av.AudioResampler(format=fmt, layout=layout or stream.codec_context.layout.name, rate=rate)
        try:
            for frame in container.decode(stream):
                yield from resampler.resample(frame)
            yield from resampler.resample(None)
        except av.FFmpegError as exc:
            raise MediaError(f"Cannot decode audio of {path}: {exc}", hint=_BAD) from exc


def _audio_seconds(path: Path) -> float | None:
    """Duration of the first audio stream as its container states it (None when it does not)."""
    with _open(path) as container:
        stream = container.streams.audio[0] if container.streams.audio else None
        if stream is None or not stream.duration or stream.time_base is None:
            return None
        return float(stream.duration * stream.time_base)


def _audio_params(path: Path) -> tuple[int, int, float]:
    with _open(path) as container:
        if not container.streams.audio:
            raise MediaError(f"{path} has no audio stream", hint=_HINT)
        stream = container.streams.audio[0]
        duration = container.duration / 1_000_000 if container.duration else 0.0
        return int(stream.codec_context.sample_rate), int(stream.codec_context.channels), duration


class SongAudio:
    """Decodes each distinct source file ONCE with PyAV (resampled to a common rate if needed), keeps int16
    PCM in memory once, and cuts sample-exact slices in timeline frames."""

    def __init__(self, layout: SongLayout) -> None:
        self.layout = layout
        params = {c.path: _audio_params(c.path) for c in layout.clips}
        self.sample_rate: int = max((p[0] for p in params.values()), default=48000)
        self.channels: int = min(2, max((p[1] for p in params.values()), default=2))
        self._pcm: dict[Path, np.ndarray] = {
            path: self._decode(path, duration) for path, (_, _, duration) in params.items()
        }
        self._check_complete()

    def _check_complete(self) -> None:
        """A file whose audio stops well before the part the timeline uses is damaged (an interrupted
        copy or download): refuse it rather than render silent sections."""
        rate, sr = self.layout.rate, self.sample_rate
        for clip in self.layout.clips:
            needed = math.floor(clip.source_start_seconds * sr + 0.5) + frame_to_sample(clip.duration_frames, rate, sr)
            have = self._pcm[clip.path].shape[1]
            if needed - have > max(sr, 0.05 * needed):  # > 1 s and > 5% short (VBR/priming stay well inside)
                raise MediaError(
                    f"{clip.path} is truncated or damaged: it holds {have / sr:.1f} s of audio but the timeline "
                    f"uses it up to {needed / sr:.1f} s",
                    hint="copy or export the song again",
                )

    def _decode(self, path: Path, duration: float) -> np.ndarray:
        DECODE_COUNTS[path] += 1
        capacity = max(1024, int(duration * self.sample_rate) + self.sample_rate)
        pcm = np.zeros((self.channels, capacity), dtype=np.int16)
        filled = 0
        layout = "stereo" if self.channels == 2 else "mono"
        for frame in _decode_frames(path, self.sample_rate, "s16p", layout):
            data = frame.to_ndarray()
            n = data.shape[1]
            if filled + n > pcm.shape[1]:
                grown = np.zeros((self.channels, max(2 * pcm.shape[1], filled + n)), dtype=np.int16)
                grown[:, :filled] = pcm[:, :filled]
                pcm = grown
            pcm[:, filled : filled + n] = data
            filled += n
        return pcm[:, :filled]

    def cut(self, start_frame: int, end_frame: int) -> np.ndarray:
        """int16 PCM, shape (channels, n), n = round((end-start)/rate*sr); silence where there is no song."""
        rate, sr = self.layout.rate, self.sample_rate
        base = frame_to_sample(start_frame, rate, sr)
        n = max(0, frame_to_sample(end_frame - start_frame, rate, sr))
        out = np.zeros((self.channels, n), dtype=np.int16)
        for clip in self.layout.clips:
            pcm = self._pcm[clip.path]
            c0 = frame_to_sample(clip.timeline_start_frame, rate, sr)
            c1 = frame_to_sample(clip.timeline_start_frame + clip.duration_frames, rate, sr)
            offset = math.floor(clip.source_start_seconds * sr + 0.5)
            lo, hi = max(base, c0), min(base + n, c1)
            # keep inside the decoded file
            lo = max(lo, c0 - offset)
            hi = min(hi, c0 - offset + pcm.shape[1])
            if hi > lo:
                src = offset + lo - c0
                out[:, lo - base : hi - base] = pcm[:, src : src + (hi - lo)]
        return out

    def slice_digest(self, start_frame: int, end_frame: int) -> str:
        """sha256 of the int16 PCM slice, its sample rate and channel count (part of the job key)."""
        digest = hashlib.sha256(np.ascontiguousarray(self.cut(start_frame, end_frame)).tobytes())
        digest.update(f"|{self.sample_rate}|{self.channels}".encode())
        return digest.hexdigest()

    def vocal_energy(self, start_frame: int, end_frame: int) -> float:
        """RMS level of the slice in dBFS (-120.0 for digital silence)."""
        samples = self.cut(start_frame, end_frame).astype(np.float64) / 32768.0
        if samples.size == 0:
            return -120.0
        rms = float(np.sqrt(np.mean(samples * samples)))
        return max(-120.0, 20.0 * math.log10(rms)) if rms > 0 else -120.0


def read_audio(path: Path, sample_rate: int | None = None) -> tuple[np.ndarray, int]:
    """Decode a whole (short) file's audio to float32 (channels, n), placed by presentation time from the
    container's start: a stream that starts after the video is preceded by silence, and encoder priming
    (negative timestamps, MP3/AAC delay) is dropped. Timestamp jitter under 1 ms is ignored."""
    path = Path(path)
    if not path.is_file():
        raise MediaError(f"Media file not found: {path}", hint="check the path")
    with _open(path) as container:
        origin = container.start_time / 1_000_000 if container.start_time is not None else 0.0
    chunks: list[tuple[int, np.ndarray]] = []
    rate = 0
    expected = 0
    for frame in _decode_frames(path, sample_rate, "fltp", None):
        rate = frame.sample_rate
        data = frame.to_ndarray()
        start = expected
        if frame.time is not None:
            stamped = math.floor((float(frame.time) - origin) * rate + 0.5)
            if not chunks or abs(stamped - expected) > rate // 1000:
                start = stamped
        chunks.append((start, data))
        expected = start + data.shape[1]
    if not chunks:
        return np.zeros((1, 0), dtype=np.float32), sample_rate or 48000
    channels = chunks[0][1].shape[0]
    total = max(s + d.shape[1] for s, d in chunks)
    out = np.zeros((channels, max(0, total)), dtype=np.float32)
    for start, data in chunks:
        skip = max(0, -start)
        if skip < data.shape[1]:
            out[:, start + skip : start + data.shape[1]] = data[:, skip:]
    return out, rate


# ---------------------------------------------------------------- encoding


def _as_int16(samples: np.ndarray) -> np.ndarray:
    arr = np.atleast_2d(samples)
    if arr.dtype == np.int16:
        return arr
    return np.clip(np.round(arr.astype(np.float64) * 32767.0), -32768, 32767).astype(np.int16)


def write_upload_audio(
    samples: np.ndarray, sample_rate: int, dest: Path, *, max_bytes: int = UPLOAD_LIMIT_BYTES
) -> Path:
    """Write (channels, n) samples as 16-bit WAV at ``sample_rate``; as MP3 (``dest`` with .mp3) when the
    WAV would exceed ``max_bytes``. Atomic (temp file + rename). Returns the path written."""
    pcm = _as_int16(samples)
    channels, n = pcm.shape
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    use_mp3 = 44 + n * channels * 2 > max_bytes
    target = dest.with_suffix(".mp3") if use_mp3 else dest
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=".part", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        if use_mp3:
            _write_mp3(pcm, sample_rate, tmp)
        else:
            with wave.open(str(tmp), "wb") as wav:
                wav.setnchannels(channels)
                wav.setsampwidth(2)
                wav.setframerate(sample_rate)
                wav.writeframes(np.ascontiguousarray(pcm.T).tobytes())
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()
    return target


def _write_mp3(pcm: np.ndarray, sample_rate: int, path: Path) -> None:
    channels = pcm.shape[0]
    out_rate = sample_rate if sample_rate in _MP3_RATES else 48000
    layout = "stereo" if channels >= 2 else "mono"
    with av.open(str(path), "w", format="mp3") as container:
        stream = container.add_stream("libmp3lame", rate=out_rate, layout=layout)
        stream.bit_rate = 256_000
        resampler = av.AudioResampler(format="s16p", layout=layout, rate=out_rate)
        block = 1152 * 16
        for start in range(0, pcm.shape[1], block):
            chunk = np.ascontiguousarray(pcm[: min(channels, 2), start : start + block])
            frame = av.AudioFrame.from_ndarray(chunk, format="s16p", layout=layout)
            frame.sample_rate = sample_rate
            frame.pts = start
            for out_frame in resampler.resample(frame):
                container.mux(stream.encode(out_frame))
        for out_frame in resampler.resample(None):
            container.mux(stream.encode(out_frame))
        container.mux(stream.encode(None))
