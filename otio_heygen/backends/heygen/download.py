"""Streaming one presigned download URL to a file, without the API key.

This module owns a single download attempt: ``stream_to_file`` sends a keyless GET (following
CDN redirects), writes the body and checks it arrived whole. It signals ``DownloadRetryable`` for
failures worth another attempt and ``URLExpired`` when the URL is refused (403); the client
decides how often to retry and when to fetch a fresh URL.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx

from otio_heygen.backends.heygen.errors import error_from_response
from otio_heygen.backends.heygen.http import API_KEY_HEADER, DOWNLOAD_TIMEOUT
from otio_heygen.backends.heygen.retry import is_retryable_status

__all__ = ["DownloadRetryable", "URLExpired", "stream_to_file"]


class DownloadRetryable(Exception):
    """A download attempt failed in a way worth retrying."""


class URLExpired(Exception):
    """The presigned URL was refused (403)."""


def stream_to_file(http: httpx.Client, url: str, tmp: Path, secrets: tuple[str, ...]) -> None:
    """Write the body at ``url`` to ``tmp`` (fsynced); ``secrets`` are redacted from error bodies."""
    request = http.build_request(
        "GET", url, headers={"Accept-Encoding": "identity", "Accept": "*/*"}, timeout=DOWNLOAD_TIMEOUT
    )
    if API_KEY_HEADER in request.headers:
        del request.headers[API_KEY_HEADER]  # a presigned URL needs no key; never leak it
    try:
        response = http.send(request, stream=True, follow_redirects=True)  # CDNs redirect
    except httpx.TransportError as exc:
        raise DownloadRetryable(type(exc).__name__) from None
    try:
        if response.status_code == 403:
            raise URLExpired()
        if not response.is_success:
            if is_retryable_status(response.status_code):
                raise DownloadRetryable(f"HTTP {response.status_code}")
            raise error_from_response(
                response.status_code, response.read(), what="downloading a video", secrets=secrets
            )
        expected = response.headers.get("Content-Length")
        written = 0
        with tmp.open("wb") as fh:
            for chunk in _chunks(response):
                fh.write(chunk)
                written += len(chunk)
            fh.flush()
            os.fsync(fh.fileno())
        if expected is not None and expected.isdigit() and written != int(expected):
            raise DownloadRetryable(f"got {written} of {expected} bytes")
        if written == 0:
            raise DownloadRetryable("empty body")
    finally:
        response.close()


def _chunks(response: httpx.Response) -> Iterator[bytes]:
    try:
        yield from response.iter_raw(1 << 16)
    except httpx.TransportError as exc:
        raise DownloadRetryable(type(exc).__name__) from None
