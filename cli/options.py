"""Options shared by ``plan``, ``render`` and the NLE bridge commands."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from otio_heygen import list_backends
from otio_heygen.config import resolve_api_key

__all__ = ["PATH", "backend_for", "parse_rate", "plan_kwargs", "plan_options", "spending_options"]

F = TypeVar("F", bound=Callable[..., Any])

PATH = click.Path(path_type=Path)


_NTSC = {"23.976": 24000 / 1001, "23.98": 24000 / 1001, "29.97": 30000 / 1001, "59.94": 60000 / 1001,
         "47.952": 48000 / 1001, "119.88": 120000 / 1001}


def parse_rate(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    """``23.976`` means 24000/1001 exactly (never the float 23.976)."""
    if value is None:
        return None
    text = value.strip()
    if text in _NTSC:
        return _NTSC[text]
    try:
        if "/" in text:
            num, den = text.split("/", 1)
            rate = float(num) / float(den)
        else:
            rate = float(text)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a frame rate (e.g. 24, 25, 23.976, 30000/1001)") from None
    if not 1 <= rate <= 240:
        raise click.BadParameter(f"{value!r} is not a plausible frame rate")
    return rate


def plan_options(func: F) -> F:
    """Selection and settings options shared by ``plan`` and ``render``."""
    decorators = [
        click.option("--image", type=PATH, help="Photo of the artist (PNG/JPEG) for sections without one."),
        click.option("--audio", type=PATH, help="Song file to use instead of the timeline's audio clips."),
        click.option("--media-root", type=PATH, help="Relink media exported on another machine by file name."),
        click.option("--drive-track", metavar="NAME", help="Audio track (e.g. a vocal stem) that drives lip-sync."),
        click.option("--color", "colors", multiple=True, metavar="COLOR", help="Only markers of this color."),
        click.option("--name", "name_pattern", metavar="GLOB", help="Only markers whose name matches ('Chorus*')."),
        click.option("--track", "tracks", multiple=True, metavar="NAME",
                     help="Only markers on this track ('timeline' = timeline markers)."),
        click.option("--marker-time", type=click.Choice(["auto", "absolute", "relative"]), default="auto",
                     show_default=True, help="Whether timeline marker times include the start timecode."),
        click.option("--motion", "motion_prompt", help="Motion prompt for sections without one."),
        click.option("--expressiveness", type=click.Choice(["high", "medium", "low"])),
        click.option("--resolution", type=click.Choice(["4k", "1080p", "720p"])),
        click.option("--aspect", "aspect_ratio", type=click.Choice(["16:9", "9:16", "4:5", "5:4", "1:1", "auto"])),
        click.option("--takes", type=click.IntRange(1, 10), help="Variations per section."),
        click.option("--handles", type=click.IntRange(0, 10_000), default=0, show_default=True,
                     help="Extra frames of audio/video before and after each section."),
        click.option("--only", multiple=True, metavar="NAME", help="Only this section (repeatable)."),
        click.option("--config", "config_path", type=PATH, help="Config file (default: otio-heygen.toml)."),
        click.option("--track-name", default="Avatar IV", show_default=True, help="Name of the new video track."),
        click.option("--rate", "edl_rate", callback=parse_rate, metavar="FPS",
                     help="Frame rate of an EDL, which does not record one (e.g. 23.976, 25, 29.97)."),
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


def plan_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    out = dict(kwargs)
    for key in ("colors", "tracks", "only", "regenerate"):
        if key not in out:
            continue
        out[key] = tuple(out.get(key) or ())
    return out


NO_KEY_NOTICE = "HEYGEN_API_KEY is not set: rendering offline previews (--backend preview); nothing is spent"


def backend_for(requested: str | None) -> tuple[str, str | None]:
    """The backend a command renders with, and the notice to show when the CLI chose it.

    The CLI's documented default (the library never picks one): ``heygen`` when a HeyGen key is set
    (HEYGEN_API_KEY or the key file), else ``preview`` with a one-line notice.
    """
    if requested:
        return requested, None
    key, _source = resolve_api_key()
    return ("heygen", None) if key is not None else ("preview", NO_KEY_NOTICE)


def spending_options(func: F) -> F:
    """Options of every command that renders: backend, concurrency, budget, regeneration, --json."""
    decorators = [
        click.option("--backend", type=click.Choice(list_backends()),
                     help="heygen (default when HEYGEN_API_KEY is set) or preview (offline, free)."),
        click.option("--concurrency", type=click.IntRange(1, 100), help="Render jobs at once (default 10)."),
        click.option("--budget", "budget_usd", type=click.FloatRange(min=0), help="Hard cap in USD for this run."),
        click.option("--regenerate", multiple=True, metavar="NAME", help="Render a new take of this section."),
        click.option("--json", "as_json", is_flag=True, help="Print JSON-lines events and a result object."),
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func
