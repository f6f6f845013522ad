"""The one place an ``httpx.Client`` for HeyGen is built: base URL, key header, timeouts, limits."""

from __future__ import annotations

import httpx

__all__ = [
    "API_KEY_HEADER",
    "CREATE_TIMEOUT",
    "DEFAULT_BASE_URL",
    "DEFAULT_TIMEOUT",
    "DOWNLOAD_TIMEOUT",
    "build_http_client",
]

DEFAULT_BASE_URL = "https://api.heygen.com"
API_KEY_HEADER = "X-Api-Key"

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
CREATE_TIMEOUT = httpx.Timeout(120.0, connect=10.0)
"""``POST /v3/videos`` is slow (p99 about 30 s)."""
DOWNLOAD_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
"""Per read: a stalled download fails after this long without bytes."""


def build_http_client(
    api_key: str,
    base_url: str = DEFAULT_BASE_URL,
    *,
    concurrency: int = 10,
    transport: httpx.BaseTransport | None = None,
) -> httpx.Client:
    """A client for ``base_url`` that sends the key on every request it builds.

    Connection limits leave room for each render job to poll and download while others upload.
    ``transport`` is for tests (``httpx.MockTransport``).
    """
    workers = max(1, concurrency)
    limits = httpx.Limits(max_connections=2 * workers + 4, max_keepalive_connections=workers + 2)
    return httpx.Client(
        base_url=base_url.rstrip("/"),
        headers={API_KEY_HEADER: api_key, "Accept": "application/json", "User-Agent": "otio-heygen/0.1"},
        timeout=DEFAULT_TIMEOUT,
        limits=limits,
        transport=transport,
        follow_redirects=False,
    )
