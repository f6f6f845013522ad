"""Checking a downloaded HeyGen video: ``probe_video`` opens it with PyAV and reports a ``VideoProbe``.

This module owns what counts as a usable render file (a readable, non-empty video stream); the
client probes every download here before renaming it into place.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from otio_heygen.backends.heygen.errors import InvalidVideoError

__all__ = ["VideoProbe", "probe_video"]


@dataclass(frozen=True)
class VideoProbe:
    """What PyAV saw in a downloaded file."""

    duration_s: float
    fps: float
    width: int
    height: int
    has_audio: bool
    size_bytes: int


def probe_video(path: Path) -> VideoProbe:
    """Open ``path`` with PyAV; raise ``InvalidVideoError`` unless it holds a video stream."""
    import av

    try:
        with av.open(str(path)) as container:
            videos = list(container.streams.video)
            if not videos:
                raise InvalidVideoError(f"The file HeyGen sent ({path.name}) has no video stream")
            stream = videos[0]
            rate = stream.average_rate or stream.base_rate or stream.guessed_rate
            fps = float(rate) if rate else 0.0
            if container.duration:
                duration = container.duration / av.time_base
            elif stream.duration is not None and stream.time_base is not None:
                duration = float(stream.duration * stream.time_base)
            else:
                frames = sum(1 for _ in container.decode(stream))
                duration = frames / fps if fps else 0.0
            has_audio = bool(container.streams.audio)
            width, height = int(stream.codec_context.width), int(stream.codec_context.height)
    except av.FFmpegError as exc:
        raise InvalidVideoError(f"The file HeyGen sent ({path.name}) is not a readable video: {exc}") from exc
    if duration <= 0:
        raise InvalidVideoError(f"The file HeyGen sent ({path.name}) is an empty video")
    return VideoProbe(duration, fps, width, height, has_audio, path.stat().st_size)

