"""The only reader of environment variables and config files.

Environment:
    HEYGEN_API_KEY              the HeyGen API key (secret: never printed, logged or stored)
    HEYGEN_API_URL              API base URL (default https://api.heygen.com)
    OTIO_HEYGEN_PRICE_PER_SECOND  price of one second of output in USD (default 0.10)
    OTIO_HEYGEN_CONCURRENCY     render jobs at once (default 10)
    OTIO_HEYGEN_POLL_INTERVAL   seconds between status polls (default: a schedule)
    OTIO_HEYGEN_ASSET_CACHE     file remembering uploaded asset ids (default: per-user cache dir)
    OTIO_HEYGEN_CONFIG          config file to use instead of ./otio-heygen.toml

Config file (``otio-heygen.toml``; looked up via ``--config``, ``OTIO_HEYGEN_CONFIG``, beside the
timeline, then in the current folder)::

    api_url = "https://api.heygen.com"
    price_per_second = 0.10
    concurrency = 10

    [defaults]
    image = "artist.png"
    motion = "holds the microphone, sways to the beat"
    expressiveness = "medium"

    [[looks]]
    match = "Chorus*"
    image = "looks/red_jacket.png"
    motion = "sings with arms wide"
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from otio_heygen.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = [
    "CONFIG_FILENAME",
    "DEFAULT_API_URL",
    "DEFAULT_PRICE_PER_SECOND",
    "FileConfig",
    "Look",
    "LookSettings",
    "Settings",
    "find_config",
    "load_settings",
    "read_config_file",
]

CONFIG_FILENAME = "otio-heygen.toml"
DEFAULT_API_URL = "https://api.heygen.com"
DEFAULT_PRICE_PER_SECOND = 0.10
"""HeyGen's pages disagree ($0.05-$0.10 per second); the higher figure keeps budgets safe."""
DEFAULT_CONCURRENCY = 10


class LookSettings(BaseModel):
    """Render settings a config file can set (all optional)."""

    model_config = ConfigDict(extra="forbid")

    image: str | None = None
    motion: str | None = None
    expressiveness: str | None = None
    resolution: str | None = None
    aspect: str | None = None
    fit: str | None = None
    takes: int | None = Field(default=None, ge=1, le=10)


class Look(LookSettings):
    """Settings applied to sections whose name matches ``match`` (a case-insensitive glob)."""

    match: str


class FileConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    api_url: str | None = None
    price_per_second: float | None = Field(default=None, ge=0)
    concurrency: int | None = Field(default=None, ge=1, le=100)
    poll_interval: float | None = Field(default=None, gt=0)
    defaults: LookSettings = LookSettings()
    looks: list[Look] = []


@dataclass(frozen=True)
class Settings:
    """Resolved configuration for one run."""

    api_key: SecretStr | None
    api_url: str
    price_per_second: float
    concurrency: int
    poll_interval: float | None
    asset_cache: Path | None
    file: FileConfig
    config_path: Path | None
    """The config file that was read (relative paths in it resolve against its folder)."""

    @property
    def config_dir(self) -> Path | None:
        return self.config_path.parent if self.config_path else None

    def __repr__(self) -> str:  # never show the key
        return f"Settings(api_url={self.api_url!r}, key={'set' if self.api_key else 'unset'})"


def _number(env: Mapping[str, str], name: str, kind: type[float] | type[int]) -> float | int | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    what = "a whole number" if kind is int else "a number"
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not {what}", hint=f"set {name} to {what} or unset it") from None
    if not math.isfinite(value):  # float("nan") / float("inf") parse but would defeat --budget
        raise ConfigError(f"{name}={raw!r} is not {what}", hint=f"set {name} to {what} or unset it")
    if value <= 0 and name != "OTIO_HEYGEN_PRICE_PER_SECOND":
        raise ConfigError(f"{name} must be greater than 0 (got {raw})")
    if value < 0:
        raise ConfigError(f"{name} must not be negative (got {raw})")
    return value


def find_config(explicit: Path | None, timeline_path: Path | None, env: Mapping[str, str]) -> Path | None:
    """Which config file applies, or None."""
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError(f"config file not found: {explicit}")
        return explicit
    from_env = env.get("OTIO_HEYGEN_CONFIG", "").strip()
    if from_env:
        path = Path(from_env).expanduser()
        if not path.is_file():
            raise ConfigError(f"OTIO_HEYGEN_CONFIG points to a missing file: {path}")
        return path
    candidates = []
    if timeline_path is not None:
        candidates.append(timeline_path.resolve().parent / CONFIG_FILENAME)
    candidates.append(Path.cwd() / CONFIG_FILENAME)
    return next((c for c in candidates if c.is_file()), None)


def read_config_file(path: Path) -> FileConfig:
    try:
        data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
    try:
        return FileConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"config file {path}: {where}: {first['msg']}") from None


def load_settings(
    *,
    config_path: Path | None = None,
    timeline_path: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> Settings:
    """Read env vars and the applicable config file into ``Settings``."""
    env = os.environ if env is None else env
    path = find_config(config_path, timeline_path, env)
    file = read_config_file(path) if path else FileConfig()
    key = env.get("HEYGEN_API_KEY", "").strip()
    env_url = env.get("HEYGEN_API_URL", "").strip()
    api_url = env_url or file.api_url or DEFAULT_API_URL
    if not api_url.startswith(("http://", "https://")) or not urlsplit(api_url).hostname:
        source = "HEYGEN_API_URL" if env_url else f"api_url in {path}"
        raise ConfigError(f"{source} must be an http:// or https:// address (got {api_url!r})")
    price = _number(env, "OTIO_HEYGEN_PRICE_PER_SECOND", float)
    concurrency = _number(env, "OTIO_HEYGEN_CONCURRENCY", int)
    poll = _number(env, "OTIO_HEYGEN_POLL_INTERVAL", float)
    cache = env.get("OTIO_HEYGEN_ASSET_CACHE", "").strip()
    return Settings(
        api_key=SecretStr(key) if key else None,
        api_url=api_url.rstrip("/"),
        price_per_second=float(
            next(p for p in (price, file.price_per_second, DEFAULT_PRICE_PER_SECOND) if p is not None)
        ),
        concurrency=int(concurrency or file.concurrency or DEFAULT_CONCURRENCY),
        poll_interval=float(poll) if poll is not None else file.poll_interval,
        asset_cache=Path(cache).expanduser() if cache else None,
        file=file,
        config_path=path,
    )
