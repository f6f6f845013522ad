"""Shared test isolation: no test sees the developer's key, API URL, config or asset cache."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

_ENV = (
    "HEYGEN_API_KEY",
    "HEYGEN_API_URL",
    "OTIO_HEYGEN_PRICE_PER_SECOND",
    "OTIO_HEYGEN_CONCURRENCY",
    "OTIO_HEYGEN_POLL_INTERVAL",
    "OTIO_HEYGEN_CONFIG",
    "OTIO_HEYGEN_DEBUG",
)


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)
    cache = tmp_path_factory.mktemp("asset-cache") / "assets.sqlite"
    monkeypatch.setenv("OTIO_HEYGEN_ASSET_CACHE", str(cache))
    yield


SAMPLES = Path(__file__).resolve().parent.parent / "sample_timelines"
