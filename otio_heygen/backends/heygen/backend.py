"""The ``heygen`` render backend: the ``Backend`` protocol on top of ``HeyGenClient``.

Uploads are deduplicated by file hash (in-process locks plus the cross-run ``AssetCache``),
creates carry the caller's Idempotency-Key, statuses become ``RemoteStatus``, downloads are
atomic and probed.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from otio_heygen.backends.heygen.assets import AssetCache, account_fingerprint
from otio_heygen.backends.heygen.client import HeyGenClient, check_idempotency_key
from otio_heygen.backends.heygen.errors import APIStatusError, BadRequestError, NotFoundError
from otio_heygen.backends.heygen.http import build_http_client
from otio_heygen.backends.heygen.models import AccountInfo, CreateVideoRequest, ImageAssetRef, VideoData
from otio_heygen.backends.heygen.probe import VideoProbe
from otio_heygen.errors import MediaError, PhotoError
from otio_heygen.media.files import file_sha256
from otio_heygen.planning.types import RemoteStatus, RenderRequest
from otio_heygen.run.contract import AssetKind, BulkStatusRefused, FoundVideo
from otio_heygen.run.ledger import account_for_key

__all__ = [
    "BULK_REFUSED_STATUSES",
    "DEFAULT_PRICE_PER_SECOND",
    "HeyGenBackend",
    "make_heygen_backend",
    "to_remote_status",
]

log = logging.getLogger(__name__)

BULK_REFUSED_STATUSES = frozenset({400, 404, 405, 501})
"""Answers to ``GET /v3/videos/statuses`` meaning "this server has no bulk endpoint": poll one by one."""

DEFAULT_PRICE_PER_SECOND = 0.10
"""USD per second of output; HeyGen's pages disagree (0.05-0.10), so this is an estimate."""


def to_remote_status(video: VideoData) -> RemoteStatus:
    """Documented ``completed``/``failed`` map through; anything else is still rendering."""
    if video.status == "completed" and video.video_url:
        return RemoteStatus(
            state="completed", raw_status=video.status, video_url=video.video_url, duration=video.duration
        )
    if video.status == "failed":
        return RemoteStatus(
            state="failed",
            raw_status=video.status,
            failure_code=video.failure_code,
            failure_message=video.failure_message,
        )
    return RemoteStatus(state="rendering", raw_status=video.status)


def _title(request: RenderRequest) -> str:
    """The render's title on HeyGen: the section's, plus its tag (kept whole within 255 characters)."""
    suffix = f" [{request.tag}]" if request.tag else ""
    return (request.title[: 255 - len(suffix)] + suffix).strip() or "otio-heygen"


def _mentions_asset(error: BadRequestError | NotFoundError) -> bool:
    text = f"{error.param or ''} {error.server_message or ''}".lower()
    return "asset" in text


class HeyGenBackend:
    """Renders through HeyGen v3 (see ``otio_heygen.run.contract.Backend``)."""

    name = "heygen"
    display_name = "HeyGen"

    def __init__(
        self,
        client: HeyGenClient,
        *,
        account: str,
        price_per_second: float = DEFAULT_PRICE_PER_SECOND,
        asset_cache: AssetCache | None = None,
        ledger_account: str | None = None,
    ) -> None:
        self.client = client
        self.ledger_account = ledger_account or f"heygen:{account}"
        """The account ledger namespace (``run.ledger.account_for_key``): never the key."""
        self.price_per_second = price_per_second
        self._account = account
        self._cache = asset_cache
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._memory: dict[str, str] = {}
        self.probes: dict[str, VideoProbe] = {}
        """Probe of every downloaded video, by video id."""

    def __repr__(self) -> str:
        return f"HeyGenBackend(base_url={self.client.base_url!r}, account={self._account!r})"

    def close(self) -> None:
        self.client.close()

    def _lock_for(self, digest: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(digest, threading.Lock())

    # -- Backend protocol -------------------------------------------------------------------

    def upload(self, path: Path, kind: AssetKind) -> str:
        try:
            digest = file_sha256(path)
        except OSError as exc:
            err = PhotoError if kind == "image" else MediaError
            raise err(f"Cannot read {path}: {exc.strerror}") from exc
        with self._lock_for(digest):
            known = self._memory.get(digest)
            if known is None and self._cache is not None:
                known = self._cache.get(self.client.base_url, self._account, digest)
            if known is not None:
                self._memory[digest] = known
                return known
            asset = self.client.upload_asset(path, kind)
            self._memory[digest] = asset.asset_id
            if self._cache is not None:
                self._cache.put(self.client.base_url, self._account, digest, kind, asset.asset_id)
            return asset.asset_id

    def create(self, request: RenderRequest, image_asset: str, audio_asset: str, idempotency_key: str) -> str:
        check_idempotency_key(idempotency_key)
        try:
            return self._create(request, image_asset, audio_asset, idempotency_key)
        except (BadRequestError, NotFoundError) as exc:
            if not _mentions_asset(exc):
                raise
            # An asset id remembered from an earlier run is gone: forget it, upload again, and
            # create with a derived key (the refused create started nothing).
            log.info("asset unknown to HeyGen, uploading again for %s", request.title)
            self._forget(image_asset)
            self._forget(audio_asset)
            image_asset = self.upload(request.image_path, "image")
            audio_asset = self.upload(request.audio_path, "audio")
            retry_key = check_idempotency_key(f"{idempotency_key[:250]}:re")
            return self._create(request, image_asset, audio_asset, retry_key)

    def _create(self, request: RenderRequest, image_asset: str, audio_asset: str, key: str) -> str:
        body = CreateVideoRequest(
            image=ImageAssetRef(asset_id=image_asset),
            audio_asset_id=audio_asset,
            title=_title(request),
            resolution=request.resolution,
            aspect_ratio=request.aspect_ratio,
            fit=request.fit,
            motion_prompt=request.motion_prompt or None,
            expressiveness=request.expressiveness,
        )
        return self.client.create_video(body, idempotency_key=key).video_id

    def _forget(self, asset_id: str) -> None:
        for digest, known in list(self._memory.items()):
            if known == asset_id:
                del self._memory[digest]
        if self._cache is not None:
            self._cache.forget(self.client.base_url, self._account, asset_id)

    def status(self, video_id: str) -> RemoteStatus:
        return to_remote_status(self.client.get_video(video_id))

    def find_by_tag(self, tag: str) -> list[FoundVideo]:
        """The account's videos whose title carries ``[tag]``, newest first (``GET /v3/videos?title=``)."""
        marker = f"[{tag}]"
        return [
            FoundVideo(video.video_id, video.title or "", to_remote_status(video))
            for video in self.client.list_videos(title=marker)
            if marker in (video.title or "")
        ]
    def statuses(self, video_ids: Sequence[str]) -> dict[str, RemoteStatus]:
        """Many renders in one ``GET /v3/videos/statuses`` (see ``run.contract.BulkStatus``).

        Completed ones come back without their URL (the download fetches the full video); a
        failed one is fetched in full for its failure reason; ``not_found`` ids are left out so
        the caller confirms them one by one (a render HeyGen only just accepted may not be
        listed yet). An endpoint refused outright raises ``BulkStatusRefused``.
        """
        try:
            items = self.client.get_statuses(video_ids)
        except APIStatusError as exc:
            if exc.status_code in BULK_REFUSED_STATUSES:
                raise BulkStatusRefused(exc.one_line()) from exc
            raise
        wanted = set(video_ids)
        out: dict[str, RemoteStatus] = {}
        for item in items:
            if item.video_id not in wanted or item.status == "not_found":
                continue
            if item.status == "failed":
                out[item.video_id] = self.status(item.video_id)
            elif item.status == "completed":
                out[item.video_id] = RemoteStatus(state="completed", raw_status=item.status)
            else:
                out[item.video_id] = RemoteStatus(state="rendering", raw_status=item.status)
        return out

    def download(self, video_id: str, request: RenderRequest, dest: Path) -> None:
        probe = self.client.download_video(video_id, dest)
        self.probes[video_id] = probe
        if abs(probe.duration_s - request.seconds) > max(0.5, 0.1 * request.seconds):
            log.warning(
                "clip for %s lasts %.2f s but its section is %.2f s", request.title, probe.duration_s, request.seconds
            )

    # -- extras used by the CLI and the runner -----------------------------------------------

    def account(self) -> AccountInfo:
        return self.client.get_account()


def make_heygen_backend(
    api_key: str,
    base_url: str,
    *,
    concurrency: int,
    price_per_second: float = DEFAULT_PRICE_PER_SECOND,
    asset_cache_path: Path | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    wall_clock: Callable[[], float] = time.time,
    rng: random.Random | None = None,
    use_asset_cache: bool = True,
) -> HeyGenBackend:
    """Build the backend: one httpx client (the only holder of the key), cache, injected time."""
    http = build_http_client(api_key, base_url, concurrency=concurrency)
    client = HeyGenClient(http, sleep=sleep, clock=clock, wall_clock=wall_clock, rng=rng)
    cache = AssetCache(asset_cache_path) if use_asset_cache else None
    return HeyGenBackend(
        client, account=account_fingerprint(api_key), price_per_second=price_per_second, asset_cache=cache,
        ledger_account=account_for_key("heygen", api_key),
    )
