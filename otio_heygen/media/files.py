"""Facts about uploadable files that any stage may need: type sniffing, hashing, the upload limit.

One home for these primitives: the media checks (``photo``, ``audio``) and every backend use them.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

__all__ = ["AUDIO_MIMES", "IMAGE_MIMES", "MAX_UPLOAD_BYTES", "file_sha256", "sniff_mime"]

MAX_UPLOAD_BYTES = 32 * 1024 * 1024
"""The largest single upload render services accept (HeyGen: 32 MB per multipart upload)."""
IMAGE_MIMES = frozenset({"image/png", "image/jpeg"})
AUDIO_MIMES = frozenset({"audio/wav", "audio/mpeg"})


def sniff_mime(head: bytes) -> str | None:
    """MIME type from a file's first bytes (png, jpeg, wav, mp3), else ``None``."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio/wav"
    if head.startswith(b"ID3"):
        return "audio/mpeg"
    if len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0 and (head[1] & 0x06) != 0:
        return "audio/mpeg"  # MPEG audio frame sync with a layer set
    return None


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    """sha256 of a file's bytes, read in ``chunk``-sized blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()
