"""Pydantic v2 models of the HeyGen v3 wire format.

Request models are strict (``extra="forbid"``): a typo in a field name fails here, not as a
400 from a paid service. Response models are tolerant (``extra="allow"``, every field
optional unless we cannot work without it) and accept ``id`` where ``video_id`` is missing.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "IDEMPOTENCY_KEY_RE",
    "AccountInfo",
    "AssetData",
    "CreateVideoData",
    "CreateVideoRequest",
    "ErrorBody",
    "ImageAssetRef",
    "VideoData",
    "VideoPage",
    "VideoStatusItem",
    "VideoStatusPage",
    "Wallet",
]

IDEMPOTENCY_KEY_RE = re.compile(r"[A-Za-z0-9_:.\-]{1,255}")


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Response(BaseModel):
    model_config = ConfigDict(extra="allow")


class ImageAssetRef(_Request):
    type: Literal["asset_id"] = "asset_id"
    asset_id: str = Field(min_length=1)


class CreateVideoRequest(_Request):
    """Body of ``POST /v3/videos`` for Avatar IV from a photo with an audio track."""

    type: Literal["image"] = "image"
    image: ImageAssetRef
    audio_asset_id: str = Field(min_length=1)
    title: str = Field(min_length=1, max_length=255)
    resolution: Literal["4k", "1080p", "720p"]
    aspect_ratio: Literal["16:9", "9:16", "4:5", "5:4", "1:1", "auto"]
    fit: Literal["cover", "contain"]
    motion_prompt: str | None = None
    expressiveness: Literal["high", "medium", "low"]

    def to_json(self) -> dict[str, Any]:
        """The JSON body: optional fields left out when unset."""
        return self.model_dump(mode="json", exclude_none=True)


class ErrorBody(_Response):
    code: str | None = None
    message: str | None = None
    param: str | None = None
    doc_url: str | None = None


class AssetData(_Response):
    asset_id: str
    url: str | None = None
    mime_type: str | None = None
    size_bytes: int | None = None


class _HasVideoId(_Response):
    video_id: str

    @model_validator(mode="before")
    @classmethod
    def _id_alias(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("video_id") and data.get("id"):
            data = {**data, "video_id": data["id"]}
        return data


class CreateVideoData(_HasVideoId):
    status: str | None = None
    output_format: str | None = None


class VideoData(_HasVideoId):
    """``GET /v3/videos/{id}``: ``status`` may be any string (unknown means still running)."""

    status: str = "pending"
    title: str | None = None
    video_url: str | None = None
    thumbnail_url: str | None = None
    duration: float | None = None
    failure_code: str | None = None
    failure_message: str | None = None
    created_at: float | None = None
    completed_at: float | None = None


class VideoPage(_Response):
    """One page of ``GET /v3/videos`` (the whole body: ``data`` is a list here)."""

    data: list[VideoData] = Field(default_factory=list)
    has_more: bool = False
    next_token: str | None = None


class VideoStatusItem(_HasVideoId):
    """One item of ``GET /v3/videos/statuses``: ``queued``, ``processing``, ``completed``,
    ``failed`` or ``not_found`` (any other value means still running)."""

    status: str = "queued"
    error: Any = None
    batch_id: str | None = None
    item_index: int | None = None


class VideoStatusPage(_Response):
    """The whole body of ``GET /v3/videos/statuses`` (``has_more``/``next_token`` sit beside ``data``)."""

    data: list[VideoStatusItem] = Field(default_factory=list)
    has_more: bool = False
    next_token: str | None = None


class Wallet(_Response):
    remaining_balance: float | None = None
    currency: str | None = None


class AccountInfo(_Response):
    """``GET /v3/users/me``."""

    username: str | None = None
    billing_type: str | None = None
    wallet: Wallet | None = None

    @property
    def balance(self) -> float | None:
        return self.wallet.remaining_balance if self.wallet else None

    @property
    def currency(self) -> str:
        return (self.wallet.currency if self.wallet else None) or "USD"
