"""Backends as plugins: found by name in the ``otio_heygen.backends`` entry-point group, built from settings.

A package adds a lip-sync provider by declaring, in its ``pyproject.toml``::

    [project.entry-points."otio_heygen.backends"]
    myservice = "my_package.backend:create"

where ``create(settings: BackendSettings) -> Backend`` returns an object following
``otio_heygen.run.contract.Backend``. ``preview`` and ``heygen`` are registered the same way by
otio-heygen itself; nothing in the pipeline imports them. Entry points are read on every lookup
(no cache), so a plugin installed while Python runs is found.
"""

from __future__ import annotations

import importlib.metadata as md
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from otio_heygen.errors import ConfigError
from otio_heygen.run.contract import Backend

__all__ = [
    "ENTRY_POINT_GROUP",
    "Account",
    "BackendFactory",
    "BackendSettings",
    "HasAccount",
    "create_backend",
    "list_backends",
]

ENTRY_POINT_GROUP = "otio_heygen.backends"


@dataclass(frozen=True)
class BackendSettings:
    """What a backend factory receives. Common settings are fields; anything else is in ``options``."""

    api_key: str | None = field(default=None, repr=False)
    """The service's secret (never printed: left out of ``repr``)."""
    api_url: str | None = None
    price_per_second: float | None = None
    """USD per second of output; None: the backend's own default."""
    concurrency: int = 10
    asset_cache: Path | None = None
    """Where a backend may remember uploads across runs (None: its default place)."""
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    options: Mapping[str, Any] = field(default_factory=dict)
    """Backend-specific settings (``width``/``height`` for ``preview``...)."""

    @classmethod
    def from_kwargs(cls, settings: Mapping[str, Any]) -> BackendSettings:
        """Known names become fields; the others go to ``options``."""
        known = {name for name in cls.__dataclass_fields__ if name != "options"}
        extra = dict(settings.get("options") or {})
        extra.update({k: v for k, v in settings.items() if k not in known and k != "options"})
        return cls(**{k: v for k, v in settings.items() if k in known}, options=extra)


BackendFactory = Callable[[BackendSettings], Backend]


@dataclass(frozen=True)
class Account:
    """A paid service's account, as far as a backend can tell."""

    name: str | None
    balance: float | None
    """Remaining credit (in ``currency``; None when the service does not say)."""
    currency: str | None = None
    billing_type: str | None = None


@runtime_checkable
class HasAccount(Protocol):
    """Optional capability of a paid backend: read the account (one request, nothing spent).

    Raises ``Unauthorized`` (``otio_heygen.run.contract``) when the service refuses the credentials (the
    pipeline then stops before any upload), any other ``OtioHeygenError`` when it cannot be read now.
    """

    def account_info(self) -> Account: ...


def _entry_points() -> dict[str, md.EntryPoint]:
    found: dict[str, md.EntryPoint] = {}
    for ep in md.entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(ep.name, ep)
    return found


def list_backends() -> list[str]:
    """Names of the installed backends, sorted."""
    return sorted(_entry_points())


def create_backend(name: str, settings: BackendSettings) -> Backend:
    """Build the backend registered as ``name`` (``ConfigError`` when none is, or its plugin fails to load)."""
    ep = _entry_points().get(name)
    if ep is None:
        installed = ", ".join(list_backends()) or "none"
        raise ConfigError(f"unknown backend {name!r} (installed: {installed})",
                          hint="install the plugin that provides it, or choose an installed backend")
    try:
        factory = ep.load()
    except Exception as exc:
        raise ConfigError(f"the backend plugin {name!r} ({ep.value}) could not be loaded: {exc}",
                          hint="reinstall the package that provides it") from exc
    backend: Backend = factory(settings)
    return backend
