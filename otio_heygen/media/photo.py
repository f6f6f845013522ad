"""Checking the artist photo before anything is uploaded, and loading it as pixels.

HeyGen accepts PNG or JPEG, a front-facing face, at least 512 px (1024 px recommended)
and under 2K. The type is sniffed from the bytes, never from the file name.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from otio_heygen.errors import PhotoError
from otio_heygen.media.files import IMAGE_MIMES, MAX_UPLOAD_BYTES, file_sha256, sniff_mime

__all__ = [
    "MAX_DECODE_SIDE",
    "MAX_SIDE",
    "MIN_SIDE",
    "PhotoInfo",
    "file_digest",
    "inspect_photo",
    "load_photo_rgb",
    "sniff_image_type",
]

MIN_SIDE = 512
MAX_SIDE = 2048
MAX_DECODE_SIDE = 16384
"""Larger images are refused unread (a small file can inflate to gigabytes of pixels)."""


@dataclass(frozen=True)
class PhotoInfo:
    path: Path
    mime_type: str
    width: int
    height: int
    size_bytes: int

    def warnings(self) -> list[str]:
        notes = []
        if min(self.width, self.height) < 1024:
            notes.append(
                f"photo {self.path.name} is {self.width}x{self.height}: 1024 px or more gives better results"
            )
        if max(self.width, self.height) > MAX_SIDE:
            notes.append(f"photo {self.path.name} is over 2K ({self.width}x{self.height}): HeyGen may refuse it")
        return notes


def sniff_image_type(head: bytes) -> str | None:
    """``image/png`` or ``image/jpeg`` from the first bytes, else None."""
    mime = sniff_mime(head)
    return mime if mime in IMAGE_MIMES else None


def file_digest(path: Path, chunk: int = 1 << 20) -> str:
    """sha256 of a file's bytes (the same digest the asset cache keys uploads by)."""
    return file_sha256(path, chunk)


def inspect_photo(path: Path, *, min_side: int = MIN_SIDE) -> PhotoInfo:
    """Validate a photo; PhotoError (exit 2) when it cannot be used."""
    if not path.exists():
        raise PhotoError(f"photo not found: {path}", hint="pass --image PHOTO or fix `image:` in the marker note")
    if not path.is_file():
        raise PhotoError(f"photo is not a file: {path}")
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(16)
    except OSError as exc:
        raise PhotoError(f"cannot read photo {path}: {exc.strerror}") from exc
    mime = sniff_image_type(head)
    if mime is None:
        raise PhotoError(f"photo {path} is not a PNG or JPEG image", hint="export the portrait as PNG or JPEG")
    if size > MAX_UPLOAD_BYTES:
        raise PhotoError(f"photo {path} is {size / 1e6:.1f} MB; the upload limit is 32 MB")
    width, height = _image_size(path)
    if min(width, height) < min_side:
        raise PhotoError(
            f"photo {path} is {width}x{height}; HeyGen needs at least {min_side} px on each side",
            hint="use a larger portrait (1024 px recommended)",
        )
    return PhotoInfo(path=path, mime_type=mime, width=width, height=height, size_bytes=size)


def _image_size(path: Path) -> tuple[int, int]:
    """Width and height of the decoded image: decoding (not just reading the header) catches a
    truncated or corrupt file before it is uploaded. Absurd sizes are refused before decoding."""
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            width, height = int(stream.codec_context.width), int(stream.codec_context.height)
            if max(width, height) > MAX_DECODE_SIDE:
                raise PhotoError(
                    f"photo {path} is {width}x{height}: far too large (HeyGen wants under 2K)",
                    hint="export the portrait at 1024-2048 px",
                )
            frame = next(container.decode(stream))
            return int(frame.width), int(frame.height)
    except (av.FFmpegError, StopIteration, IndexError, OSError, ValueError) as exc:
        raise PhotoError(
            f"photo {path} cannot be decoded (corrupt image?)", hint="export the portrait again as PNG or JPEG"
        ) from exc


def load_photo_rgb(path: Path) -> np.ndarray:
    """The photo's pixels as an (h, w, 3) uint8 array."""
    try:
        with av.open(str(path)) as container:
            frame = next(container.decode(video=0))
            return np.asarray(frame.to_ndarray(format="rgb24"))
    except (av.FFmpegError, StopIteration, IndexError, OSError, ValueError) as exc:
        raise PhotoError(
            f"photo {path} cannot be decoded (corrupt image?)", hint="export the portrait again as PNG or JPEG"
        ) from exc
