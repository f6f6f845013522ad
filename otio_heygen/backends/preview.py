"""The offline ``preview`` render: a real H.264+AAC MP4 with the photo, the section's name and
exactly the section's audio, at the timeline's frame rate.

No key, no network: it lets an editor try the whole round trip (import, line-up, relink)
before spending money. A thin bar along the bottom grows with time, so sync against the
song can be checked by eye. :class:`PreviewBackend` is the ``Backend`` around it, registered as
``preview`` in the ``otio_heygen.backends`` entry-point group (:func:`create`).
"""

from __future__ import annotations

import os
from pathlib import Path

import av
import numpy as np

from otio_heygen.errors import MediaError
from otio_heygen.fsutil import create_temp_beside
from otio_heygen.media.photo import load_photo_rgb
from otio_heygen.planning.types import RemoteStatus, RenderRequest
from otio_heygen.read.rates import exact_rate as rate_fraction
from otio_heygen.run.contract import AssetKind
from otio_heygen.run.registry import BackendSettings

__all__ = ["PreviewBackend", "create", "draw_text", "rate_fraction", "render_preview"]

# 5x7 bitmap font, one string of 7 rows of 5 pixels per glyph.
_FONT_ROWS = {
    "A": "01110 10001 10001 11111 10001 10001 10001", "B": "11110 10001 10001 11110 10001 10001 11110",
    "C": "01110 10001 10000 10000 10000 10001 01110", "D": "11110 10001 10001 10001 10001 10001 11110",
    "E": "11111 10000 10000 11110 10000 10000 11111", "F": "11111 10000 10000 11110 10000 10000 10000",
    "G": "01110 10001 10000 10111 10001 10001 01111", "H": "10001 10001 10001 11111 10001 10001 10001",
    "I": "01110 00100 00100 00100 00100 00100 01110", "J": "00111 00010 00010 00010 00010 10010 01100",
    "K": "10001 10010 10100 11000 10100 10010 10001", "L": "10000 10000 10000 10000 10000 10000 11111",
    "M": "10001 11011 10101 10101 10001 10001 10001", "N": "10001 10001 11001 10101 10011 10001 10001",
    "O": "01110 10001 10001 10001 10001 10001 01110", "P": "11110 10001 10001 11110 10000 10000 10000",
    "Q": "01110 10001 10001 10001 10101 10010 01101", "R": "11110 10001 10001 11110 10100 10010 10001",
    "S": "01111 10000 10000 01110 00001 00001 11110", "T": "11111 00100 00100 00100 00100 00100 00100",
    "U": "10001 10001 10001 10001 10001 10001 01110", "V": "10001 10001 10001 10001 10001 01010 00100",
    "W": "10001 10001 10001 10101 10101 10101 01010", "X": "10001 10001 01010 00100 01010 10001 10001",
    "Y": "10001 10001 01010 00100 00100 00100 00100", "Z": "11111 00001 00010 00100 01000 10000 11111",
    "0": "01110 10001 10011 10101 11001 10001 01110", "1": "00100 01100 00100 00100 00100 00100 01110",
    "2": "01110 10001 00001 00010 00100 01000 11111", "3": "11111 00010 00100 00010 00001 10001 01110",
    "4": "00010 00110 01010 10010 11111 00010 00010", "5": "11111 10000 11110 00001 00001 10001 01110",
    "6": "00110 01000 10000 11110 10001 10001 01110", "7": "11111 00001 00010 00100 01000 01000 01000",
    "8": "01110 10001 10001 01110 10001 10001 01110", "9": "01110 10001 10001 01111 00001 00010 01100",
    " ": "00000 00000 00000 00000 00000 00000 00000", "-": "00000 00000 00000 11111 00000 00000 00000",
    ".": "00000 00000 00000 00000 00000 01100 01100", ":": "00000 01100 01100 00000 01100 01100 00000",
    "(": "00010 00100 01000 01000 01000 00100 00010", ")": "01000 00100 00010 00010 00010 00100 01000",
    "!": "00100 00100 00100 00100 00100 00000 00100", "?": "01110 10001 00001 00010 00100 00000 00100",
    "'": "00100 00100 01000 00000 00000 00000 00000", "/": "00000 00001 00010 00100 01000 10000 00000",
    "&": "01100 10010 10100 01000 10101 10010 01101", ",": "00000 00000 00000 00000 01100 00100 01000",
    "#": "01010 01010 11111 01010 11111 01010 01010", "_": "00000 00000 00000 00000 00000 00000 11111",
}
_AAC_RATES = frozenset((96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000))
_AAC_FALLBACK_RATE = 48000
_FONT = {
    ch: np.array([[c == "1" for c in row] for row in rows.split()], dtype=bool)
    for ch, rows in _FONT_ROWS.items()
}


def draw_text(canvas: np.ndarray, text: str, x: int, y: int, scale: int, color: tuple[int, int, int]) -> None:
    """Draw upper-cased ``text`` into an (h, w, 3) uint8 canvas, clipped at its edges."""
    h, w = canvas.shape[:2]
    for i, ch in enumerate(text.upper()):
        glyph = _FONT.get(ch, _FONT["?"])
        big = np.kron(glyph, np.ones((scale, scale), dtype=bool))
        gx = x + i * 6 * scale
        if gx >= w:
            break
        gh, gw = big.shape
        y0, x0 = max(y, 0), max(gx, 0)
        y1, x1 = min(y + gh, h), min(gx + gw, w)
        if y0 >= y1 or x0 >= x1:
            continue
        mask = big[y0 - y : y1 - y, x0 - gx : x1 - gx]
        canvas[y0:y1, x0:x1][mask] = color


def _fit(photo: np.ndarray, width: int, height: int) -> np.ndarray:
    """Nearest-neighbour scale to fit inside width x height (letterboxed)."""
    ph, pw = photo.shape[:2]
    scale = min(width / pw, height / ph)
    nw, nh = max(1, int(pw * scale)), max(1, int(ph * scale))
    ys = (np.arange(nh) * ph / nh).astype(np.intp)
    xs = (np.arange(nw) * pw / nw).astype(np.intp)
    fitted: np.ndarray = photo[ys][:, xs]
    return fitted


def _read_pcm(path: Path) -> tuple[np.ndarray, int]:
    """The audio file's samples as (channels, n) float32 and its sample rate."""
    try:
        with av.open(str(path)) as container:
            stream = container.streams.audio[0]
            rate = int(stream.rate)
            chunks = [
                frame.to_ndarray().reshape(len(frame.layout.channels), -1)
                if frame.format.is_planar
                else frame.to_ndarray().reshape(-1, len(frame.layout.channels)).T
                for frame in container.decode(stream)
            ]
    except (av.FFmpegError, IndexError, OSError) as exc:
        raise MediaError(f"cannot read section audio {path}") from exc
    if not chunks or sum(chunk.shape[1] for chunk in chunks) == 0:
        raise MediaError(f"section audio {path} has no samples")
    pcm = np.concatenate(chunks, axis=1)
    if pcm.dtype == np.uint8:  # 8-bit WAV is unsigned, centred on 128
        pcm = (pcm.astype(np.float32) - 128.0) / 128.0
    elif pcm.dtype == np.int16:
        pcm = pcm.astype(np.float32) / 32768.0
    elif pcm.dtype == np.int32:
        pcm = pcm.astype(np.float32) / 2147483648.0
    return pcm.astype(np.float32), rate


def _aac_ready(pcm: np.ndarray, rate: int) -> tuple[np.ndarray, int]:
    """The samples at a rate the AAC encoder accepts (it refuses e.g. 44000 Hz): unchanged when it
    already does, else linearly resampled to 48 kHz (a preview, not a master)."""
    if rate in _AAC_RATES:
        return pcm, rate
    n = max(1, round(pcm.shape[1] * _AAC_FALLBACK_RATE / rate))
    positions = np.arange(n) * (rate / _AAC_FALLBACK_RATE)
    source = np.arange(pcm.shape[1])
    resampled = np.stack([np.interp(positions, source, channel) for channel in pcm]).astype(np.float32)
    return resampled, _AAC_FALLBACK_RATE


def render_preview(request: RenderRequest, dest: Path, *, width: int = 640, height: int = 360) -> None:
    """Write the preview MP4 for one request to ``dest`` atomically."""
    rate = rate_fraction(request.rate)
    pcm, sample_rate = _read_pcm(request.audio_path)
    seconds = pcm.shape[1] / sample_rate
    n_frames = max(1, round(seconds * rate))

    background = np.full((height, width, 3), 24, dtype=np.uint8)
    photo = _fit(load_photo_rgb(request.image_path), width, height - 60)
    ph, pw = photo.shape[:2]
    x0 = (width - pw) // 2
    background[0:ph, x0 : x0 + pw] = photo
    draw_text(background, request.title[:34], 12, height - 48, 3, (255, 255, 255))
    draw_text(background, "PREVIEW", width - 6 * 2 * 7 - 6, 8, 2, (255, 210, 0))

    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = create_temp_beside(dest, ".mp4")
    try:
        with av.open(str(tmp), mode="w", format="mp4") as out:
            video = out.add_stream("libx264", rate=rate)
            video.width, video.height, video.pix_fmt = width, height, "yuv420p"
            video.options = {"preset": "ultrafast", "tune": "stillimage", "crf": "28"}
            aac_pcm, aac_rate = _aac_ready(pcm, sample_rate)
            audio = out.add_stream("aac", rate=aac_rate, layout="stereo" if pcm.shape[0] > 1 else "mono")
            _encode_audio(out, audio, aac_pcm, aac_rate)
            for i in range(n_frames):
                frame_pixels = background.copy()
                bar = int(width * (i + 1) / n_frames)
                frame_pixels[height - 6 :, :bar] = (0, 200, 120)
                frame = av.VideoFrame.from_ndarray(frame_pixels, format="rgb24")
                frame.pts = i
                frame.time_base = 1 / rate
                for packet in video.encode(frame):
                    out.mux(packet)
            for packet in video.encode(None):
                out.mux(packet)
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _encode_audio(
    out: av.container.OutputContainer, stream: av.AudioStream, pcm: np.ndarray, rate: int
) -> None:
    channels = 2 if pcm.shape[0] > 1 else 1
    data = pcm[:channels]
    step = 1024 * 8
    for start in range(0, data.shape[1], step):
        chunk = np.ascontiguousarray(data[:, start : start + step])
        frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo" if channels == 2 else "mono")
        frame.sample_rate = rate
        frame.pts = start
        for packet in stream.encode(frame):
            out.mux(packet)
    for packet in stream.encode(None):
        out.mux(packet)


class PreviewBackend:
    """Offline backend: "uploads" are local names, a "render" is :func:`render_preview` at download time."""

    name = "preview"
    price_per_second = 0.0
    ledger_account = "preview:local"
    """Previews have their own ledger namespace: never passed off as paid renders."""
    instant_renders = True
    """A render is done when ``create`` returns: the run layer asks once instead of polling."""

    def __init__(self, width: int = 640, height: int = 360) -> None:
        self.width = width
        self.height = height

    def upload(self, path: Path, kind: AssetKind) -> str:
        return f"local:{kind}:{path.name}"

    def create(self, request: RenderRequest, image_asset: str, audio_asset: str, idempotency_key: str) -> str:
        return f"preview_{idempotency_key[:32]}"

    def status(self, video_id: str) -> RemoteStatus:
        return RemoteStatus(state="completed", raw_status="completed")

    def download(self, video_id: str, request: RenderRequest, dest: Path) -> None:
        render_preview(request, dest, width=self.width, height=self.height)


def create(settings: BackendSettings) -> PreviewBackend:
    """The ``preview`` entry point: ``width``/``height`` of the frames may come in ``settings.options``."""
    options = settings.options
    return PreviewBackend(width=int(options.get("width", 640)), height=int(options.get("height", 360)))
