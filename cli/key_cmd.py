"""``otio-heygen key set|clear|status``: store the HeyGen API key once, for apps that do not see the shell.

DaVinci Resolve started from the Dock or Start menu does not inherit ``HEYGEN_API_KEY`` from a shell
profile; the key file (``otio_heygen.config.key_file_path``, mode 0600) is read when the variable is
not set. The key is never printed: ``status`` shows at most its last 4 characters.
"""

from __future__ import annotations

import sys

import click

from otio_heygen.config import (
    check_api_key,
    env_key_is_set,
    key_file_path,
    read_key_file,
    remove_key_file,
    resolve_api_key,
    write_key_file,
)
from otio_heygen.errors import ConfigError

__all__ = ["key", "key_hint"]

_MAX_INPUT = 4096


def key_hint(secret: str) -> str:
    """``…abcd`` for a long key, nothing for a short one (4 of 8 characters would give too much away)."""
    return f"…{secret[-4:]}" if len(secret) >= 12 else ""


def _suffix(secret: str) -> str:
    hint = key_hint(secret)
    return f" ({hint})" if hint else ""


def _read_key() -> str:
    stdin = sys.stdin  # CliRunner swaps sys.stdin, so tests feed input= here
    if stdin is None:
        raise ConfigError("no input to read the API key from", hint="pipe the key in: `pbpaste | otio-heygen key set`")
    if stdin.isatty():
        raw: str = click.prompt("HeyGen API key (input hidden)", hide_input=True, default="", show_default=False)
    else:
        try:
            raw = stdin.read(_MAX_INPUT + 1)
        except UnicodeDecodeError:
            raise ConfigError("the input is not text", hint="pipe only the key") from None
        if len(raw) > _MAX_INPUT:
            raise ConfigError("the input is too long to be an API key", hint="pipe only the key")
    lines = [line for line in raw.splitlines() if line.strip()]
    if not lines:
        raise ConfigError("no API key given", hint="paste the key from HeyGen (Settings › API), or pipe it in")
    if len(lines) > 1:
        raise ConfigError("the input has more than one line; an API key is a single line", hint="pipe only the key")
    checked = check_api_key(lines[0], "the input")
    if checked is None:  # pragma: no cover - lines holds only non-blank lines
        raise ConfigError("no API key given", hint="paste the key from HeyGen (Settings › API)")
    return checked


@click.group()
def key() -> None:
    """Store the HeyGen API key in a private file, for DaVinci Resolve and other apps started from the
    Dock or Start menu (they do not see HEYGEN_API_KEY from your shell). HEYGEN_API_KEY, when set,
    wins over the file."""


@key.command("set")
def key_set() -> None:
    """Store the key: prompts with hidden input, or reads it from stdin (e.g. `pbpaste | otio-heygen key set`)."""
    secret = _read_key()
    path = key_file_path()
    write_key_file(path, secret)
    click.echo(f"API key{_suffix(secret)} stored in {path} (readable only by you)")
    if env_key_is_set():
        click.echo("note: HEYGEN_API_KEY is set in this shell and wins over the stored key here")


@key.command("clear")
def key_clear() -> None:
    """Delete the stored key file (HEYGEN_API_KEY, if set, is not touched)."""
    path = key_file_path()
    if remove_key_file(path):
        click.echo(f"removed {path}")
    else:
        click.echo(f"no key file at {path}")
    if env_key_is_set():
        click.echo("note: HEYGEN_API_KEY is still set in this shell")


@key.command("status")
def key_status() -> None:
    """Say whether a key is set and where it comes from (never the key itself)."""
    path = key_file_path()
    secret, source = resolve_api_key()
    if secret is None:
        click.echo("API key: not set - run `otio-heygen key set` (renders use the offline preview backend)")
        click.echo(f"key file: {path} (none)")
        return
    where = "HEYGEN_API_KEY" if source == "env" else f"key file {path}"
    click.echo(f"API key: set{_suffix(secret.get_secret_value())}, from {where}")
    if source == "env":
        try:
            stored = read_key_file(path)
        except ConfigError as exc:
            click.echo(f"key file: {exc.one_line()}")
        else:
            state = "also holds a key (HEYGEN_API_KEY wins)" if stored else "(none)"
            click.echo(f"key file: {path} {state}")
