"""``otio-heygen account``: the HeyGen account's balance."""

from __future__ import annotations

import json

import click

import otio_heygen
from otio_heygen.config import load_settings
from otio_heygen.errors import ConfigError

__all__ = ["account"]


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def account(as_json: bool) -> None:
    """Show the HeyGen account's remaining balance (GET /v3/users/me)."""
    settings = load_settings()
    if settings.api_key is None:
        raise ConfigError("No HeyGen API key found - set HEYGEN_API_KEY or run `otio-heygen key set`")
    backend = otio_heygen.get_backend("heygen", concurrency=1)
    try:
        if not isinstance(backend, otio_heygen.HasAccount):  # pragma: no cover - the heygen plugin has it
            raise ConfigError("the heygen backend installed cannot read the account")
        me = backend.account_info()
    finally:
        close = getattr(backend, "close", None)
        if callable(close):
            close()
    info = {"username": me.name, "billing_type": me.billing_type, "balance": me.balance,
            "currency": me.currency, "api_url": settings.api_url}
    if as_json:
        click.echo(json.dumps(info))
        return
    for key, value in info.items():
        click.echo(f"{key}: {value}")
