"""Grade-ready media: re-encode a HeyGen clip as ProRes 422 HQ or DNxHR HQX ``.mov`` with PyAV.

Owns the encode of one file (no system FFmpeg; PyAV's bundled ``prores_aw`` and ``dnxhd`` encoders):

- **Rate**: exactly the timeline's rate (``24000/1001``, not 23.976). HeyGen delivers 25 fps, so the
  picture is conformed by timestamps: output frame ``n`` shows the source frame nearest to the time
  ``n / rate`` (from the container's start, the same origin the audio is placed from), so lip-sync holds.
- **Length**: exactly ``spec.frames`` frames; a render a little shorter than asked holds its last
  picture (counted in ``TranscodeInfo.held_frames``), audio is cut or padded with silence to match.
- **Size**: ``spec.size`` (the timeline's format) or the source's; a different aspect ratio is fitted
  inside black bars, never stretched.
- **Identity**: the file's start timecode is the section's record timecode (a QuickTime ``tmcd``
  track), the reel and clip name are the section's name, so a colourist can conform by timecode.
- Audio: 24-bit PCM at the source's sample rate and channel layout.

The output is written to a temp file beside ``dest`` and renamed over it when complete.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import av
import numpy as np
import opentimelineio as otio

from otio_heygen.errors import MediaError
from otio_heygen.fsutil import commit_temp, create_temp_beside, discard_temp
from otio_heygen.media.audio import read_audio
from otio_heygen.read.rates import exact_rate

__all__ = [
    "FORMATS",
    "MEDIA_FORMATS",
    "EncodeFormat",
    "MediaFormat",
    "TranscodeInfo",
    "TranscodeSpec",
    "check_frame_size",
    "record_timecode",
    "transcode",
]

MediaFormat = Literal["mp4", "prores", "dnxhr"]
MEDIA_FORMATS: tuple[MediaFormat, ...] = ("mp4", "prores", "dnxhr")


@dataclass(frozen=True)
class EncodeFormat:
    """One grade format: PyAV codec, its profile option, pixel format, and what to tell the user."""

    codec: str
    profile: str
    pix_fmt: str
    suffix: str
    label: str
    min_size: tuple[int, int] = (2, 2)


FORMATS: dict[str, EncodeFormat] = {
    # FFmpeg's "prores_aw" encoder: profile 3 is 422 HQ. It encodes 10-15x faster than prores_ks (whose
    # rate control searches quantisers per slice) at a similar data rate; see tests/bench/bench_transcode.py.
    "prores": EncodeFormat("prores_aw", "3", "yuv422p10le", ".mov", "ProRes 422 HQ"),
    # FFmpeg's DNxHR encoder refuses frames smaller than 256x120.
    "dnxhr": EncodeFormat("dnxhd", "dnxhr_hqx", "yuv422p10le", ".mov", "DNxHR HQX", (256, 120)),
}

_AUDIO_CODEC = "pcm_s24le"


@dataclass(frozen=True)
class TranscodeSpec:
    """What the placed file must be."""

    media_format: MediaFormat
    rate: float
    """The timeline's rate (an NTSC float becomes its exact fraction)."""
    frames: int
    size: tuple[int, int] | None
    """Frame size (width, height); None keeps the source's."""
    start_timecode: str
    name: str
    """Reel and clip name (the section's)."""

    def key(self) -> dict[str, Any]:
        """What makes two encodes the same (journaled with the conversion)."""
        fraction = exact_rate(self.rate)
        return {
            "format": self.media_format, "rate": f"{fraction.numerator}/{fraction.denominator}",
            "frames": self.frames, "size": list(self.size) if self.size else None,
            "timecode": self.start_timecode, "name": self.name, "av": av.__version__,
        }


@dataclass(frozen=True)
class TranscodeInfo:
    """What an encode did."""

    frames: int
    size: tuple[int, int]
    held_frames: int
    """Frames at the end that repeat the last picture (the render was shorter than asked)."""


def record_timecode(frame: int, rate: float) -> str:
    """``frame`` (counted from 00:00:00:00) as a timecode at ``rate`` (29.97/59.94 drop-frame)."""
    fraction = exact_rate(rate)
    return str(otio.opentime.to_timecode(otio.opentime.RationalTime(frame, float(fraction)), float(fraction)))


def _even(value: int) -> int:
    return max(2, value - value % 2)


def _fit(src: tuple[int, int], dst: tuple[int, int]) -> tuple[int, int]:
    """The largest even size of ``src``'s aspect that fits in ``dst``."""
    scale = min(dst[0] / src[0], dst[1] / src[1])
    return _even(round(src[0] * scale)), _even(round(src[1] * scale))


class _Picture:
    """Turns decoded source frames into output frames of the target size and pixel format."""

    def __init__(self, source: tuple[int, int], target: tuple[int, int], pix_fmt: str) -> None:
        self.target, self.pix_fmt = target, pix_fmt
        self.fitted = _fit(source, target)
        exact = abs(source[0] / source[1] - target[0] / target[1]) < 0.01
        self.pad = not exact and self.fitted != target

    def __call__(self, frame: Any) -> Any:
        if not self.pad:
            return frame.reformat(self.target[0], self.target[1], format=self.pix_fmt)
        small = frame.reformat(self.fitted[0], self.fitted[1], format="rgb48le").to_ndarray()
        canvas = np.zeros((self.target[1], self.target[0], 3), dtype=small.dtype)
        x, y = (self.target[0] - self.fitted[0]) // 2, (self.target[1] - self.fitted[1]) // 2
        canvas[y : y + small.shape[0], x : x + small.shape[1]] = small
        return av.VideoFrame.from_ndarray(canvas, format="rgb48le").reformat(format=self.pix_fmt)


def _source_frames(container: Any, origin: Fraction, fps: Fraction) -> Iterator[tuple[Fraction, Any]]:
    """(exact seconds from the container's start, frame) for every decoded picture, in display order."""
    for index, frame in enumerate(container.decode(video=0)):
        if frame.pts is not None and frame.time_base is not None:
            time = Fraction(frame.pts) * Fraction(frame.time_base) - origin
        else:
            time = index / fps
        yield time, frame


def _conformed(
    frames: Iterator[tuple[Fraction, Any]], count: int, rate: Fraction, fps: Fraction
) -> Iterator[tuple[Any, bool]]:
    """``count`` (frame, held) pairs: output frame n is the source frame nearest to n / rate (on a tie
    the one on screen at that time, the earlier). Exact arithmetic, so ties are ties.

    Past the source's last picture (its time + 1/fps) the last picture is repeated (``held`` True).
    """
    current = next(frames, None)
    if current is None:
        raise MediaError("the clip has no video frames to convert")
    ahead = next(frames, None)
    for n in range(count):
        t = n / rate
        while ahead is not None and ahead[0] <= t:
            current, ahead = ahead, next(frames, None)
        pick = ahead if ahead is not None and ahead[0] - t < t - current[0] else current
        yield pick[1], ahead is None and t >= current[0] + 1 / fps


def _audio_stream(out: Any, master: Path) -> tuple[Any, np.ndarray, int] | None:
    samples, sample_rate = read_audio(master)
    if samples.size == 0:
        return None
    channels = samples.shape[0]
    stream = out.add_stream(_AUDIO_CODEC, rate=sample_rate, layout="mono" if channels == 1 else "stereo")
    if channels > 2:
        samples = samples[:2]
    pcm = np.round(np.clip(samples.astype(np.float64), -1.0, 1.0) * (2**31 - 1)).astype(np.int32)
    return stream, pcm, sample_rate


def _write_audio(out: Any, audio: tuple[Any, np.ndarray, int], start: int, end: int) -> None:
    """Samples ``start..end`` of the master's audio (silence past its end), as one interleaved frame."""
    stream, pcm, sample_rate = audio
    if end <= start:
        return
    block = np.zeros((pcm.shape[0], end - start), dtype=np.int32)
    have = pcm[:, start:end]
    block[:, : have.shape[1]] = have
    frame = av.AudioFrame.from_ndarray(
        np.ascontiguousarray(block.T).reshape(1, -1), format="s32", layout=stream.layout.name
    )
    frame.sample_rate = sample_rate
    frame.pts = start
    for packet in stream.encode(frame):
        out.mux(packet)


def check_frame_size(media_format: str, size: tuple[int, int] | None) -> None:
    """Refuse a frame size the format cannot encode (``MediaError``, exit 2) - before anything is spent."""
    fmt = FORMATS.get(media_format)
    if fmt is None or size is None:
        return
    if size[0] < fmt.min_size[0] or size[1] < fmt.min_size[1]:
        raise MediaError(
            f"{fmt.label} needs frames of at least {fmt.min_size[0]}x{fmt.min_size[1]}, "
            f"not {size[0]}x{size[1]}",
            hint="use --media-format prores, or a larger timeline format",
        )


def _open_video(out: Any, fmt: EncodeFormat, rate: Fraction, size: tuple[int, int], spec: TranscodeSpec) -> Any:
    check_frame_size(spec.media_format, size)
    stream = out.add_stream(fmt.codec, rate=rate, options={"profile": fmt.profile})
    stream.width, stream.height, stream.pix_fmt = size[0], size[1], fmt.pix_fmt
    stream.codec_context.time_base = 1 / rate
    stream.thread_type = "AUTO"
    stream.metadata["timecode"] = spec.start_timecode
    stream.metadata["reel_name"] = spec.name
    stream.metadata["title"] = spec.name
    return stream


def _encode(master: Path, tmp: Path, spec: TranscodeSpec, on_frame: Callable[[int, int], None] | None) -> TranscodeInfo:
    fmt = FORMATS[spec.media_format]
    rate = exact_rate(spec.rate)
    with av.open(str(master)) as src:
        if not src.streams.video:
            raise MediaError(f"the clip {master.name} has no video stream to convert")
        vin = src.streams.video[0]
        vin.thread_type = "AUTO"
        source_size = (vin.codec_context.width, vin.codec_context.height)
        size = spec.size or (_even(source_size[0]), _even(source_size[1]))
        origin = Fraction(src.start_time or 0, 1_000_000)
        fps = Fraction(vin.average_rate or 25)
        picture = _Picture(source_size, size, fmt.pix_fmt)
        with av.open(str(tmp), "w", format="mov") as out:
            out.metadata["timecode"] = spec.start_timecode
            out.metadata["title"] = spec.name
            video = _open_video(out, fmt, rate, size, spec)
            audio = _audio_stream(out, master)
            held = written_samples = 0
            for n, (frame, is_held) in enumerate(_conformed(_source_frames(src, origin, fps), spec.frames, rate, fps)):
                held += is_held
                image = picture(frame)
                image.pts, image.time_base = n, 1 / rate
                for packet in video.encode(image):
                    out.mux(packet)
                if audio is not None:
                    until = round((n + 1) / rate * audio[2])
                    _write_audio(out, audio, written_samples, until)
                    written_samples = until
                if on_frame is not None:
                    on_frame(n + 1, spec.frames)
            for packet in video.encode(None):
                out.mux(packet)
            if audio is not None:
                for packet in audio[0].encode(None):
                    out.mux(packet)
    return TranscodeInfo(frames=spec.frames, size=size, held_frames=held)


def transcode(
    master: Path, dest: Path, spec: TranscodeSpec, *, on_frame: Callable[[int, int], None] | None = None
) -> TranscodeInfo:
    """Encode ``master`` into ``dest`` as ``spec`` says (atomically: temp file beside, then rename).

    Raises ``MediaError`` when the master cannot be decoded or the format cannot hold the size.
    """
    if spec.media_format not in FORMATS:
        raise ValueError(f"nothing to encode for media format {spec.media_format!r}")
    if spec.frames < 1:
        raise MediaError(f"cannot convert {master.name} to {spec.frames} frames")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = create_temp_beside(dest, suffix=".mov.part")
    try:
        try:
            info = _encode(master, tmp, spec, on_frame)
        except av.error.FFmpegError as exc:
            raise MediaError(f"could not convert {master.name} to {FORMATS[spec.media_format].label}: {exc}") from exc
        commit_temp(tmp, dest)
    finally:
        discard_temp(tmp)  # nothing left once committed
    return info
