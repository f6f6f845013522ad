"""Song audio: decode it once, cut sections sample-exactly, hash and encode uploads, read short files.

This module owns every decode of song/clip audio with PyAV: ``SongAudio`` (decode each distinct file of a
``media.song.SongLayout`` once to an on-disk ``PcmStore`` and cut, hash and encode timeline-frame ranges
sample-exactly, block by block) and ``read_audio`` (whole-file decode of a short file such as a downloaded
clip). Finding the song is ``media.song``; header probing is ``media.probe``.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from otio_heygen.errors import MediaError
from otio_heygen.media.encode import write_upload_audio, write_upload_blocks
from otio_heygen.media.files import MAX_UPLOAD_BYTES
from otio_heygen.media.pcm import BLOCK_SAMPLES, PcmStore
from otio_heygen.media.probe import BAD_MEDIA_HINT, RELINK_HINT, open_media
from otio_heygen.media.song import SongLayout
from otio_heygen.media.workers import run_media
from otio_heygen.read.rates import exact_rate

__all__ = [
    "DECODE_COUNTS",
    "NO_VOCAL_DBFS",
    "SongAudio",
    "frame_to_sample",
    "read_audio",
    "write_upload_audio",
]

DECODE_COUNTS: Counter[Path] = Counter()
"""How many times each file was fully decoded by ``SongAudio`` (observability; tests check decode-once)."""

NO_VOCAL_DBFS = -50.0
"""A drive (vocal stem) slice quieter than this (``SongAudio.vocal_energy``) has no vocal to lip-sync."""


def frame_to_sample(frame: int | float, rate: float, sample_rate: int) -> int:
    """Sample index of a timeline frame: round-half-up(frame / rate * sample_rate), exact arithmetic."""
    value = Fraction(frame) * sample_rate / exact_rate(rate)
    return math.floor(value + Fraction(1, 2))


# ---------------------------------------------------------------- decoding


def _decode_frames(path: Path, sample_rate: int | None, fmt: str, layout: str | None) -> Iterator[Any]:
    """Yield resampled frames (timestamps kept) of a file's first audio stream."""
    with open_media(path) as container:
        if not container.streams.audio:
            raise MediaError(f"{path} has no audio stream", hint=RELINK_HINT)
        stream = container.streams.audio[0]
        rate = sample_rate or stream.codec_context.sample_rate
        resampler = av.AudioResampler(format=fmt, layout=layout or stream.codec_context.layout.name, rate=rate)
        try:
            for frame in container.decode(stream):
                yield from resampler.resample(frame)
            yield from resampler.resample(None)
        except av.FFmpegError as exc:
            raise MediaError(f"Cannot decode audio of {path}: {exc}", hint=BAD_MEDIA_HINT) from exc


def _audio_params(path: Path) -> tuple[int, int, float]:
    with open_media(path) as container:
        if not container.streams.audio:
            raise MediaError(f"{path} has no audio stream", hint=RELINK_HINT)
        stream = container.streams.audio[0]
        duration = container.duration / 1_000_000 if container.duration else 0.0
        return int(stream.codec_context.sample_rate), int(stream.codec_context.channels), duration


class SongAudio:
    """Decodes each distinct source file ONCE with PyAV (resampled to a common rate if needed) into an
    on-disk int16 ``PcmStore``, and cuts sample-exact slices in timeline frames. Only the slice being
    cut, hashed or encoded is in memory, a block at a time (``BLOCK_SAMPLES``)."""

    def __init__(self, layout: SongLayout) -> None:
        self.layout = layout
        params = {c.path: _audio_params(c.path) for c in layout.clips}
        self.sample_rate: int = max((p[0] for p in params.values()), default=48000)
        self.channels: int = min(2, max((p[1] for p in params.values()), default=2))
        self._pcm: dict[Path, PcmStore] = {}
        try:
            for path in params:
                self._pcm[path] = self._decode(path)
            self._check_complete()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Drop the decoded audio (its temp files); the object is unusable afterwards."""
        for store in self._pcm.values():
            store.close()

    def __enter__(self) -> SongAudio:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_complete(self) -> None:
        """A file whose audio stops well before the part the timeline uses is damaged (an interrupted
        copy or download): refuse it rather than render silent sections."""
        rate, sr = self.layout.rate, self.sample_rate
        for clip in self.layout.clips:
            needed = math.floor(clip.source_start_seconds * sr + 0.5) + frame_to_sample(clip.duration_frames, rate, sr)
            have = self._pcm[clip.path].frames
            if needed - have > max(sr, 0.05 * needed):  # > 1 s and > 5% short (VBR/priming stay well inside)
                raise MediaError(
                    f"{clip.path} is truncated or damaged: it holds {have / sr:.1f} s of audio but the timeline "
                    f"uses it up to {needed / sr:.1f} s",
                    hint="copy or export the song again",
                )

    def _decode(self, path: Path) -> PcmStore:
        DECODE_COUNTS[path] += 1
        layout = "stereo" if self.channels == 2 else "mono"
        frames = (frame.to_ndarray() for frame in _decode_frames(path, self.sample_rate, "s16p", layout))
        return PcmStore(self.channels, frames)

    def _span(self, start_frame: int, end_frame: int) -> tuple[int, int]:
        """First sample and sample count of a timeline-frame range."""
        rate, sr = self.layout.rate, self.sample_rate
        return frame_to_sample(start_frame, rate, sr), max(0, frame_to_sample(end_frame - start_frame, rate, sr))

    def _samples(self, base: int, n: int) -> np.ndarray:
        """int16 (channels, n) from song sample ``base``; silence where there is no song."""
        rate, sr = self.layout.rate, self.sample_rate
        out = np.zeros((self.channels, n), dtype=np.int16)
        for clip in self.layout.clips:
            store = self._pcm[clip.path]
            c0 = frame_to_sample(clip.timeline_start_frame, rate, sr)
            c1 = frame_to_sample(clip.timeline_start_frame + clip.duration_frames, rate, sr)
            offset = math.floor(clip.source_start_seconds * sr + 0.5)
            lo, hi = max(base, c0), min(base + n, c1)
            # keep inside the decoded file
            lo = max(lo, c0 - offset)
            hi = min(hi, c0 - offset + store.frames)
            if hi > lo:
                out[:, lo - base : hi - base] = store.read(offset + lo - c0, hi - lo)
        return out

    def blocks(self, start_frame: int, end_frame: int) -> Iterator[np.ndarray]:
        """The slice ``cut`` returns, as consecutive (channels, <= BLOCK_SAMPLES) int16 blocks."""
        base, n = self._span(start_frame, end_frame)
        for done in range(0, n, BLOCK_SAMPLES):
            yield self._samples(base + done, min(BLOCK_SAMPLES, n - done))

    def cut(self, start_frame: int, end_frame: int) -> np.ndarray:
        """int16 PCM, shape (channels, n), n = round((end-start)/rate*sr); silence where there is no song."""
        return self._samples(*self._span(start_frame, end_frame))

    def slice_digest(self, start_frame: int, end_frame: int) -> str:
        """sha256 of the int16 PCM slice as ``cut`` returns it (channel by channel), its sample rate and
        channel count (part of the job key). Computed block by block."""
        digest = hashlib.sha256()
        for channel in range(self.channels):
            for block in self.blocks(start_frame, end_frame):
                digest.update(np.ascontiguousarray(block[channel]).tobytes())
        digest.update(f"|{self.sample_rate}|{self.channels}".encode())
        return digest.hexdigest()

    def vocal_energy(self, start_frame: int, end_frame: int) -> float:
        """RMS level of the slice in dBFS (-120.0 for digital silence)."""
        total, count = 0.0, 0
        for block in self.blocks(start_frame, end_frame):
            samples = block.astype(np.float64) / 32768.0
            total += float(np.sum(samples * samples))
            count += samples.size
        if count == 0:
            return -120.0
        rms = math.sqrt(total / count)
        return max(-120.0, 20.0 * math.log10(rms)) if rms > 0 else -120.0

    def write_upload(
        self, start_frame: int, end_frame: int, dest: Path, *, max_bytes: int = MAX_UPLOAD_BYTES
    ) -> Path:
        """The slice as an upload file (``write_upload_audio``), encoded block by block on a media thread."""
        _, n = self._span(start_frame, end_frame)
        return run_media(lambda: write_upload_blocks(
            lambda: self.blocks(start_frame, end_frame), self.channels, n, self.sample_rate, dest, max_bytes=max_bytes
        ))


def read_audio(path: Path, sample_rate: int | None = None) -> tuple[np.ndarray, int]:
    """Decode a whole (short) file's audio to float32 (channels, n), placed by presentation time from the
    container's start: a stream that starts after the video is preceded by silence, and encoder priming
    (negative timestamps, MP3/AAC delay) is dropped. Timestamp jitter under 1 ms is ignored."""
    path = Path(path)
    if not path.is_file():
        raise MediaError(f"Media file not found: {path}", hint="check the path")
    with open_media(path) as container:
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
