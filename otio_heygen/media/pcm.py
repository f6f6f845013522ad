"""Decoded song audio kept out of memory: one anonymous temp file of int16 PCM per source file.

A 10-minute 48 kHz stereo song is 115 MB as int16 (460 MB as float32 planes); holding it in the
process's memory, once per render, is what made a long song cost 600 MB. ``PcmStore`` decodes a file
once (through a caller-given frame iterator) into an unnamed temp file, interleaved int16, and reads
any sample range back as a small ``(channels, n)`` array. The file has no name on POSIX (unlinked
while open), so nothing is left behind even when the process is killed; the OS page cache keeps the
reads fast. Reads are thread-safe (render workers cut sections concurrently).
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Iterable
from typing import IO

import numpy as np

__all__ = ["BLOCK_SAMPLES", "PcmStore"]

BLOCK_SAMPLES = 1 << 18
"""Samples per channel handled at once when hashing, measuring or encoding a slice (about 5 s at 48 kHz)."""


class PcmStore:
    """Interleaved int16 PCM of one decoded file, on disk; ``read`` returns planar ``(channels, n)``."""

    def __init__(self, channels: int, blocks: Iterable[np.ndarray]) -> None:
        """``blocks``: ``(channels, k)`` int16 arrays in order (e.g. decoded ``s16p`` frames)."""
        self.channels = channels
        self._file: IO[bytes] = tempfile.TemporaryFile(prefix="otio-heygen-pcm-")  # noqa: SIM115 - owned
        self._lock = threading.Lock()
        frames = 0
        try:
            for block in blocks:
                data = np.ascontiguousarray(np.asarray(block, dtype=np.int16).T)  # (k, channels)
                if data.shape[1] != channels:
                    raise ValueError(f"expected {channels} channels, got {data.shape[1]}")
                self._file.write(data.tobytes())
                frames += data.shape[0]
            self._file.flush()
        except BaseException:
            self._file.close()
            raise
        self.frames = frames
        """Samples per channel."""

    def read(self, start: int, n: int) -> np.ndarray:
        """Samples ``start .. start+n`` (must lie inside ``0 .. frames``) as ``(channels, n)`` int16."""
        if n <= 0:
            return np.zeros((self.channels, 0), dtype=np.int16)
        if start < 0 or start + n > self.frames:
            raise IndexError(f"samples {start}..{start + n} outside 0..{self.frames}")
        width = 2 * self.channels
        with self._lock:
            self._file.seek(start * width)
            raw = self._file.read(n * width)
        samples: np.ndarray = np.frombuffer(raw, dtype=np.int16).reshape(n, self.channels).T
        return samples

    def close(self) -> None:
        self._file.close()
