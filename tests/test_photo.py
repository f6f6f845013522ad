"""Tests for otio_heygen.media.photo: type sniffing, size checks, corrupt files, digests, pixel loading.

Every image is a real PNG or JPEG written in tmp_path with PyAV (as sample_timelines/make_samples.py does).
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from pathlib import Path

import av
import numpy as np
import pytest

from otio_heygen.errors import InputError, PhotoError
from otio_heygen.media.photo import (
    MAX_DECODE_SIDE,
    MIN_SIDE,
    PhotoInfo,
    file_digest,
    inspect_photo,
    load_photo_rgb,
    sniff_image_type,
)


def gradient(width: int, height: int) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.zeros((height, width, 3), dtype=np.uint8)
    rgb[..., 0] = (x * 255 // max(1, width - 1)).astype(np.uint8)
    rgb[..., 1] = (y * 255 // max(1, height - 1)).astype(np.uint8)
    rgb[..., 2] = 90
    return rgb


def write_image(path: Path, rgb: np.ndarray, *, codec: str = "png", pix_fmt: str = "rgb24") -> Path:
    """A one-frame image2 file: ``png`` (rgb24/rgba/gray) or ``mjpeg`` (yuvj420p)."""
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
    if pix_fmt != "rgb24":
        frame = frame.reformat(format=pix_fmt)
    with av.open(str(path), mode="w", format="image2") as out:
        stream = out.add_stream(codec, rate=1)
        stream.width, stream.height, stream.pix_fmt = rgb.shape[1], rgb.shape[0], pix_fmt
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def raw_png(path: Path, width: int, height: int) -> Path:
    """A valid all-black RGB PNG built by hand (cheap even when huge: zeros compress well)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    packer = zlib.compressobj(9)
    row = b"\x00" * (1 + 3 * width)
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


def png(path: Path, width: int = 1024, height: int = 1024) -> Path:
    return write_image(path, gradient(width, height))


def jpeg(path: Path, width: int = 1024, height: int = 1024) -> Path:
    return write_image(path, gradient(width, height), codec="mjpeg", pix_fmt="yuvj420p")


# ------------------------------------------------------------------------------------ sniffing


def test_sniff_image_type() -> None:
    assert sniff_image_type(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR") == "image/png"
    assert sniff_image_type(b"\xff\xd8\xff\xe0\x00\x10JFIF") == "image/jpeg"
    assert sniff_image_type(b"GIF89a") is None
    assert sniff_image_type(b"\x89PNG") is None  # too short to be sure
    assert sniff_image_type(b"") is None


def test_png_and_jpeg_are_accepted(tmp_path: Path) -> None:
    p = inspect_photo(png(tmp_path / "a.png", 1024, 1100))
    assert p == PhotoInfo(path=tmp_path / "a.png", mime_type="image/png", width=1024, height=1100,
                          size_bytes=(tmp_path / "a.png").stat().st_size)
    assert p.warnings() == []
    j = inspect_photo(jpeg(tmp_path / "a.jpg", 1280, 1024))
    assert (j.mime_type, j.width, j.height) == ("image/jpeg", 1280, 1024)
    assert j.warnings() == []


def test_type_comes_from_the_bytes_not_the_name(tmp_path: Path) -> None:
    png_named_jpg = png(tmp_path / "really_png.jpg", 640, 600)
    jpg_named_png = jpeg(tmp_path / "really_jpeg.png", 640, 600)
    no_extension = png(tmp_path / "a.png", 600, 600).rename(tmp_path / "portrait")
    assert inspect_photo(png_named_jpg).mime_type == "image/png"
    assert inspect_photo(jpg_named_png).mime_type == "image/jpeg"
    assert inspect_photo(no_extension).mime_type == "image/png"
    assert load_photo_rgb(png_named_jpg).shape == (600, 640, 3)
    assert load_photo_rgb(jpg_named_png).shape == (600, 640, 3)


@pytest.mark.parametrize(
    "content",
    [b"this is not an image, just text\n" * 40, b"", b"GIF89a" + b"\x00" * 2000, b"<svg></svg>"],
)
def test_not_png_or_jpeg_is_a_photo_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "portrait.png"
    path.write_bytes(content)
    with pytest.raises(PhotoError, match="not a PNG or JPEG") as info:
        inspect_photo(path)
    assert isinstance(info.value, InputError) and info.value.exit_code == 2
    assert "portrait.png" in str(info.value)


# ------------------------------------------------------------------------------------ sizes


def test_too_small_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PhotoError, match=r"511x700.*512") as info:
        inspect_photo(png(tmp_path / "small.png", 511, 700))
    assert "1024" in info.value.one_line()  # the hint says what is recommended
    with pytest.raises(PhotoError, match="512"):
        inspect_photo(jpeg(tmp_path / "small.jpg", 800, 300))


def test_minimum_size_is_accepted_with_a_warning(tmp_path: Path) -> None:
    info = inspect_photo(png(tmp_path / "min.png", MIN_SIDE, MIN_SIDE))
    assert (info.width, info.height) == (512, 512)
    [warning] = info.warnings()
    assert "min.png" in warning and "512x512" in warning and "1024" in warning


def test_min_side_can_be_lowered(tmp_path: Path) -> None:
    path = png(tmp_path / "thumb.png", 300, 320)
    assert inspect_photo(path, min_side=256).width == 300


def test_over_2k_warns(tmp_path: Path) -> None:
    info = inspect_photo(png(tmp_path / "big.png", 2100, 1100))
    warnings = info.warnings()
    assert len(warnings) == 1 and "2K" in warnings[0] and "2100x1100" in warnings[0]
    narrow = inspect_photo(png(tmp_path / "narrow.png", 2049, 600)).warnings()
    assert len(narrow) == 2  # under 1024 on one side and over 2K on the other
    assert inspect_photo(png(tmp_path / "edge.png", 2048, 1024)).warnings() == []


def test_hand_made_png_is_read(tmp_path: Path) -> None:
    info = inspect_photo(raw_png(tmp_path / "black.png", 600, 520))
    assert (info.mime_type, info.width, info.height) == ("image/png", 600, 520)
    assert not load_photo_rgb(info.path).any()


def test_absurdly_large_image_is_refused(tmp_path: Path) -> None:
    path = raw_png(tmp_path / "wide.png", MAX_DECODE_SIDE + 1, 600)
    with pytest.raises(PhotoError, match=f"{MAX_DECODE_SIDE + 1}x600"):
        inspect_photo(path)


def test_over_the_upload_limit_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "huge.png"
    with path.open("wb") as fh:
        fh.write(b"\x89PNG\r\n\x1a\n")
        fh.truncate(33 * 1024 * 1024)  # sparse: cheap to make
    with pytest.raises(PhotoError, match="32 MB"):
        inspect_photo(path)


# ------------------------------------------------------------------------------------ broken files


def test_truncated_png_is_a_photo_error(tmp_path: Path) -> None:
    data = png(tmp_path / "whole.png", 700, 700).read_bytes()
    path = tmp_path / "truncated.png"
    path.write_bytes(data[: len(data) // 3])  # valid header and size, missing image data
    with pytest.raises(PhotoError, match="cannot be decoded") as info:
        inspect_photo(path)
    assert "truncated.png" in str(info.value)
    with pytest.raises(PhotoError, match="cannot be decoded"):
        load_photo_rgb(path)


@pytest.mark.parametrize("kind", ["png", "jpeg"])
def test_header_then_garbage_is_a_photo_error(tmp_path: Path, kind: str) -> None:
    head = b"\x89PNG\r\n\x1a\n" if kind == "png" else b"\xff\xd8\xff\xe0"
    path = tmp_path / f"garbage.{kind}"
    path.write_bytes(head + bytes(range(256)) * 20)
    with pytest.raises(PhotoError):
        inspect_photo(path)


def test_missing_photo(tmp_path: Path) -> None:
    with pytest.raises(PhotoError, match="photo not found") as info:
        inspect_photo(tmp_path / "nope.png")
    assert "--image" in info.value.one_line()
    with pytest.raises(PhotoError):
        load_photo_rgb(tmp_path / "nope.png")


def test_directory_is_not_a_photo(tmp_path: Path) -> None:
    folder = tmp_path / "photo.png"
    folder.mkdir()
    with pytest.raises(PhotoError, match="not a file"):
        inspect_photo(folder)


# ------------------------------------------------------------------------------------ digest and pixels


def test_file_digest_is_sha256_of_the_bytes(tmp_path: Path) -> None:
    path = png(tmp_path / "a.png", 600, 600)
    expected = hashlib.sha256(path.read_bytes()).hexdigest()
    assert file_digest(path) == expected
    assert file_digest(path, chunk=7) == expected  # chunking does not change it
    other = png(tmp_path / "b.png", 600, 601)
    assert file_digest(other) != expected
    renamed = tmp_path / "renamed.jpg"
    renamed.write_bytes(path.read_bytes())
    assert file_digest(renamed) == expected  # the name is not part of it


def test_load_photo_rgb_png_is_exact(tmp_path: Path) -> None:
    rgb = gradient(700, 600)
    pixels = load_photo_rgb(write_image(tmp_path / "a.png", rgb))
    assert pixels.shape == (600, 700, 3) and pixels.dtype == np.uint8
    assert np.array_equal(pixels, rgb)


def test_load_photo_rgb_jpeg_is_close(tmp_path: Path) -> None:
    rgb = gradient(640, 512)
    pixels = load_photo_rgb(write_image(tmp_path / "a.jpg", rgb, codec="mjpeg", pix_fmt="yuvj420p"))
    assert pixels.shape == (512, 640, 3) and pixels.dtype == np.uint8
    assert np.abs(pixels.astype(int) - rgb.astype(int)).mean() < 6


@pytest.mark.parametrize("pix_fmt", ["rgba", "gray"])
def test_load_photo_rgb_converts_other_pixel_formats(tmp_path: Path, pix_fmt: str) -> None:
    rgb = gradient(600, 520)
    path = write_image(tmp_path / f"{pix_fmt}.png", rgb, pix_fmt=pix_fmt)
    assert inspect_photo(path).width == 600
    pixels = load_photo_rgb(path)
    assert pixels.shape == (520, 600, 3)
    if pix_fmt == "rgba":
        assert np.array_equal(pixels, rgb)
    else:
        assert np.array_equal(pixels[..., 0], pixels[..., 1])
