"""The offline ``preview`` render: a real H.264+AAC MP4 with the photo, the section's name and
exactly the section's audio, at the timeline's frame rate.

No key, no network: it lets an editor try the whole round trip (import, line-up, relink)
before spending money. A thin bar along the bottom grows with time, so sync against the
song can be checked by eye. :class:`PreviewBackend` is the ``Backend`` around it, registered as
``preview`` in the ``otio_heygen.backends`` entry-point group (:func:`create`).
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from otio_heygen.errors import MediaError
from otio_heygen.fsutil import commit_temp, create_temp_beside, discard_temp
from otio_heygen.media.photo import load_photo_rgb
from otio_heygen.media.workers import run_media
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


def render_preview(request: RenderRequest, dest: Path, *, width: int = 640, height: int = 360) -> None:
    """Write the preview MP4 for one request to ``dest`` atomically. The section audio is streamed
    from its file into the AAC encoder (never held whole), then the pictures follow its length.
    Encodes on a media thread (``otio_heygen.media.workers``)."""
    run_media(lambda: _render(request, dest, width, height))


def _render(request: RenderRequest, dest: Path, width: int, height: int) -> None:
    rate = rate_fraction(request.rate)
    background = np.full((height, width, 3), 24, dtype=np.uint8)
    photo = _fit(load_photo_rgb(request.image_path), width, height - 60)
    ph, pw = photo.shape[:2]
    x0 = (width - pw) // 2
    background[0:ph, x0 : x0 + pw] = photo
    draw_text(background, request.title[:34], 12, height - 48, 3, (255, 255, 255))
    draw_text(background, "PREVIEW", width - 6 * 2 * 7 - 6, 8, 2, (255, 210, 0))

    with _open_audio(request.audio_path) as source:
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = create_temp_beside(dest, ".mp4")
        try:
            with av.open(str(tmp), mode="w", format="mp4") as out:
                video = out.add_stream("libx264", rate=rate)
                video.width, video.height, video.pix_fmt = width, height, "yuv420p"
                video.options = {"preset": "ultrafast", "tune": "stillimage", "crf": "28"}
                seconds = _encode_audio(out, source, request.audio_path)
                _encode_pictures(out, video, background, rate, max(1, round(seconds * rate)))
            commit_temp(tmp, dest)
        except BaseException:
            discard_temp(tmp)
            raise


def _open_audio(path: Path) -> av.container.InputContainer:
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise MediaError(f"cannot read section audio {path}") from exc
    if not container.streams.audio:
        container.close()
        raise MediaError(f"cannot read section audio {path}: no audio stream")
    return container


def _encode_audio(out: av.container.OutputContainer, source: av.container.InputContainer, path: Path) -> float:
    """Decode the section audio frame by frame into an AAC stream of ``out`` (at most two channels, at a
    rate the AAC encoder accepts: e.g. 44000 Hz becomes 48 kHz); returns the audio's length in seconds."""
    stream = source.streams.audio[0]
    channels = 2 if stream.codec_context.channels > 1 else 1
    layout = "stereo" if channels == 2 else "mono"
    in_rate = int(stream.codec_context.sample_rate)
    aac_rate = in_rate if in_rate in _AAC_RATES else _AAC_FALLBACK_RATE
    audio = out.add_stream("aac", rate=aac_rate, layout=layout)
    resampler = av.AudioResampler(format="fltp", layout=layout, rate=aac_rate)
    taken = written = 0

    def mux(frames: list[av.AudioFrame]) -> None:
        nonlocal written
        for frame in frames:
            frame.pts = written
            frame.time_base = Fraction(1, aac_rate)
            written += frame.samples
            for packet in audio.encode(frame):
                out.mux(packet)

    try:
        for frame in source.decode(stream):
            taken += frame.samples
            mux(resampler.resample(frame))
        mux(resampler.resample(None))
    except (av.FFmpegError, ValueError) as exc:
        raise MediaError(f"cannot read section audio {path}") from exc
    if taken == 0:
        raise MediaError(f"section audio {path} has no samples")
    for packet in audio.encode(None):
        out.mux(packet)
    return taken / in_rate


def _encode_pictures(
    out: av.container.OutputContainer, video: av.VideoStream, background: np.ndarray, rate: Fraction, n: int
) -> None:
    """``n`` frames of the still picture with a bar along the bottom growing with time."""
    height, width = background.shape[:2]
    for i in range(n):
        frame_pixels = background.copy()
        bar = int(width * (i + 1) / n)
        frame_pixels[height - 6 :, :bar] = (0, 200, 120)
        frame = av.VideoFrame.from_ndarray(frame_pixels, format="rgb24")
        frame.pts = i
        frame.time_base = 1 / rate
        for packet in video.encode(frame):
            out.mux(packet)
    for packet in video.encode(None):
        out.mux(packet)


class PreviewBackend:
    """Offline backend: "uploads" are local names, a "render" is :func:`render_preview` at download time."""

    name = "preview"
    price_per_second = 0.0
    paid = False
    """Nothing it renders is billed (a paid backend priced at 0 is an unknown price, not a free one)."""
    draws_title = True
    """Its clips show the section's title: one is only reused for a section of the same title."""
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
