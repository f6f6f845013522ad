"""HeyGen v3: HTTP client, wire models, errors, retry policy, asset cache and the ``heygen`` backend.

``client.py`` is the only module that knows v3 paths; ``backend.py`` adapts it to
``otio_heygen.run.contract.Backend``. Import submodules directly; this package re-exports the
names most callers need.
"""

from __future__ import annotations

from otio_heygen.backends.heygen.backend import (
    DEFAULT_PRICE_PER_SECOND,
    HeyGenBackend,
    make_heygen_backend,
)
from otio_heygen.backends.heygen.client import HeyGenClient
from otio_heygen.backends.heygen.http import DEFAULT_BASE_URL, build_http_client
from otio_heygen.backends.heygen.probe import VideoProbe, probe_video

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_PRICE_PER_SECOND",
    "HeyGenBackend",
    "HeyGenClient",
    "VideoProbe",
    "build_http_client",
    "make_heygen_backend",
    "probe_video",
]
