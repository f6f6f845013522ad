"""``otio-heygen doctor``: check the installation without spending anything."""

from __future__ import annotations

import importlib.metadata as md

import click

__all__ = ["doctor"]

_PACKAGES = ("opentimelineio", "otio-fcp-adapter", "otio-fcpx-xml-adapter", "otio-cmx3600-adapter", "av", "httpx")


@click.command()
def doctor() -> None:
    """Check the installation: packages, OTIO adapters, video codecs, API key presence."""
    import av
    import opentimelineio as otio

    from otio_heygen.config import load_settings

    for name in _PACKAGES:
        try:
            click.echo(f"ok    {name} {md.version(name)}")
        except md.PackageNotFoundError:
            click.echo(f"MISSING {name} - pip install {name}")
    adapters = set(otio.adapters.available_adapter_names())
    for adapter, package in (("fcp_xml", "otio-fcp-adapter"), ("fcpx_xml", "otio-fcpx-xml-adapter"),
                             ("cmx_3600", "otio-cmx3600-adapter"), ("AAF", "otio-aaf-adapter")):
        state = "ok   " if adapter in adapters else "no   "
        click.echo(f"{state} OTIO adapter {adapter}" + ("" if adapter in adapters else f" (pip install {package})"))
    for codec in ("libx264", "aac", "libmp3lame"):
        click.echo(f"{'ok   ' if codec in av.codecs_available else 'MISSING'} codec {codec}")
    settings = load_settings()
    if settings.api_key is None:
        click.echo("no    HeyGen API key: renders use the offline preview backend "
                   "(set HEYGEN_API_KEY or run `otio-heygen key set`)")
    elif settings.key_source == "env":
        click.echo("ok    HeyGen API key from HEYGEN_API_KEY")
    else:
        click.echo(f"ok    HeyGen API key from {str(settings.key_source).removeprefix('file:')}")
    click.echo(f"      API URL {settings.api_url}")
