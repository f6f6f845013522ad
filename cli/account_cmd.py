"""``otio-heygen account``: the HeyGen account's balance."""

from __future__ import annotations

import json

import click

from otio_heygen.config import load_settings
from otio_heygen.errors import ConfigError

__all__ = ["account"]


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def account(as_json: bool) -> None:
    """Show the HeyGen account's remaining balance (GET /v3/users/me)."""
    from otio_heygen.backends.heygen.backend import make_heygen_backend

    settings = load_settings()
    if settings.api_key is None:
        raise ConfigError("No HeyGen API key found - set HEYGEN_API_KEY or run `otio-heygen key set`")
    backend = make_heygen_backend(settings.api_key.get_secret_value(), settings.api_url, concurrency=1)
    try:
        me = backend.account()
    finally:
        backend.close()
    info = {"username": me.username, "billing_type": me.billing_type, "balance": me.balance,
            "currency": me.currency, "api_url": settings.api_url}
    if as_json:
        click.echo(json.dumps(info))
        return
    for key, value in info.items():
        click.echo(f"{key}: {value}")
