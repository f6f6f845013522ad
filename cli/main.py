"""The ``otio-heygen`` command line: thin click commands over ``otio_heygen.pipeline``.

``main()`` is the one place where library errors become one-line messages and exit codes:
0 all sections rendered, 1 some failed (output still written), 2 bad input or usage
(nothing spent), 130 interrupted. Tracebacks are shown only with ``OTIO_HEYGEN_DEBUG=1``.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from otio_heygen.errors import OtioHeygenError, RenderFailedError
from otio_heygen.pipeline import PlanOptions, RenderOptions, plan_timeline, render_timeline

from .output import EventPrinter, print_plan_table, print_summary

__all__ = ["cli", "main"]

F = TypeVar("F", bound=Callable[..., Any])

PATH = click.Path(path_type=Path)


_NTSC = {"23.976": 24000 / 1001, "23.98": 24000 / 1001, "29.97": 30000 / 1001, "59.94": 60000 / 1001,
         "47.952": 48000 / 1001, "119.88": 120000 / 1001}


def _parse_rate(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
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
        click.option("--rate", "edl_rate", callback=_parse_rate, metavar="FPS",
                     help="Frame rate of an EDL, which does not record one (e.g. 23.976, 25, 29.97)."),
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


def _plan_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    out = dict(kwargs)
    for key in ("colors", "tracks", "only", "regenerate"):
        if key not in out:
            continue
        out[key] = tuple(out.get(key) or ())
    return out


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(package_name="otio-heygen")
def cli() -> None:
    """Render a HeyGen Avatar IV clip for every section marker of an editing timeline and place
    the clips frame-exactly on a new video track."""


@cli.command()
@click.argument("timeline", type=PATH)
@plan_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
def plan(timeline: Path, as_json: bool, **kwargs: Any) -> None:
    """Show the sections, settings and estimated cost. No network, nothing spent."""
    result = plan_timeline(timeline, PlanOptions(**_plan_kwargs(kwargs)))
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2))
    else:
        print_plan_table(result, timeline)


@cli.command()
@click.argument("timeline", type=PATH)
@click.option("-o", "--output", type=PATH, required=True, help="Output timeline (.otio, .otioz, .xml).")
@plan_options
@click.option("--backend", type=click.Choice(["heygen", "preview"]),
              help="heygen (default when HEYGEN_API_KEY is set) or preview (offline, free).")
@click.option("--concurrency", type=click.IntRange(1, 100), help="Render jobs at once (default 10).")
@click.option("--budget", "budget_usd", type=click.FloatRange(min=0), help="Hard cap in USD for this run.")
@click.option("--regenerate", multiple=True, metavar="NAME", help="Render a new take of this section.")
@click.option("--relative-paths", is_flag=True, help="Write media paths relative to the output.")
@click.option("--fix-sync", is_flag=True, help="Shift clips whose lip-sync is off by more than a frame.")
@click.option("--otio-version", "schema_version", metavar="X.Y.Z",
              help="Write .otio schemas of an older OTIO release (e.g. 0.14.0 for older Resolve).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON-lines events and a result object.")
def render(timeline: Path, output: Path, as_json: bool, **kwargs: Any) -> None:
    """Render every section and write OUTPUT with the clips on a new track."""
    options = RenderOptions(**_plan_kwargs(kwargs))
    with EventPrinter(as_json=as_json) as printer:
        summary = render_timeline(timeline, output, options, on_event=printer)
    print_summary(summary, as_json=as_json)
    if summary.failures:
        names = ", ".join(name for name, _ in summary.failures)
        raise RenderFailedError(
            f"{len(summary.failures)} section(s) failed: {names}; the output has every finished clip",
            hint=f"run the same command again to retry only those (see `otio-heygen status {output}`)",
        )


def _register_optional_commands() -> None:
    """Commands that live in their own modules."""
    from .account_cmd import account
    from .doctor_cmd import doctor

    cli.add_command(account)
    cli.add_command(doctor)
    try:
        from .status_cmd import status
    except ImportError:  # pragma: no cover - during development only
        pass
    else:
        cli.add_command(status)
    try:
        from .resolve_cmd import resolve
    except ImportError:  # pragma: no cover
        pass
    else:
        cli.add_command(resolve)


_register_optional_commands()


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI, map errors to one line on stderr and an exit code."""
    debug = os.environ.get("OTIO_HEYGEN_DEBUG", "") not in ("", "0")
    try:
        cli.main(args=argv, prog_name="otio-heygen", standalone_mode=False)
    except OtioHeygenError as exc:
        if debug:
            raise
        click.echo(f"otio-heygen: error: {exc.one_line()}", err=True)
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("otio-heygen: interrupted", err=True)
        return 130
    except click.ClickException as exc:
        click.echo(f"otio-heygen: error: {exc.format_message()}", err=True)
        return 2
    except KeyboardInterrupt:
        click.echo("otio-heygen: interrupted - run the same command again to resume", err=True)
        return 130
    except Exception as exc:  # the last line of defence: no tracebacks for users
        if debug:
            raise
        click.echo(
            f"otio-heygen: internal error: {type(exc).__name__}: {' '.join(str(exc).split())[:300]} "
            "- please report it (set OTIO_HEYGEN_DEBUG=1 for details)",
            err=True,
        )
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
