"""A fake HeyGen v3 server on pytest-httpserver, strict like the real one, for any test to reuse.

Usage (or import the ``fake_heygen`` fixture from this module)::

    from tests.support.heygen_fake import FakeHeyGen, FAKE_API_KEY

    def test_x(httpserver, tmp_path):
        fake = FakeHeyGen(httpserver, render_seconds=0.0)
        backend = make_heygen_backend(FAKE_API_KEY, fake.base_url, concurrency=2, ...)
        ...
        assert fake.creates == 1 and fake.rejected == []

What it does:
- ``POST /v3/assets`` (multipart, exactly one field ``file``; png/jpeg/wav/mp3 sniffed; 32 MB),
  ``POST /v3/videos`` (strict body: unknown fields, wrong enums, nulls, unknown asset ids -> 400
  ``invalid_parameter`` with ``param``; Idempotency-Key replay for ``replay_window_s`` seconds of
  the injected clock, 24 h by default: after it a reused key creates a NEW video and bills again,
  like the real service), ``GET /v3/videos/{id}``,
  ``GET /v3/videos/statuses?video_ids=a,b`` (up to 100 ids; ``queued``/``processing``/``completed``/
  ``failed``/``not_found``; pages of ``statuses_page_size`` items with ``has_more``/``next_token``,
  the next page asked for with ``token=``), ``GET /v3/videos`` (the account's videos, newest first,
  ``limit`` (1-100, default 10), ``token``/``next_token`` pagination, ``title`` substring filter;
  items as ``GET /v3/videos/{id}``), ``GET /v3/users/me``, and presigned-style downloads under
  ``/files/``. ``delete_video(id)`` makes a video unknown (404), like a deletion or an expiry on
  HeyGen's side.
- Every ``/v3`` call needs ``X-Api-Key``; downloads count requests that wrongly carry it.
- Render progress is computed from the injected ``clock`` (``pending`` -> ``waiting`` ->
  ``processing`` -> ``completed``), never from a background thread, so a client that dies
  mid-request leaves consistent state: a render that was accepted exists and finishes. Each
  render takes ``render_seconds``, or ``render_time(audio seconds)`` when that is given (real
  render time grows with the section's length).
- Account limits: ``max_concurrent`` renders in flight (a create beyond it is refused with 429
  ``rate_limit_exceeded`` and ``Retry-After: concurrency_retry_after``; replays of a known
  Idempotency-Key are not refused); ``refuse_statuses = 404`` (or 405, 400...) answers the bulk
  status endpoint with that status, like a server without it; ``url_ttl_s`` makes each download
  URL expire that many seconds after the status answer that gave it.
- Downloads are small real MP4s (64x64 H.264 at 25 fps + AAC). By default (``echo_audio``) a
  clip carries the audio asset it was created with and lasts as long, like a real Avatar IV
  render; ``video_bytes`` serves fixed bytes instead (e.g. junk, to test probing).
- Thread-safe (one lock), so it works with ``HTTPServer(threaded=True)`` as well.

Fault injection (each queued fault is consumed by the next request to that endpoint):
``inject(endpoint, 429, retry_after="7")``, ``inject("create", 500, after_processing=True)``,
``inject(endpoint, "drop")`` (connection closed without an answer), ``inject("download", 403)``
(URL expired: the old URL stays dead until the status is fetched again),
``inject("download", "truncate")`` (Content-Length larger than the body, then the connection
drops), ``inject("download", "redirect")`` (302 to a CDN-style URL), ``fail_render(...)``,
``stick_pending(...)``, ``expire_urls()``, ``finish_all()``. Rules and lookups by ``title``
match a video's title with or without the ``[oh-...]`` tag otio-heygen appends.
Endpoints: ``upload``, ``create``, ``status``, ``statuses``, ``download``, ``account``, ``list``.
``fault_mix(seed, server_error=0.2, rate_limit=0.2, drop=0.1, truncate=0.3)`` adds random faults
(seeded per endpoint, so the n-th request to an endpoint always meets the same fault) on every endpoint:
5xx, 429 with ``Retry-After``, dropped connections on API calls, truncated bodies on downloads;
never more than ``max_in_a_row`` faults in a row per endpoint, so every request gets through in
bounded time.

Counters (plain attributes): ``uploads`` (assets stored) / ``upload_requests``; ``creates``
(renders started, i.e. billed) / ``create_requests``; ``list_requests``; ``creates_by_key`` and
``create_requests_by_key`` (per Idempotency-Key); ``key_body_mismatches`` (a key replayed with a
different body); ``status_requests``; ``statuses_requests`` (bulk); ``counts`` (a Counter of every
request by endpoint name, the ones above plus ``other``); ``concurrency_refusals`` (creates refused
by ``max_concurrent``); ``max_in_flight`` (most renders running at once); ``download_requests`` /
``downloads_completed`` / ``downloads_with_key`` (must stay 0); ``rejected`` ((method, path, status,
param) of every request the server itself refused: validation, auth, unknown route/id; injected faults are not listed);
``assets`` and ``videos`` (the stored objects; ``videos[id].body`` is the create body received).
"""

from __future__ import annotations

import io
import json
import math
import random
import re
import socket
import struct
import threading
import time
import uuid
import wave
import zlib
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
from werkzeug import Request, Response

__all__ = [
    "FAKE_API_KEY",
    "FakeHeyGen",
    "Fault",
    "fake_heygen",
    "http_date",
    "make_test_mp4",
    "write_test_png",
    "write_test_wav",
]

FAKE_API_KEY = "hg_test_SECRET_key_0123456789abcdef"
MAX_UPLOAD = 32 * 1024 * 1024
ENDPOINTS = ("upload", "create", "status", "statuses", "download", "account", "list")
REPLAY_WINDOW_S = 24 * 3600.0
STATUSES_MAX_IDS = 100
BULK_STATES = {"pending": "queued", "waiting": "queued", "processing": "processing"}
"""How the bulk endpoint names the single-video states (completed/failed are the same)."""
KEY_RE = re.compile(r"[A-Za-z0-9_:.\-]{1,255}")
ENUMS = {
    "resolution": {"4k", "1080p", "720p"},
    "aspect_ratio": {"16:9", "9:16", "4:5", "5:4", "1:1", "auto"},
    "fit": {"cover", "contain"},
    "expressiveness": {"high", "medium", "low"},
    "output_format": {"mp4", "webm"},
}
CREATE_FIELDS = {
    "type",
    "image",
    "audio_asset_id",
    "audio_url",
    "script",
    "voice_id",
    "title",
    "resolution",
    "aspect_ratio",
    "fit",
    "motion_prompt",
    "expressiveness",
    "callback_url",
    "callback_id",
    "output_format",
    "background",
    "remove_background",
    "caption",
}
STRING_FIELDS = {
    "audio_asset_id",
    "audio_url",
    "script",
    "voice_id",
    "title",
    "motion_prompt",
    "callback_url",
    "callback_id",
}


def http_date(epoch: float) -> str:
    """An HTTP date (as in ``Retry-After``) for ``epoch`` seconds."""
    return formatdate(epoch, usegmt=True)


def _sniff(data: bytes) -> str | None:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "audio/wav"
    if data.startswith(b"ID3") or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0):
        return "audio/mpeg"
    return None


def write_test_png(path: Path, size: int = 64, shade: int = 128) -> Path:
    """A real grey PNG of ``size`` x ``size`` pixels (``shade`` changes its bytes)."""
    raw = b"".join(b"\x00" + bytes([shade % 256, 90, 200]) * size for _ in range(size))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    path.write_bytes(png)
    return path


def write_test_wav(path: Path, seconds: float = 1.0, rate: int = 48000, freq: float = 440.0) -> Path:
    """A real mono 16-bit WAV with a sine tone."""
    frames = bytearray()
    for i in range(int(seconds * rate)):
        frames += struct.pack("<h", int(6000 * math.sin(2 * math.pi * freq * i / rate)))
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(bytes(frames))
    return path


@lru_cache(maxsize=16)
def make_test_mp4(seconds: float = 1.0, fps: int = 25, audio_source: bytes | None = None) -> bytes:
    """A small real MP4 (64x64 H.264 at ``fps`` + AAC). With ``audio_source`` (wav/mp3 bytes) the
    clip carries that audio and lasts as long as it does; otherwise ``seconds`` of a 440 Hz tone."""
    import av
    import numpy as np

    rate = 48000
    if audio_source is not None:
        chunks = []
        with av.open(io.BytesIO(audio_source)) as src:
            resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
            for frame in src.decode(audio=0):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
        samples = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(rate, np.float32)
    else:
        t = np.arange(int(seconds * rate)) / rate
        samples = (0.2 * np.sin(2 * math.pi * 440.0 * t)).astype(np.float32)
    duration = len(samples) / rate
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = 64, 64, "yuv420p"
        vs.options = {"preset": "ultrafast"}
        aus = out.add_stream("aac", rate=rate)
        aus.layout = "mono"
        for i in range(max(1, round(duration * fps))):
            img = np.full((64, 64, 3), (i * 7) % 256, dtype=np.uint8)
            for packet in vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in vs.encode(None):
            out.mux(packet)
        step = 1024
        for start in range(0, len(samples), step):
            block = samples[start : start + step].reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(block, format="flt", layout="mono")
            frame.sample_rate = rate
            frame.pts = start
            for packet in aus.encode(frame):
                out.mux(packet)
        for packet in aus.encode(None):
            out.mux(packet)
    return buf.getvalue()


@dataclass
class Fault:
    """One queued misbehaviour: an error status, or ``drop``/``truncate``."""

    kind: int | str
    code: str | None = None
    message: str | None = None
    param: str | None = None
    retry_after: str | None = None
    after_processing: bool = False


@dataclass
class _FaultMix:
    """Random faults drawn per request (see ``FakeHeyGen.fault_mix``)."""

    seed: int
    server_error: float
    rate_limit: float
    drop: float
    truncate: float
    retry_after: str | None
    max_in_a_row: int
    endpoints: frozenset[str]
    in_a_row: Counter[str]
    drawn: Counter[str]
    rngs: dict[str, random.Random] = field(default_factory=dict)
    """One generator per endpoint: its faults do not depend on how threads interleave the others."""

    def draw(self, endpoint: str) -> Fault | None:
        if endpoint not in self.endpoints:
            return None
        if self.in_a_row[endpoint] >= self.max_in_a_row:
            self.in_a_row[endpoint] = 0
            return None
        rng = self.rngs.setdefault(endpoint, random.Random(f"{self.seed}:{endpoint}"))
        x = rng.random()
        fault: Fault | None = None
        if endpoint == "download":
            if x < self.truncate:
                fault = Fault("truncate")
        elif x < self.server_error:
            fault = Fault(rng.choice((500, 502, 503)))
        elif x < self.server_error + self.rate_limit:
            fault = Fault(429, retry_after=self.retry_after)
        elif x < self.server_error + self.rate_limit + self.drop:
            # a create's answer is lost after the render was made: the nastiest case for money
            fault = Fault("drop", after_processing=endpoint in ("create", "upload"))
        if fault is None:
            self.in_a_row[endpoint] = 0
        else:
            self.in_a_row[endpoint] += 1
            self.drawn[str(fault.kind)] += 1
        return fault


def _audio_seconds(data: bytes) -> float:
    """Length of a WAV or MP3 asset in seconds (0 when unreadable)."""
    try:
        with wave.open(io.BytesIO(data)) as wav:
            return float(wav.getnframes()) / float(wav.getframerate())
    except (wave.Error, EOFError):
        pass
    import av

    try:
        with av.open(io.BytesIO(data)) as container:
            return float(container.duration or 0) / 1_000_000
    except av.FFmpegError:
        return 0.0


@dataclass
class FakeAsset:
    asset_id: str
    data: bytes
    mime: str
    filename: str


@dataclass
class FakeVideo:
    video_id: str
    title: str
    body: dict[str, Any]
    key: str | None
    created_at: float
    fail: tuple[str, str] | None = None
    stuck: bool = False
    url_token: int = 0
    mp4: bytes | None = None
    seq: int = 0
    """Creation order (newest first in ``GET /v3/videos``)."""
    render_s: float | None = None
    """This render's own duration (``render_time``), else the server's ``render_seconds``."""


_DEFAULT_CODES = {
    400: ("invalid_parameter", "Invalid parameter"),
    401: ("unauthorized", "Invalid API key"),
    402: ("insufficient_credit", "Insufficient credit"),
    403: ("forbidden", "Forbidden"),
    404: ("not_found", "Not found"),
    409: ("request_in_progress", "A request with this Idempotency-Key is in progress"),
    413: ("payload_too_large", "File too large"),
    429: ("rate_limit_exceeded", "Too many concurrent jobs"),
    500: ("internal_error", "Internal server error"),
    502: ("internal_error", "Bad gateway"),
    503: ("internal_error", "Service unavailable"),
}


def _error(
    status: int,
    code: str | None = None,
    message: str | None = None,
    param: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    dcode, dmsg = _DEFAULT_CODES.get(status, ("error", "Error"))
    body = {"error": {"code": code or dcode, "message": message or dmsg, "param": param, "doc_url": None}}
    return Response(json.dumps(body), status=status, headers=headers or {}, content_type="application/json")


def _ok(data: dict[str, Any]) -> Response:
    return Response(json.dumps({"data": data}), status=200, content_type="application/json")


def _titled(actual: str, title: str) -> bool:
    """A video titled ``title``, with or without the tag otio-heygen appends (``Chorus 1 [oh-...]``)."""
    return actual == title or (actual.startswith(title + " [") and actual.endswith("]"))


def _drop(request: Request) -> Response:
    sock = request.environ.get("werkzeug.socket")
    if sock is not None:
        sock.shutdown(socket.SHUT_RDWR)
    return Response(b"", status=500)


class FakeHeyGen:
    """In-memory HeyGen v3 (see module docstring). All counters are plain attributes."""

    def __init__(
        self,
        httpserver: Any,
        *,
        render_seconds: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        api_key: str = FAKE_API_KEY,
        video_bytes: bytes | None = None,
        echo_audio: bool = True,
        balance: float = 42.5,
        replay_window_s: float = REPLAY_WINDOW_S,
        render_time: Callable[[float], float] | None = None,
        max_concurrent: int | None = None,
        concurrency_retry_after: str | None = "1",
        statuses_page_size: int = STATUSES_MAX_IDS,
        refuse_statuses: int | None = None,
        url_ttl_s: float | None = None,
    ) -> None:
        self.server = httpserver
        self.render_seconds = render_seconds
        self.render_time = render_time
        self.max_concurrent = max_concurrent
        self.concurrency_retry_after = concurrency_retry_after
        self.statuses_page_size = statuses_page_size
        self.refuse_statuses = refuse_statuses
        self.url_ttl_s = url_ttl_s
        self.counts: Counter[str] = Counter()
        self.statuses_requests = 0
        self.concurrency_refusals = 0
        self.max_in_flight = 0
        self._mix: _FaultMix | None = None
        self.clock = clock
        self.api_key = api_key
        self.video_bytes = video_bytes
        self.echo_audio = echo_audio
        self.balance = balance
        self.replay_window_s = replay_window_s
        self.lock = threading.RLock()
        self.assets: dict[str, FakeAsset] = {}
        self.videos: dict[str, FakeVideo] = {}
        self.faults: dict[str, deque[Fault]] = {name: deque() for name in ENDPOINTS}
        self.uploads = 0
        self.upload_requests = 0
        self.creates = 0
        self.create_requests = 0
        self.creates_by_key: Counter[str] = Counter()
        self.create_requests_by_key: Counter[str] = Counter()
        self.key_body_mismatches = 0
        self.status_requests = 0
        self.list_requests = 0
        self.download_requests = 0
        self.downloads_completed = 0
        self.downloads_with_key = 0
        self.rejected: list[tuple[str, str, int, str | None]] = []
        self.requests: list[tuple[str, str]] = []
        self._keys: dict[str, tuple[str, float]] = {}
        """Idempotency-Key -> (video id, clock time of the key's first use)."""
        self._seq = 0
        self._upload_keys: dict[str, str] = {}
        self._render_rules: list[tuple[str | None, str, tuple[str, str] | None]] = []
        httpserver.expect_request(re.compile(r"^/.*$")).respond_with_handler(self._dispatch)

    # -- knobs ------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return str(self.server.url_for("/")).rstrip("/")

    def inject(
        self,
        endpoint: str,
        kind: int | str,
        *,
        code: str | None = None,
        message: str | None = None,
        param: str | None = None,
        retry_after: str | float | None = None,
        after_processing: bool = False,
        times: int = 1,
    ) -> None:
        """Queue ``times`` faults for the next requests to ``endpoint``."""
        if endpoint not in ENDPOINTS:
            raise ValueError(f"endpoint must be one of {ENDPOINTS}")
        ra = None if retry_after is None else str(retry_after)
        with self.lock:
            for _ in range(times):
                self.faults[endpoint].append(Fault(kind, code, message, param, ra, after_processing))

    def fault_mix(
        self,
        seed: int,
        *,
        server_error: float = 0.2,
        rate_limit: float = 0.2,
        drop: float = 0.1,
        truncate: float = 0.3,
        retry_after: str | None = "1",
        max_in_a_row: int = 3,
        endpoints: tuple[str, ...] = ENDPOINTS,
    ) -> Counter[str]:
        """From now on, fail requests at random (seeded): on API endpoints ``server_error`` 5xx,
        ``rate_limit`` 429 (``Retry-After: retry_after``), ``drop`` dropped connections (after the
        work is done on uploads and creates); on downloads ``truncate`` cut bodies. At most
        ``max_in_a_row`` faults in a row per endpoint. Returns the counter of faults drawn by kind."""
        with self.lock:
            self._mix = _FaultMix(
                seed, server_error, rate_limit, drop, truncate, retry_after, max_in_a_row,
                frozenset(endpoints), Counter(), Counter(),
            )  # fmt: skip
            return self._mix.drawn

    def fail_render(
        self,
        code: str = "face_not_detected",
        message: str = "No face was detected in the image.",
        *,
        title: str | None = None,
    ) -> None:
        """The next render (or every render titled ``title``) ends ``failed``."""
        with self.lock:
            self._render_rules.append((title, "fail", (code, message)))

    def stick_pending(self, *, title: str | None = None) -> None:
        """The next render (or every render titled ``title``) stays ``pending`` forever."""
        with self.lock:
            self._render_rules.append((title, "stuck", None))

    def expire_urls(self) -> None:
        """Every download URL handed out so far stops working (403)."""
        with self.lock:
            for video in self.videos.values():
                video.url_token += 1

    def finish_all(self) -> None:
        """Treat every render as done, whatever the clock says (stuck ones stay stuck)."""
        with self.lock:
            for video in self.videos.values():
                video.created_at = -math.inf

    def video_by_title(self, title: str) -> FakeVideo:
        """The video whose title is ``title`` or starts with it followed by a tag (``Chorus [oh-...]``)."""
        with self.lock:
            return next(v for v in self.videos.values() if _titled(v.title, title))

    def videos_titled(self, title: str) -> list[FakeVideo]:
        """Every video titled ``title`` (with or without a trailing tag), oldest first."""
        with self.lock:
            found = [v for v in self.videos.values() if _titled(v.title, title)]
            return sorted(found, key=lambda v: v.seq)

    def delete_video(self, video_id: str) -> None:
        """HeyGen no longer has this video: status, list and download answer as for an unknown id."""
        with self.lock:
            self.videos.pop(video_id)

    # -- dispatch ---------------------------------------------------------------------------

    @staticmethod
    def endpoint_of(method: str, path: str) -> str:
        """The endpoint name a request counts under in ``counts``."""
        if path.startswith("/files/") and method == "GET":
            return "download"
        routes = {
            ("POST", "/v3/assets"): "upload",
            ("POST", "/v3/videos"): "create",
            ("GET", "/v3/videos/statuses"): "statuses",
            ("GET", "/v3/videos"): "list",
            ("GET", "/v3/users/me"): "account",
        }
        if (method, path) in routes:
            return routes[(method, path)]
        if method == "GET" and path.startswith("/v3/videos/") and path.count("/") == 3:
            return "status"
        return "other"

    def _dispatch(self, request: Request) -> Response:
        path = request.path
        with self.lock:
            self.requests.append((request.method, path))
            self.counts[self.endpoint_of(request.method, path)] += 1
        if path.startswith("/files/") and request.method == "GET":
            return self._download(request)
        if path.startswith("/v3/"):
            if request.headers.get("X-Api-Key") != self.api_key:
                return self._reject(request, 401, "unauthorized", "Invalid API key")
            if path == "/v3/assets" and request.method == "POST":
                return self._upload(request)
            if path == "/v3/videos" and request.method == "POST":
                return self._create(request)
            if path == "/v3/videos" and request.method == "GET":
                return self._list(request)
            if path == "/v3/videos/statuses" and request.method == "GET":
                if self.refuse_statuses is not None:
                    code, message = _DEFAULT_CODES.get(self.refuse_statuses, ("not_found", "No such route"))
                    return self._reject(request, self.refuse_statuses, code, message)
                return self._statuses(request)
            if path.startswith("/v3/videos/") and request.method == "GET":
                return self._status(request, path[len("/v3/videos/") :])
            if path == "/v3/users/me" and request.method == "GET":
                return self._account(request)
        return self._reject(request, 404, "not_found", f"No route {request.method} {path}")

    def _reject(self, request: Request, status: int, code: str, message: str, param: str | None = None) -> Response:
        with self.lock:
            self.rejected.append((request.method, request.path, status, param))
        return _error(status, code, message, param)

    def _fault(self, endpoint: str) -> Fault | None:
        with self.lock:
            queue = self.faults[endpoint]
            if queue:
                return queue.popleft()
            return self._mix.draw(endpoint) if self._mix is not None else None

    def _fault_response(self, request: Request, fault: Fault) -> Response:
        if fault.kind == "drop":
            return _drop(request)
        assert isinstance(fault.kind, int), fault
        headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else None
        return _error(fault.kind, fault.code, fault.message, fault.param, headers)

    # -- endpoints --------------------------------------------------------------------------

    def _upload(self, request: Request) -> Response:
        with self.lock:
            self.upload_requests += 1
        fault = self._fault("upload")
        if fault is not None and not fault.after_processing:
            return self._fault_response(request, fault)
        if not (request.content_type or "").startswith("multipart/form-data"):
            return self._reject(request, 400, "invalid_parameter", "Expected multipart/form-data", "file")
        extra = [k for k in list(request.form.keys()) + list(request.files.keys()) if k != "file"]
        if extra:
            return self._reject(request, 400, "invalid_parameter", f"Unknown field {extra[0]}", extra[0])
        if "file" not in request.files or len(request.files.getlist("file")) != 1:
            return self._reject(request, 400, "invalid_parameter", "Exactly one field 'file' is required", "file")
        upload = request.files["file"]
        data = upload.read()
        if len(data) > MAX_UPLOAD:
            return self._reject(request, 413, "payload_too_large", "File exceeds 32 MB")
        mime = _sniff(data)
        if mime is None:
            return self._reject(request, 400, "invalid_parameter", "Unsupported file type", "file")
        key = request.headers.get("Idempotency-Key")
        if key is not None and not KEY_RE.fullmatch(key):
            return self._reject(request, 400, "invalid_parameter", "Bad Idempotency-Key", "Idempotency-Key")
        with self.lock:
            asset_id = self._upload_keys.get(key) if key else None
            if asset_id is None or asset_id not in self.assets:
                asset_id = f"a_{uuid.uuid4().hex[:16]}"
                self.assets[asset_id] = FakeAsset(asset_id, data, mime, upload.filename or "file")
                self.uploads += 1
                if key:
                    self._upload_keys[key] = asset_id
            asset = self.assets[asset_id]
        if fault is not None:
            return self._fault_response(request, fault)
        return _ok(
            {
                "asset_id": asset_id,
                "url": f"https://files.example/{asset_id}",
                "mime_type": asset.mime,
                "size_bytes": len(asset.data),
            }
        )

    def _validate_create(self, body: Any) -> tuple[str, str | None] | None:
        """(message, param) of the first problem, or None."""
        if not isinstance(body, dict):
            return ("Body must be a JSON object", None)
        for name in body:
            if name not in CREATE_FIELDS:
                return (f"Unknown field: {name}", name)
        for name, value in body.items():
            if value is None:
                return (f"{name} must not be null", name)
            if name in STRING_FIELDS and not isinstance(value, str):
                return (f"{name} must be a string", name)
            if name in ENUMS and value not in ENUMS[name]:
                return (f"{name} must be one of {', '.join(sorted(ENUMS[name]))}", name)
        if body.get("type") != "image":
            return ("type must be 'image'", "type")
        image = body.get("image")
        if not isinstance(image, dict) or image.get("type") not in {"asset_id", "url", "base64"}:
            return ("image must be an object with type asset_id, url or base64", "image")
        allowed = {"asset_id": {"type", "asset_id"}, "url": {"type", "url"}, "base64": {"type", "media_type", "data"}}
        for name in image:
            if name not in allowed[image["type"]]:
                return (f"Unknown field: image.{name}", f"image.{name}")
        if image["type"] == "asset_id":
            asset = self.assets.get(str(image.get("asset_id")))
            if asset is None or not asset.mime.startswith("image/"):
                return ("Image asset not found", "image.asset_id")
        sources = [k for k in ("audio_asset_id", "audio_url", "script") if k in body]
        if len(sources) != 1:
            return ("Give exactly one of audio_asset_id, audio_url, script", "audio_asset_id")
        if "voice_id" in body and "script" not in body:
            return ("voice_id is only allowed with script", "voice_id")
        if "audio_asset_id" in body:
            asset = self.assets.get(body["audio_asset_id"])
            if asset is None or not asset.mime.startswith("audio/"):
                return ("Audio asset not found", "audio_asset_id")
        return None

    def _create(self, request: Request) -> Response:
        key = request.headers.get("Idempotency-Key")
        with self.lock:
            self.create_requests += 1
            if key:
                self.create_requests_by_key[key] += 1
        fault = self._fault("create")
        if fault is not None and not fault.after_processing:
            return self._fault_response(request, fault)
        if key is not None and not KEY_RE.fullmatch(key):
            return self._reject(request, 400, "invalid_parameter", "Bad Idempotency-Key", "Idempotency-Key")
        if not (request.content_type or "").startswith("application/json"):
            return self._reject(request, 400, "invalid_parameter", "Expected application/json", None)
        try:
            body = json.loads(request.get_data() or b"null")
        except ValueError:
            return self._reject(request, 400, "invalid_parameter", "Body is not JSON", None)
        with self.lock:
            problem = self._validate_create(body)
            if problem is not None:
                return self._reject(request, 400, "invalid_parameter", problem[0], problem[1])
            known = self._keys.get(key) if key else None
            if known is not None and self.clock() - known[1] > self.replay_window_s:
                known = None  # the key is forgotten: a resend is a new, billed render
            video_id = known[0] if known is not None else None
            if video_id is not None:
                replayed = self.videos.get(video_id)
                if replayed is not None and replayed.body != body:
                    self.key_body_mismatches += 1
            else:
                if self.max_concurrent is not None and self.in_flight() >= self.max_concurrent:
                    self.concurrency_refusals += 1
                    headers = {"Retry-After": self.concurrency_retry_after} if self.concurrency_retry_after else None
                    return _error(429, "rate_limit_exceeded", "Too many concurrent jobs", None, headers)
                video_id = f"v_{uuid.uuid4().hex[:16]}"
                self._seq += 1
                video = FakeVideo(video_id, body.get("title", ""), body, key, self.clock(), seq=self._seq)
                if self.render_time is not None and body.get("audio_asset_id") in self.assets:
                    video.render_s = self.render_time(_audio_seconds(self.assets[body["audio_asset_id"]].data))
                self._apply_rules(video)
                self.videos[video_id] = video
                self.creates += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight())
                if key:
                    self._keys[key] = (video_id, self.clock())
                    self.creates_by_key[key] += 1
        if fault is not None:
            return self._fault_response(request, fault)
        return _ok({"video_id": video_id, "status": "waiting", "output_format": "mp4"})

    def _apply_rules(self, video: FakeVideo) -> None:
        for rule in list(self._render_rules):
            title, what, failure = rule
            if title is None or _titled(video.title, title):
                if what == "fail":
                    video.fail = failure
                else:
                    video.stuck = True
                if title is None:
                    self._render_rules.remove(rule)
                    return

    def in_flight(self) -> int:
        """Renders still running now (the account's concurrency)."""
        with self.lock:
            return sum(1 for v in self.videos.values() if self._state(v) not in ("completed", "failed"))

    def _state(self, video: FakeVideo) -> str:
        if video.stuck:
            return "pending"
        elapsed = self.clock() - video.created_at
        render_s = self.render_seconds if video.render_s is None else video.render_s
        if elapsed >= render_s:
            return "failed" if video.fail else "completed"
        if elapsed < render_s * 0.25:
            return "pending"
        return "waiting" if elapsed < render_s * 0.5 else "processing"

    def _statuses(self, request: Request) -> Response:
        with self.lock:
            self.statuses_requests += 1
        fault = self._fault("statuses")
        if fault is not None:
            return self._fault_response(request, fault)
        ids = [i for i in request.args.get("video_ids", "").split(",") if i]
        if request.args.get("batch_ids"):
            return self._reject(request, 400, "invalid_parameter", "batch_ids are not supported here", "batch_ids")
        if not ids:
            return self._reject(request, 400, "invalid_parameter", "video_ids or batch_ids is required", "video_ids")
        if len(ids) > STATUSES_MAX_IDS:
            return self._reject(request, 400, "invalid_parameter", "At most 100 video_ids", "video_ids")
        token = request.args.get("token")
        start = 0
        if token is not None:
            if not token.startswith("p") or not token[1:].isdigit() or int(token[1:]) > len(ids):
                return self._reject(request, 400, "invalid_parameter", "Bad token", "token")
            start = int(token[1:])
        page = ids[start : start + self.statuses_page_size]
        items: list[dict[str, Any]] = []
        with self.lock:
            for video_id in page:
                video = self.videos.get(video_id)
                if video is None:
                    items.append({"video_id": video_id, "status": "not_found"})
                    continue
                state = self._state(video)
                item: dict[str, Any] = {"video_id": video_id, "status": BULK_STATES.get(state, state)}
                if state == "failed" and video.fail:
                    item["error"] = {"code": video.fail[0], "message": video.fail[1]}
                items.append(item)
        end = start + len(page)
        more = end < len(ids)
        body = {"data": items, "has_more": more, "next_token": f"p{end}" if more else None}
        return Response(json.dumps(body), status=200, content_type="application/json")

    def _status(self, request: Request, video_id: str) -> Response:
        with self.lock:
            self.status_requests += 1
        fault = self._fault("status")
        if fault is not None:
            return self._fault_response(request, fault)
        with self.lock:
            video = self.videos.get(video_id)
            if video is None:
                return self._reject(request, 404, "not_found", f"Video {video_id} not found", "video_id")
            data = self._resource(video)
        return _ok(data)

    def _resource(self, video: FakeVideo) -> dict[str, Any]:
        """A video as ``GET /v3/videos/{id}`` shows it (called with the lock held)."""
        video_id = video.video_id
        state = self._state(video)
        data: dict[str, Any] = {
            "id": video_id, "status": state, "title": video.title, "created_at": 1764270000 + video.seq
        }
        if state == "completed":
            expires = "1764300000" if self.url_ttl_s is None else f"{self.clock() + self.url_ttl_s:.3f}"
            data.update(
                video_url=f"{self.base_url}/files/{video_id}.mp4?Expires={expires}&Signature=s{video.url_token}",
                thumbnail_url=f"{self.base_url}/files/{video_id}.jpg",
                duration=round(self._duration(video), 3),
                completed_at=1764270415,
            )
        elif state == "failed" and video.fail:
            data.update(failure_code=video.fail[0], failure_message=video.fail[1])
        return data

    def _list(self, request: Request) -> Response:
        """``GET /v3/videos``: newest first, ``limit``, ``token`` (an opaque cursor), ``title`` substring."""
        with self.lock:
            self.list_requests += 1
        fault = self._fault("list")
        if fault is not None:
            return self._fault_response(request, fault)
        known = {"limit", "token", "title", "folder_id"}
        unknown = [k for k in request.args if k not in known]
        if unknown:
            return self._reject(request, 400, "invalid_parameter", f"Unknown parameter {unknown[0]}", unknown[0])
        raw_limit = request.args.get("limit", "10")
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 100:
            return self._reject(request, 400, "invalid_parameter", "limit must be 1-100", "limit")
        limit = int(raw_limit)
        token = request.args.get("token")
        start = 0
        if token is not None:
            match = re.fullmatch(r"tok_(\d+)", token)
            if match is None:
                return self._reject(request, 400, "invalid_parameter", "Invalid token", "token")
            start = int(match.group(1))
        title = request.args.get("title")
        with self.lock:
            videos = sorted(self.videos.values(), key=lambda v: -v.seq)
            if title:
                videos = [v for v in videos if title.lower() in v.title.lower()]
            page = [self._resource(v) for v in videos[start : start + limit]]
            more = start + limit < len(videos)
        return Response(
            json.dumps({"data": page, "has_more": more, "next_token": f"tok_{start + limit}" if more else None}),
            status=200,
            content_type="application/json",
        )

    def _mp4(self, video: FakeVideo) -> bytes:
        if video.mp4 is None:
            audio_id = video.body.get("audio_asset_id")
            if self.video_bytes is not None:
                video.mp4 = self.video_bytes
            elif self.echo_audio and audio_id in self.assets:
                video.mp4 = make_test_mp4(audio_source=self.assets[audio_id].data)
            else:
                video.mp4 = make_test_mp4()
        return video.mp4

    def _duration(self, video: FakeVideo) -> float:
        import av

        try:
            with av.open(io.BytesIO(self._mp4(video))) as container:
                return float(container.duration or 0) / 1_000_000
        except av.FFmpegError:
            return 0.0  # junk bytes given on purpose

    def _expired(self, request: Request) -> bool:
        if self.url_ttl_s is None:
            return False
        try:
            return float(request.args.get("Expires", "")) < self.clock()
        except ValueError:
            return True

    def _account(self, request: Request) -> Response:
        fault = self._fault("account")
        if fault is not None:
            return self._fault_response(request, fault)
        return _ok(
            {
                "username": "fake",
                "billing_type": "wallet",
                "wallet": {"remaining_balance": self.balance, "currency": "USD"},
            }
        )

    def _download(self, request: Request) -> Response:
        with self.lock:
            self.download_requests += 1
            if request.headers.get("X-Api-Key") is not None:
                self.downloads_with_key += 1
        match = re.fullmatch(r"/files/([A-Za-z0-9_]+)\.mp4", request.path)
        with self.lock:
            video = self.videos.get(match.group(1)) if match else None
            if video is None or self._state(video) != "completed":
                return _error(404, "not_found", "No such file")
            if request.args.get("Signature") != f"s{video.url_token}" or self._expired(request):
                return Response(b"<Error>AccessDenied: Request has expired</Error>", status=403)
            fault = self._fault("download")
            if fault is not None and fault.kind == 403:
                video.url_token += 1
                return Response(b"<Error>AccessDenied: Request has expired</Error>", status=403)
            data = self._mp4(video)
        if fault is not None and fault.kind == "redirect":
            return Response(b"", status=302, headers={"Location": f"{request.url}&cdn=1"})
        if fault is not None and fault.kind == "truncate":
            sock = request.environ.get("werkzeug.socket")

            def cut() -> Iterator[bytes]:
                yield data[: len(data) // 2]
                if sock is not None:
                    sock.shutdown(socket.SHUT_RDWR)

            return Response(
                cut(),
                status=200,
                headers={"Content-Length": str(len(data))},
                content_type="video/mp4",
                direct_passthrough=True,
            )
        if fault is not None:
            return self._fault_response(request, fault)

        def whole() -> Iterator[bytes]:
            for start in range(0, len(data), 65536):
                yield data[start : start + 65536]
            with self.lock:
                self.downloads_completed += 1

        return Response(
            whole(),
            status=200,
            headers={"Content-Length": str(len(data))},
            content_type="video/mp4",
            direct_passthrough=True,
        )


@pytest.fixture
def fake_heygen(httpserver: Any) -> FakeHeyGen:
    """A ``FakeHeyGen`` on the ``httpserver`` fixture, real clock, instant renders.

    Import it into a test module (``from tests.support.heygen_fake import fake_heygen``) to use it as a
    fixture without any conftest.py.
    """
    return FakeHeyGen(httpserver)
