"""Reading media file headers with PyAV: ``open_media``, ``probe_media`` (``MediaInfo``), ``audio_seconds``.

This module owns opening a song/clip file and what its container says (streams, duration, fps,
size) without decoding it, and the two hints a caller shows when a file is missing or unreadable.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av

from otio_heygen.errors import MediaError

__all__ = ["BAD_MEDIA_HINT", "RELINK_HINT", "MediaInfo", "audio_seconds", "open_media", "probe_media"]

RELINK_HINT = "pass --media-root DIR to relink by file name, or --audio FILE to choose the song"
BAD_MEDIA_HINT = "re-export or convert the file"


@dataclass(frozen=True)
class MediaInfo:
    duration_seconds: float
    has_video: bool
    has_audio: bool
    fps: float | None
    width: int | None
    height: int | None


def open_media(path: Path) -> Any:
    try:
        return av.open(str(path))
    except (av.FFmpegError, OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)  # FFmpeg's words, without errno and path
        raise MediaError(f"Cannot read media file {path}: {reason}", hint=BAD_MEDIA_HINT) from exc


def probe_media(path: Path) -> MediaInfo:
    """Duration, streams, fps and size of a media file (MediaError if it cannot be read)."""
    path = Path(path)
    if not path.is_file():
        raise MediaError(f"Media file not found: {path}", hint=RELINK_HINT)
    with open_media(path) as container:
        video = container.streams.video[0] if container.streams.video else None
        audio = container.streams.audio[0] if container.streams.audio else None
        if video is None and audio is None:
            raise MediaError(f"{path} has no audio or video stream", hint=BAD_MEDIA_HINT)
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


def audio_seconds(path: Path) -> float | None:
    """Duration of the first audio stream as its container states it (None when it does not)."""
    with open_media(path) as container:
        stream = container.streams.audio[0] if container.streams.audio else None
        if stream is None or not stream.duration or stream.time_base is None:
            return None
        return float(stream.duration * stream.time_base)
