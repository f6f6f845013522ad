"""Small JPEG stills for the review page, made with PyAV (no Pillow, no system ffmpeg).

``video_stills`` grabs a few frames spread over a clip in one pass (seeking over long gaps, so a
long 1080p render is not decoded whole), joins them side by side into one small JPEG strip and keeps the
middle one, bigger, as the player's poster; ``photo_thumb`` shrinks the section's photo.
Every file is written atomically.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from otio_heygen.errors import MediaError
from otio_heygen.fsutil import commit_temp, create_temp_beside, discard_temp
from otio_heygen.media.photo import load_photo_rgb

__all__ = ["encode_jpeg", "grab_frames", "photo_thumb", "video_stills"]

_SEEK_GAP_S = 3.0
"""Targets further ahead than this are reached by seeking (to the keyframe before) instead of decoding on."""


def _even(n: int) -> int:
    return max(2, n - n % 2)


def _shrink(rgb: np.ndarray, height: int) -> np.ndarray:
    """Nearest-neighbour resize of an (h, w, 3) image to ``height`` rows, keeping its aspect ratio."""
    h, w = rgb.shape[:2]
    new_h = _even(min(height, h))
    new_w = _even(max(2, round(w * new_h / h)))
    ys = (np.arange(new_h) * h / new_h).astype(np.intp)
    xs = (np.arange(new_w) * w / new_w).astype(np.intp)
    return np.ascontiguousarray(rgb[ys][:, xs, :3])


def encode_jpeg(rgb: np.ndarray, dest: Path, *, quality: int = 5) -> Path:
    """Write an (h, w, 3) uint8 image as a baseline JPEG (``quality``: 2 best .. 31 worst, MJPEG q-scale)."""
    h, w = rgb.shape[:2]
    rgb = np.ascontiguousarray(rgb[: _even(h), : _even(w)])
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuvj420p")
    codec = av.CodecContext.create("mjpeg", "w")
    codec.width, codec.height = rgb.shape[1], rgb.shape[0]
    codec.pix_fmt = "yuvj420p"
    codec.time_base = Fraction(1, 25)
    codec.options = {"qmin": str(quality), "qmax": str(quality)}
    data = b"".join(bytes(p) for p in [*codec.encode(frame), *codec.encode(None)])
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = create_temp_beside(dest, ".jpg")
    try:
        tmp.write_bytes(data)
        commit_temp(tmp, dest)
    except BaseException:
        discard_temp(tmp)
        raise
    return dest


def grab_frames(path: Path, count: int, height: int) -> tuple[list[np.ndarray], float]:
    """``count`` RGB frames spread evenly over the clip (at the middle of equal slices), each ``height``
    rows tall, and the clip's duration in seconds. Decodes forward, seeking only over long gaps."""
    sized, duration = _grab(path, count, (height,))
    return [f[0] for f in sized], duration


def _grab(path: Path, count: int, heights: tuple[int, ...]) -> tuple[list[list[np.ndarray]], float]:
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise MediaError(f"{path} has no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            duration = float(container.duration or 0) / 1_000_000
            if duration <= 0 and stream.duration and stream.time_base:
                duration = float(stream.duration * stream.time_base)
            targets = [duration * (i + 0.5) / count for i in range(count)]
            frames = _frames_at(container, stream, targets, heights)
    except av.FFmpegError as exc:
        raise MediaError(f"cannot read video {path}: {exc}") from exc
    if not frames:
        raise MediaError(f"no picture in {path}")
    while len(frames) < count:  # a clip shorter than its header says: repeat its last picture
        frames.append(frames[-1])
    return frames, duration


def _frames_at(
    container: av.container.InputContainer, stream: av.VideoStream, targets: list[float], heights: tuple[int, ...]
) -> list[list[np.ndarray]]:
    out: list[list[np.ndarray]] = []
    decoded = container.decode(stream)
    position = 0.0
    last = None
    for at in targets:
        if at - position > _SEEK_GAP_S and stream.time_base is not None:
            container.seek(int(at / float(stream.time_base)), stream=stream, backward=True, any_frame=False)
            decoded = container.decode(stream)
        chosen = None
        for frame in decoded:
            last = frame
            position = float(frame.time or 0.0)
            if position >= at:
                chosen = frame
                break
        chosen = chosen or last
        if chosen is None:
            break
        out.append([_scaled(chosen, h) for h in heights])
    return out


def _scaled(frame: av.VideoFrame, height: int) -> np.ndarray:
    """The frame as RGB, ``height`` rows tall (area-averaged by swscale), keeping the display aspect."""
    new_h = _even(min(height, frame.height))
    new_w = _even(round(frame.width * new_h / frame.height))
    rgb: np.ndarray = frame.reformat(width=new_w, height=new_h, format="rgb24", interpolation="AREA").to_ndarray()
    return rgb


def video_stills(path: Path, strip_dest: Path, poster_dest: Path, *, count: int = 5, height: int = 54,
                 poster_height: int = 180) -> float:
    """The thumbnail strip (``count`` stills side by side) and the poster (the middle still, bigger) in one
    decoding pass; returns the clip's seconds."""
    frames, duration = _grab(path, count, (height, poster_height))
    encode_jpeg(frames[count // 2][1], poster_dest)
    encode_jpeg(np.concatenate([f[0] for f in frames], axis=1), strip_dest)
    return duration


def photo_thumb(photo: Path, dest: Path, *, height: int = 96) -> None:
    """The section's photo, small."""
    encode_jpeg(_shrink(load_photo_rgb(photo), height), dest)
