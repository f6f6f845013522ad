"""Upload audio files: 16-bit WAV, or MP3 when the WAV would pass HeyGen's upload limit, written
atomically from blocks of samples so a long section is never held whole in memory.

``write_upload_blocks`` takes a re-startable source of ``(channels, k)`` blocks; ``write_upload_audio``
is the same for samples already in memory (tests, short clips).
"""

from __future__ import annotations

import wave
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import av
import numpy as np

from otio_heygen.fsutil import commit_temp, create_temp_beside, discard_temp
from otio_heygen.media.files import MAX_UPLOAD_BYTES
from otio_heygen.media.pcm import BLOCK_SAMPLES

__all__ = ["write_upload_audio", "write_upload_blocks"]

"""HeyGen's upload size limit; a WAV above it is sent as MP3 instead."""

_MP3_RATES = (48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000)

Blocks = Callable[[], Iterable[np.ndarray]]


def _as_int16(samples: np.ndarray) -> np.ndarray:
    arr = np.atleast_2d(samples)
    if arr.dtype == np.int16:
        return arr
    return np.clip(np.round(arr.astype(np.float64) * 32767.0), -32768, 32767).astype(np.int16)


def write_upload_audio(
    samples: np.ndarray, sample_rate: int, dest: Path, *, max_bytes: int = MAX_UPLOAD_BYTES
) -> Path:
    """Write (channels, n) samples (int16, or float in -1..1) as 16-bit WAV at ``sample_rate``; as MP3
    (``dest`` with .mp3) when the WAV would exceed ``max_bytes``. Atomic. Returns the path written."""
    pcm = _as_int16(samples)
    channels, n = pcm.shape

    def blocks() -> Iterator[np.ndarray]:
        for start in range(0, n, BLOCK_SAMPLES):
            yield pcm[:, start : start + BLOCK_SAMPLES]

    return write_upload_blocks(blocks, channels, n, sample_rate, dest, max_bytes=max_bytes)


def write_upload_blocks(
    blocks: Blocks, channels: int, n: int, sample_rate: int, dest: Path, *, max_bytes: int = MAX_UPLOAD_BYTES
) -> Path:
    """``write_upload_audio`` for ``n`` samples per channel delivered by ``blocks()`` as int16 blocks."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    use_mp3 = 44 + n * channels * 2 > max_bytes
    target = dest.with_suffix(".mp3") if use_mp3 else dest
    tmp = create_temp_beside(target, ".part", mode=0o600)
    try:
        if use_mp3:
            _write_mp3(blocks(), channels, sample_rate, tmp)
        else:
            with wave.open(str(tmp), "wb") as wav:
                wav.setnchannels(channels)
                wav.setsampwidth(2)
                wav.setframerate(sample_rate)
                for block in blocks():
                    wav.writeframes(np.ascontiguousarray(block.T).tobytes())
        commit_temp(tmp, target)
    finally:
        discard_temp(tmp)  # nothing left once committed
    return target


def _write_mp3(blocks: Iterable[np.ndarray], channels: int, sample_rate: int, path: Path) -> None:
    out_rate = sample_rate if sample_rate in _MP3_RATES else 48000
    layout = "stereo" if channels >= 2 else "mono"
    with av.open(str(path), "w", format="mp3") as container:
        stream = container.add_stream("libmp3lame", rate=out_rate, layout=layout)
        stream.bit_rate = 256_000
        resampler = av.AudioResampler(format="s16p", layout=layout, rate=out_rate)
        pts = 0
        for block in blocks:
            for start in range(0, block.shape[1], 1152 * 16):
                chunk = np.ascontiguousarray(block[: min(channels, 2), start : start + 1152 * 16])
                frame = av.AudioFrame.from_ndarray(chunk, format="s16p", layout=layout)
                frame.sample_rate = sample_rate
                frame.pts = pts
                pts += chunk.shape[1]
                for out_frame in resampler.resample(frame):
                    container.mux(stream.encode(out_frame))
        for out_frame in resampler.resample(None):
            container.mux(stream.encode(out_frame))
        container.mux(stream.encode(None))
