"""Shared test isolation: no test sees the developer's key (env or key file), API URL, config, asset cache
or account ledger (each test gets its own ledger file)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import platformdirs
import pytest

_ENV = (
    "HEYGEN_API_KEY",
    "HEYGEN_API_URL",
    "OTIO_HEYGEN_PRICE_PER_SECOND",
    "OTIO_HEYGEN_CONCURRENCY",
    "OTIO_HEYGEN_POLL_INTERVAL",
    "OTIO_HEYGEN_CONFIG",
    "OTIO_HEYGEN_DEBUG",
    "OTIO_HEYGEN_LEDGER",
)


@pytest.fixture(scope="module", autouse=True)
def _module_ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Module-scoped fixtures (renders shared by a module's tests) run before any function-scoped
    fixture: give them a ledger of their own too, never the user's."""
    with pytest.MonkeyPatch.context() as mp:
        home = tmp_path_factory.mktemp("module-ledger-home")
        mp.setenv("OTIO_HEYGEN_LEDGER", str(home / "ledger.sqlite"))
        mp.setattr(platformdirs, "user_data_dir", lambda appname=None, *_, **__: str(home / "data"))
        yield


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)
    cache = tmp_path_factory.mktemp("asset-cache") / "assets.sqlite"
    monkeypatch.setenv("OTIO_HEYGEN_ASSET_CACHE", str(cache))
    # never read the developer's stored key: a key file path that does not exist, and (for code given an
    # explicit env without OTIO_HEYGEN_KEY_FILE) a per-user config dir in a temp folder, on every platform
    config_home = tmp_path_factory.mktemp("config-home")
    monkeypatch.setenv("OTIO_HEYGEN_KEY_FILE", str(config_home / "no-key" / "heygen_api_key"))
    monkeypatch.setattr(platformdirs, "user_config_path", lambda appname=None, *_, **__: config_home / (appname or ""))
    # the account ledger: a fresh file per test (env, so e2e subprocesses inherit it), and a user data
    # dir in a temp folder for code given an explicit env: no test touches the real ledger or shares one
    ledger_home = tmp_path_factory.mktemp("ledger-home")
    monkeypatch.setenv("OTIO_HEYGEN_LEDGER", str(ledger_home / "ledger.sqlite"))
    monkeypatch.setattr(platformdirs, "user_data_dir", lambda appname=None, *_, **__: str(ledger_home / "data"))
    yield


SAMPLES = Path(__file__).resolve().parent.parent / "sample_timelines"
