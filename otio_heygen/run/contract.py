"""Render backends: the interface the runner drives, and the offline ``preview`` backend.

A backend renders in four steps so the runner can journal between them:
``upload`` (returns an asset id), ``create`` (returns a video id; given an
Idempotency-Key), ``status`` (poll) and ``download`` (to a destination path).
``heygen`` talks to HeyGen v3 (``otio_heygen.backends.heygen.backend``); ``preview`` draws the
photo and the section name into a real H.264+AAC MP4 carrying the section audio, with no
key and no network, so the whole round trip can be tried before spending money.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Protocol

from otio_heygen.planning.types import RemoteStatus, RenderRequest

__all__ = ["AssetKind", "Backend", "PreviewBackend"]

AssetKind = Literal["image", "audio"]


class Backend(Protocol):
    """What the runner needs from a render service."""

    name: str
    price_per_second: float
    """Price of a second of output (0 for preview)."""

    def upload(self, path: Path, kind: AssetKind) -> str:
        """Upload a file, return its asset id."""
        ...

    def create(self, request: RenderRequest, image_asset: str, audio_asset: str, idempotency_key: str) -> str:
        """Start a render, return its video id. Retries must reuse ``idempotency_key``."""
        ...

    def status(self, video_id: str) -> RemoteStatus:
        """Where the render is now."""
        ...

    def download(self, video_id: str, request: RenderRequest, dest: Path) -> None:
        """Write the finished video to ``dest`` (atomically: temp file then rename)."""
        ...


class PreviewBackend:
    """Offline backend: renders a preview MP4 locally (see ``otio_heygen.backends.preview``)."""

    name = "preview"
    price_per_second = 0.0
    paid = False
    """Nothing it renders is billed (a paid backend priced at 0 is an unknown price, not a free one)."""
    draws_title = True
    """Its clips show the section's title: one is only reused for a section of the same title."""

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
        from otio_heygen.backends.preview import render_preview

        render_preview(request, dest, width=self.width, height=self.height)
