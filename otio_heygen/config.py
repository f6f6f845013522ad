"""The only reader of environment variables and config files.

Environment:
    HEYGEN_API_KEY              the HeyGen API key (secret: never printed or logged); wins over the key file
    OTIO_HEYGEN_KEY_FILE        file holding the key (default: ``heygen_api_key`` in the per-user config
                                dir, written by ``otio-heygen key set``; must be mode 0600 on macOS/Linux)
    HEYGEN_API_URL              API base URL (default https://api.heygen.com)
    OTIO_HEYGEN_PRICE_PER_SECOND  price of one second of output in USD (default 0.10)
    OTIO_HEYGEN_CONCURRENCY     render jobs at once (default 10)
    OTIO_HEYGEN_POLL_INTERVAL   seconds between status polls (default: a schedule)
    OTIO_HEYGEN_ASSET_CACHE     file remembering uploaded asset ids (default: per-user cache dir)
    OTIO_HEYGEN_CONFIG          config file to use instead of ./otio-heygen.toml
    OTIO_HEYGEN_LEDGER          the account ledger: a file path (default ``ledger.sqlite`` in the per-user
                                data dir), or a ``postgresql://`` URL: the team ledger shared by every
                                workstation (render slots, in-flight renders and budget across them)
    OTIO_HEYGEN_WORKSTATION     this workstation's name in the team ledger (default: the host name)
    OTIO_HEYGEN_SLOT_LEASE      seconds a crashed workstation keeps its team render slots (default 60)

Config file (``otio-heygen.toml``; looked up via ``--config``, ``OTIO_HEYGEN_CONFIG``, beside the
timeline, then in the current folder)::

    api_url = "https://api.heygen.com"
    price_per_second = 0.10
    concurrency = 10
    ledger = "/shared/otio-heygen/ledger.sqlite"   # relative paths resolve against this file's folder

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

import contextlib
import math
import os
import socket
import stat
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from otio_heygen.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = [
    "CONFIG_FILENAME", "DEFAULT_API_URL", "DEFAULT_PRICE_PER_SECOND", "KEY_FILENAME", "FileConfig", "Look",
    "LookSettings", "Settings", "check_api_key", "default_key_file", "env_key_is_set", "find_config",
    "key_file_path", "ledger_location", "load_settings", "read_config_file", "read_key_file", "remove_key_file",
    "resolve_api_key", "write_key_file",
]

CONFIG_FILENAME = "otio-heygen.toml"
DEFAULT_API_URL = "https://api.heygen.com"
DEFAULT_PRICE_PER_SECOND = 0.10
"""HeyGen's pages disagree ($0.05-$0.10 per second); the higher figure keeps budgets safe."""
DEFAULT_CONCURRENCY = 10
KEY_FILENAME = "heygen_api_key"
_KEY_FILE_MAX_BYTES = 4096


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
    ledger: str | None = None
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
    key_source: str | None = None
    """Where the key came from: ``"env"`` (HEYGEN_API_KEY), ``"file:<path>"`` or None (no key)."""
    ledger: str | None = None
    """The account ledger's location (a file path or URL); None: the default file (see ``run.ledger``)."""
    workstation: str = ""
    """This machine's name in a team ledger (OTIO_HEYGEN_WORKSTATION, else the host name)."""
    slot_lease_s: float = 60.0
    """How long a team render slot outlives its holder's last heartbeat (OTIO_HEYGEN_SLOT_LEASE)."""
    key_error: ConfigError | None = None
    """Why the key file is unusable: raised only when a HeyGen render needs the key (offline commands run)."""

    @property
    def config_dir(self) -> Path | None:
        return self.config_path.parent if self.config_path else None

    def __repr__(self) -> str:  # never show the key
        key = f"set from {self.key_source}" if self.api_key else "unset"
        return f"Settings(api_url={self.api_url!r}, key={key!r})"


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


# ------------------------------------------------------------------------------------ API key


def check_api_key(raw: str, source: str) -> str | None:
    """The key with surrounding whitespace stripped, None when blank.

    A key with inner whitespace, control or non-ASCII characters (a bad paste) is refused here:
    sent as an HTTP header it would fail later with an error that could quote it. ``source``
    names where the key came from; the key itself never appears in the error.
    """
    key = raw.strip()
    if not key:
        return None
    if not (key.isascii() and key.isprintable()) or any(c.isspace() for c in key):
        raise ConfigError(
            f"the API key in {source} contains spaces, line breaks or unusual characters",
            hint="copy the key again from HeyGen (Settings › API) and store it with `otio-heygen key set`",
        )
    return key


def default_key_file() -> Path:
    """Where ``otio-heygen key set`` stores the key when OTIO_HEYGEN_KEY_FILE is not set."""
    return platformdirs.user_config_path("otio-heygen") / KEY_FILENAME


def key_file_path(env: Mapping[str, str] | None = None) -> Path:
    """The key file in use: OTIO_HEYGEN_KEY_FILE, else ``default_key_file()``."""
    env = os.environ if env is None else env
    raw = env.get("OTIO_HEYGEN_KEY_FILE", "").strip()
    return Path(raw).expanduser() if raw else default_key_file()


def _check_private(path: Path, mode: int) -> None:
    if os.name == "posix" and mode & 0o077:
        raise ConfigError(
            f"API key file {path} can be read or changed by other users (mode {stat.S_IMODE(mode):03o})",
            hint=f"run: chmod 600 {path}",
        )


def read_key_file(path: Path) -> SecretStr | None:
    """The key stored in ``path``; None when the file is missing or blank.

    On macOS/Linux a file that group or others may access is refused (ConfigError, exit 2).
    """
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):  # a folder, or a pipe that would block the read
            raise ConfigError(f"API key file {path} is not a regular file",
                              hint="point OTIO_HEYGEN_KEY_FILE at a file, or run `otio-heygen key set`")
        _check_private(path, info.st_mode)
        with path.open("rb") as handle:
            data = handle.read(_KEY_FILE_MAX_BYTES + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"cannot read API key file {path}: {exc.strerror or type(exc).__name__}",
                          hint="check its owner and permissions") from None
    if len(data) > _KEY_FILE_MAX_BYTES:
        raise ConfigError(f"API key file {path} is too large to hold an API key",
                          hint="check OTIO_HEYGEN_KEY_FILE, or run `otio-heygen key set` again")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"API key file {path} is not text",
                          hint="run `otio-heygen key set` to store the key again") from None
    key = check_api_key(text, f"API key file {path}")
    return SecretStr(key) if key else None


def env_key_is_set(env: Mapping[str, str] | None = None) -> bool:
    """Whether HEYGEN_API_KEY is set (it then wins over the key file)."""
    env = os.environ if env is None else env
    return bool(env.get("HEYGEN_API_KEY", "").strip())


def resolve_api_key(env: Mapping[str, str] | None = None) -> tuple[SecretStr | None, str | None]:
    """The API key and where it came from: HEYGEN_API_KEY wins over the key file."""
    env = os.environ if env is None else env
    key = check_api_key(env.get("HEYGEN_API_KEY", ""), "HEYGEN_API_KEY")
    if key:
        return SecretStr(key), "env"
    path = key_file_path(env)
    from_file = read_key_file(path)
    return (from_file, f"file:{path}") if from_file else (None, None)


def write_key_file(path: Path, key: str) -> None:
    """Store ``key`` in ``path`` atomically with mode 0600, creating its folder (mode 0700)."""
    checked = check_api_key(key, "the input")
    if checked is None:
        raise ConfigError("the API key is empty", hint="paste the key from HeyGen (Settings › API)")
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)  # mode 0600
    except OSError as exc:
        raise ConfigError(f"cannot write API key file {path}: {exc.strerror or type(exc).__name__}",
                          hint="set OTIO_HEYGEN_KEY_FILE to a file in a folder you can write") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(checked + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        if os.name == "posix":
            os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise ConfigError(f"cannot write API key file {path}: {exc.strerror or type(exc).__name__}",
                          hint="check the folder's permissions") from None


def remove_key_file(path: Path) -> bool:
    """Delete the key file; False when there was none."""
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    except IsADirectoryError:
        raise ConfigError(f"API key file {path} is a folder", hint="check OTIO_HEYGEN_KEY_FILE") from None
    except OSError as exc:
        raise ConfigError(f"cannot remove API key file {path}: {exc.strerror or type(exc).__name__}",
                          hint="check the folder's permissions") from None
    return True


# ------------------------------------------------------------------------------------ settings


def ledger_location(env: Mapping[str, str], file: FileConfig, config_path: Path | None) -> str | None:
    """OTIO_HEYGEN_LEDGER, else ``ledger`` of the config file (a relative path resolves against the
    file's folder), else None (the default file). URLs are passed through for ``open_ledger``."""
    raw = env.get("OTIO_HEYGEN_LEDGER", "").strip()
    if raw:
        return raw
    value = (file.ledger or "").strip()
    if not value:
        return None
    if "://" in value:
        return value
    path = Path(value).expanduser()
    if not path.is_absolute() and config_path is not None:
        path = config_path.resolve().parent / path
    return str(path)


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
    key_error: ConfigError | None = None
    try:
        api_key, key_source = resolve_api_key(env)
    except ConfigError as exc:
        api_key, key_source, key_error = None, None, exc
    env_url = env.get("HEYGEN_API_URL", "").strip()
    api_url = env_url or file.api_url or DEFAULT_API_URL
    if not api_url.startswith(("http://", "https://")) or not urlsplit(api_url).hostname:
        source = "HEYGEN_API_URL" if env_url else f"api_url in {path}"
        raise ConfigError(f"{source} must be an http:// or https:// address (got {api_url!r})")
    price = _number(env, "OTIO_HEYGEN_PRICE_PER_SECOND", float)
    concurrency = _number(env, "OTIO_HEYGEN_CONCURRENCY", int)
    poll = _number(env, "OTIO_HEYGEN_POLL_INTERVAL", float)
    cache = env.get("OTIO_HEYGEN_ASSET_CACHE", "").strip()
    lease = _number(env, "OTIO_HEYGEN_SLOT_LEASE", float)
    if lease is not None and lease <= 0:
        raise ConfigError(f"OTIO_HEYGEN_SLOT_LEASE must be a number of seconds above 0 (got {lease})")
    return Settings(
        ledger=ledger_location(env, file, path),
        workstation=env.get("OTIO_HEYGEN_WORKSTATION", "").strip() or socket.gethostname() or "workstation",
        slot_lease_s=float(lease) if lease is not None else 60.0,
        api_key=api_key,
        api_url=api_url.rstrip("/"),
        price_per_second=float(
            next(p for p in (price, file.price_per_second, DEFAULT_PRICE_PER_SECOND) if p is not None)
        ),
        concurrency=int(concurrency or file.concurrency or DEFAULT_CONCURRENCY),
        poll_interval=float(poll) if poll is not None else file.poll_interval,
        asset_cache=Path(cache).expanduser() if cache else None,
        file=file,
        config_path=path,
        key_source=key_source,
        key_error=key_error,
    )
