"""HeyGen v3 client: the only module that knows v3 paths, headers and envelopes.

It is *given* an ``httpx.Client`` (built by ``otio_heygen.backends.heygen.http``) plus injected
``sleep``/``clock``/``wall_clock``/``rng``, so tests never wait for real. Retries follow
``otio_heygen.backends.heygen.retry``; errors are translated once, here, into
``otio_heygen.backends.heygen.errors``. Downloads never send the API key to the file host: one
attempt is ``download.stream_to_file``, the finished file is checked by ``probe.probe_video``.
"""

from __future__ import annotations

import hashlib
import logging
import random
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

from otio_heygen.backends.heygen.download import DownloadRetryable, URLExpired, stream_to_file
from otio_heygen.backends.heygen.errors import (
    APIConnectionError,
    PermissionDeniedError,
    UnreachableError,
    error_from_response,
    redact_tree,
)
from otio_heygen.backends.heygen.http import API_KEY_HEADER, CREATE_TIMEOUT
from otio_heygen.backends.heygen.models import (
    IDEMPOTENCY_KEY_RE,
    AccountInfo,
    AssetData,
    CreateVideoData,
    CreateVideoRequest,
    VideoData,
    VideoPage,
    VideoStatusItem,
    VideoStatusPage,
)
from otio_heygen.backends.heygen.probe import VideoProbe, probe_video
from otio_heygen.backends.heygen.retry import (
    RETRY_BUDGET_S,
    parse_retry_after,
    retry_budget_for,
    retry_delay,
    should_retry,
)
from otio_heygen.errors import ApiError, MediaError, PhotoError
from otio_heygen.fsutil import commit_temp, create_temp_beside, discard_temp
from otio_heygen.media.files import AUDIO_MIMES, IMAGE_MIMES, MAX_UPLOAD_BYTES, sniff_mime
from otio_heygen.run.contract import BackendError, TransportError

__all__ = [
    "ASSETS_PATH",
    "STATUSES_MAX_IDS",
    "STATUSES_PATH",
    "USER_PATH",
    "VIDEOS_PATH",
    "HeyGenClient",
    "check_idempotency_key",
]

ASSETS_PATH = "/v3/assets"
VIDEOS_PATH = "/v3/videos"
STATUSES_PATH = "/v3/videos/statuses"
USER_PATH = "/v3/users/me"
STATUSES_MAX_IDS = 100
"""Ids HeyGen accepts in one ``GET /v3/videos/statuses``."""
STATUSES_MAX_PAGES = 100
"""Pages followed for one batch of ids (a server that always says ``has_more`` cannot loop us)."""
_NEVER_CONNECTED = (httpx.ConnectError, httpx.ConnectTimeout, httpx.UnsupportedProtocol, httpx.ProxyError)
"""Transport failures that mean "no connection was ever made" (refused, DNS, TLS, bad URL)."""
log = logging.getLogger(__name__)

MAX_URL_REFRESHES = 3
"""How many 403s in a row on presigned download URLs make us fetch a fresh one before giving up."""

M = TypeVar("M", bound=BaseModel)
AssetKind = Literal["image", "audio"]


def check_idempotency_key(key: str) -> str:
    """Return ``key`` if HeyGen accepts it (1-255 of ``[A-Za-z0-9_:.-]``), else raise ``ValueError``."""
    if not IDEMPOTENCY_KEY_RE.fullmatch(key):
        raise ValueError(f"invalid Idempotency-Key {key[:40]!r}: need 1-255 characters of [A-Za-z0-9_:.-]")
    return key


class HeyGenClient:
    """Typed calls to HeyGen v3 with retries. Holds no key itself: only the httpx client does."""

    def __init__(
        self,
        http: httpx.Client,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self._http = http
        self._sleep = sleep
        self._clock = clock
        self._wall_clock = wall_clock
        self._rng = rng or random.Random()
        self._reached = False
        """Whether any HTTP answer ever came back (until then a failed connect means unreachable)."""

    def __repr__(self) -> str:
        return f"HeyGenClient(base_url={str(self._http.base_url)!r})"

    @property
    def base_url(self) -> str:
        return str(self._http.base_url).rstrip("/")

    def close(self) -> None:
        self._http.close()

    # -- plumbing ---------------------------------------------------------------------------

    def _secrets(self) -> tuple[str, ...]:
        key = self._http.headers.get(API_KEY_HEADER)
        return (key,) if key else ()

    def _request(
        self,
        method: str,
        path: str,
        model: type[M],
        *,
        what: str,
        is_create: bool = False,
        idempotency_key: str | None = None,
        json: dict[str, Any] | None = None,
        files: dict[str, tuple[str, bytes, str]] | None = None,
        params: dict[str, str] | None = None,
        timeout: httpx.Timeout | None = None,
        envelope: bool = False,
    ) -> M:
        """Send one request, retrying transient failures within the time budget of
        ``retry.retry_budget_for``; ``envelope`` parses the whole body instead of ``data``."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        attempt = 0
        reached = False  # an earlier attempt may have reached HeyGen (its answer was lost)
        started = self._clock()
        waited = 0.0
        while True:
            retry_after: str | None = None
            code: str | None = None
            status: int | None
            try:
                response = self._http.request(
                    method,
                    path,
                    json=json,
                    files=files,
                    params=params,
                    headers=headers,
                    timeout=timeout or self._http.timeout,
                )
            except httpx.TransportError as exc:
                if not isinstance(exc, _NEVER_CONNECTED):
                    self._reached = True  # connected, then the exchange broke: the service is there
                elif not self._reached:
                    raise UnreachableError(self.base_url) from None  # nothing will work: no retries
                status = None
                error: ApiError = APIConnectionError(
                    f"Could not reach HeyGen at {self.base_url} while {what} ({type(exc).__name__})",
                    hint="check the network connection or HEYGEN_API_URL",
                )
            else:
                self._reached = True
                if response.is_success:
                    return self._parse(response, model, what, envelope=envelope)
                status = response.status_code
                retry_after = response.headers.get("Retry-After")
                status_error = error_from_response(
                    status,
                    response.content,
                    what=what,
                    retry_after=parse_retry_after(retry_after, self._wall_clock()),
                    secrets=self._secrets(),
                )
                code, error = status_error.code, status_error
            attempt += 1
            if not should_retry(method, status, code, is_create, idempotency_key is not None):
                if reached and isinstance(error, BackendError):
                    error.reached_before = True  # a refusal now does not undo what an earlier send did
                raise error
            delay = retry_delay(attempt, retry_after, self._wall_clock(), self._rng)
            spent = max(self._clock() - started, waited)
            if spent + delay > retry_budget_for(status, code):
                if reached and isinstance(error, BackendError):
                    error.reached_before = True
                raise error  # the wait would end past the budget: let the caller decide
            reached = reached or status is None or status >= 500 or status in (408, 409)
            log.info("retry %d while %s after %s in %.1f s", attempt, what, status or "connection error", delay)
            self._sleep(delay)
            waited += delay

    def _parse(self, response: httpx.Response, model: type[M], what: str, *, envelope: bool = False) -> M:
        try:
            body = redact_tree(response.json(), self._secrets())
            data = body.get("data", body) if isinstance(body, dict) and not envelope else body
            return model.model_validate(data)
        except (ValueError, ValidationError) as exc:
            raise TransportError(
                f"HeyGen sent an answer otio-heygen does not understand while {what}",
                hint="the API may have changed; update otio-heygen",
            ) from exc

    # -- endpoints --------------------------------------------------------------------------

    def upload_asset(self, path: Path, kind: AssetKind) -> AssetData:
        """``POST /v3/assets``; size and type are checked before anything is sent."""
        err = PhotoError if kind == "image" else MediaError
        label = "photo" if kind == "image" else "audio"
        try:
            size = path.stat().st_size
            if size > MAX_UPLOAD_BYTES:
                raise err(
                    f"The {label} {path} is {size / 1_048_576:.1f} MB; HeyGen accepts at most 32 MB per file",
                    hint="use a smaller file",
                )
            content = path.read_bytes()
        except OSError as exc:
            raise err(f"Cannot read the {label} {path}: {exc.strerror}") from exc
        mime = sniff_mime(content[:16])
        allowed = IMAGE_MIMES if kind == "image" else AUDIO_MIMES
        if mime not in allowed:
            want = "a PNG or JPEG image" if kind == "image" else "WAV or MP3 audio"
            raise err(f"The {label} {path} is not {want}", hint=f"convert it to {want}")
        digest = hashlib.sha256(content).hexdigest()
        return self._request(
            "POST",
            ASSETS_PATH,
            AssetData,
            what=f"uploading {path.name}",
            idempotency_key=f"otioheygen-asset:{digest[:32]}:{uuid.uuid4().hex[:16]}",  # per call
            files={"file": (path.name, content, mime or "application/octet-stream")},
        )

    def create_video(self, request: CreateVideoRequest, *, idempotency_key: str) -> CreateVideoData:
        """``POST /v3/videos``; every retry carries the same ``idempotency_key``."""
        return self._request(
            "POST",
            VIDEOS_PATH,
            CreateVideoData,
            what=f"creating '{request.title}'",
            is_create=True,
            idempotency_key=check_idempotency_key(idempotency_key),
            json=request.to_json(),
            timeout=CREATE_TIMEOUT,
        )

    def get_video(self, video_id: str) -> VideoData:
        """``GET /v3/videos/{id}``."""
        return self._request(
            "GET", f"{VIDEOS_PATH}/{quote(video_id, safe='')}", VideoData, what=f"checking video {video_id}"
        )

    def list_videos(self, *, title: str | None = None, page_size: int = 100, max_pages: int = 20) -> list[VideoData]:
        """``GET /v3/videos`` (newest first), following ``next_token`` for up to ``max_pages`` pages.

        ``title`` filters by substring on HeyGen's side: how a create whose answer was lost is
        found again by the tag its title carries.
        """
        videos: list[VideoData] = []
        params: dict[str, str] = {"limit": str(max(1, min(100, page_size)))}
        if title:
            params["title"] = title
        for _ in range(max_pages):
            page = self._request("GET", VIDEOS_PATH, VideoPage, what="listing videos", params=params, envelope=True)
            videos.extend(page.data)
            if not page.has_more or not page.next_token:
                break
            params = {**params, "token": page.next_token}
        return videos

    def get_statuses(self, video_ids: Sequence[str]) -> list[VideoStatusItem]:
        """``GET /v3/videos/statuses?video_ids=a,b,...``: the state of many renders in one request
        per ``STATUSES_MAX_IDS`` ids (following ``next_token`` pages). No ``video_url`` here:
        ``get_video`` the completed ones. An id HeyGen does not know comes back ``not_found``."""
        items: list[VideoStatusItem] = []
        unique = list(dict.fromkeys(video_ids))
        for first in range(0, len(unique), STATUSES_MAX_IDS):
            params = {"video_ids": ",".join(unique[first : first + STATUSES_MAX_IDS])}
            for _page in range(STATUSES_MAX_PAGES):
                page = self._request(
                    "GET", STATUSES_PATH, VideoStatusPage, what="checking renders", params=params, envelope=True
                )
                items.extend(page.data)
                if not page.has_more or not page.next_token:
                    break
                params = {**params, "token": page.next_token}
        return items

    def get_account(self) -> AccountInfo:
        """``GET /v3/users/me`` (``balance``/``currency`` properties)."""
        return self._request("GET", USER_PATH, AccountInfo, what="reading the account")

    # -- downloading --------------------------------------------------------------------------

    def download_video(self, video_id: str, dest: Path, *, video: VideoData | None = None) -> VideoProbe:
        """Stream the finished video to ``dest`` via a temp file in the same folder, then rename.

        Truncated bodies and 5xx are retried; a 403 (expired presigned URL) fetches the status
        again for a fresh URL. The file is probed with PyAV before it is renamed into place.
        """
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = create_temp_beside(dest, ".part")
        try:
            self._download_to(video_id, tmp, video)
            probe = probe_video(tmp)
            commit_temp(tmp, dest)
            return probe
        finally:
            discard_temp(tmp)  # nothing left once committed

    def _download_to(self, video_id: str, tmp: Path, video: VideoData | None) -> None:
        """Retry broken downloads within ``RETRY_BUDGET_S``; a refused (expired) URL is
        replaced by a fresh one, up to ``MAX_URL_REFRESHES`` refusals in a row."""
        refused = 0
        failures = 0
        started, waited = self._clock(), 0.0
        current = video or self.get_video(video_id)
        while True:
            if current.status != "completed" or not current.video_url:
                raise BackendError(
                    f"Video {video_id} is not ready to download (status: {current.status})",
                    hint="run the same command again to wait for it",
                )
            try:
                stream_to_file(self._http, current.video_url, tmp, self._secrets())
                return
            except URLExpired:
                refused += 1
                if refused > MAX_URL_REFRESHES:
                    raise PermissionDeniedError(
                        f"HeyGen's download link for video {video_id} keeps being refused", status_code=403
                    ) from None
                current = self.get_video(video_id)
            except DownloadRetryable as exc:
                refused = 0
                failures += 1
                delay = retry_delay(failures, None, self._wall_clock(), self._rng)
                if max(self._clock() - started, waited) + delay > RETRY_BUDGET_S:
                    raise APIConnectionError(
                        f"Downloading video {video_id} from HeyGen failed {failures} times ({exc})",
                        hint="run the same command again; finished renders are kept",
                    ) from None
                self._sleep(delay)
                waited += delay
