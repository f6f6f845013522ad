"""``otio-heygen resolve render|install-script`` and ``otio-heygen premiere``: the NLE bridges on the CLI.

Thin commands over ``otio_heygen.adapters.resolve.bridge`` and ``otio_heygen.adapters.premiere.route``
(imported at run time: they live in the ``adapters`` package). Library errors propagate to
``cli.main.main``, the one place that turns them into messages and exit codes.
"""

from __future__ import annotations

import importlib
import json
import sys
import sysconfig
from pathlib import Path
from types import ModuleType
from typing import Any

import click

import otio_heygen
from otio_heygen import RenderOptions, SectionFailure, list_backends
from otio_heygen.errors import RenderFailedError

from .options import PATH, backend_for, plan_kwargs, plan_options, spending_options
from .output import EventPrinter, print_summary

__all__ = ["premiere", "resolve"]


def _module(name: str) -> ModuleType:
    return importlib.import_module(f"otio_heygen.adapters.{name}")


def _render_options(kwargs: dict[str, Any]) -> tuple[RenderOptions, str | None]:
    """The options with the backend the CLI chose named, and the notice saying so (if any)."""
    options = RenderOptions(**plan_kwargs(kwargs))
    backend, notice = backend_for(options.backend)
    return options.with_changes({"backend": backend}), notice


def _fail_on_failures(failures: tuple[SectionFailure, ...], where: str) -> None:
    if failures:
        names = ", ".join(f.title for f in failures)
        raise RenderFailedError(
            f"{len(failures)} section(s) failed: {names}; {where} has every finished clip",
            hint="run the same command again to retry only those",
        )


@click.group()
def resolve() -> None:
    """Work with the timeline open in DaVinci Resolve (scripting bridge)."""


@resolve.command("render")
@click.option(
    "--place",
    type=click.Choice(["track", "timeline"]),
    default="track",
    show_default=True,
    help="track: clips on a new video track of the open timeline; timeline: import a new timeline.",
)
@click.option(
    "--output-dir",
    type=PATH,
    help="Folder for the output timeline and media (default: Documents/otio-heygen/<project>/<timeline>).",
)
@click.option("--bin", "bin_name", default="otio-heygen", show_default=True, help="Media pool bin for the clips.")
@click.option(
    "--marker-colors/--no-marker-colors",
    "color_markers",
    default=None,
    help="Turn rendered markers green and failed ones red (default: yes, unless --color selects).",
)
@plan_options
@spending_options
def render_cmd(
    place: str, output_dir: Path | None, bin_name: str, color_markers: bool | None, as_json: bool, **kwargs: Any
) -> None:
    """Export the open timeline, render its sections and bring the clips back into Resolve."""
    bridge = _module("resolve.bridge")
    render, notice = _render_options(kwargs)
    options = bridge.BridgeOptions(
        place=place,
        render=render,
        output_dir=output_dir,
        bin_name=bin_name,
        color_markers=color_markers,
    )
    app = bridge.connect(None)

    def log(line: str) -> None:
        if not as_json:
            click.echo(line, err=True)

    with EventPrinter(as_json=as_json, notice=notice) as printer:
        result = bridge.run_bridge(app, options, on_event=printer, log=log)
    print_summary(result.summary, as_json=as_json)
    if as_json:
        updates = [{"frame": float(u.frame), "status": u.status, "color": u.color} for u in result.marker_updates]
        payload = {
            "event": "resolve",
            "tracks": result.track_indices,
            "timeline": result.new_timeline_name,
            "markers": updates,
            "notes": result.notes,
        }
        sys.stdout.write(json.dumps(payload) + "\n")
    else:
        for note in result.notes:
            click.echo(note, err=True)
    _fail_on_failures(result.summary.failures, "Resolve")


def fill_script_settings(text: str, settings: dict[str, str]) -> str:
    """The script with its ``NAME = "..."`` settings lines replaced (values JSON-quoted)."""
    lines = text.splitlines(keepends=True)
    for i, line in enumerate(lines):
        name = line.split(" = ", 1)[0]
        if name in settings and line.startswith(f"{name} = "):
            comment = line.split("#", 1)[1].rstrip("\n") if "#" in line else ""
            lines[i] = f"{name} = {json.dumps(settings[name])}" + (f"  #{comment}" if comment else "") + "\n"
    return "".join(lines)


@resolve.command("install-script")
@click.option("--dest", type=PATH, help="Folder to copy into (default: Resolve's per-user Scripts/Edit folder).")
@click.option("--place", type=click.Choice(["track", "timeline"]), default="track", show_default=True)
@click.option("--backend", type=click.Choice(list_backends()), help="Default: heygen when a key is set.")
@click.option("--image", type=PATH, help="Default photo of the artist.")
@click.option("--output-dir", type=PATH, help="Folder for outputs (default: Documents/otio-heygen/...).")
def install_script(
    dest: Path | None, place: str, backend: str | None, image: Path | None, output_dir: Path | None
) -> None:
    """Copy the Workspace > Scripts entry into Resolve, set up to find this installation."""
    if image is not None:
        for warning in otio_heygen.inspect_photo(image.expanduser()).warnings():  # checked like `render` does
            click.echo(f"warning: {warning}", err=True)
    connect = _module("resolve.connect")
    source = Path(_module("resolve").__file__ or "").with_name(connect.SCRIPT_NAME)
    folder = dest or connect.scripts_dir()
    settings = {
        "SITE_PACKAGES": sysconfig.get_paths()["purelib"],
        "PYTHON_VERSION": "{}.{}".format(*sys.version_info[:2]),
        "PLACE": place,
        "BACKEND": backend or "",
        "IMAGE": str(image.expanduser().resolve()) if image else "",
        "OUTPUT_DIR": str(output_dir.expanduser().resolve()) if output_dir else "",
    }
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / connect.SCRIPT_NAME
    target.write_text(fill_script_settings(source.read_text(encoding="utf-8"), settings), encoding="utf-8")
    click.echo(f"installed {target}")
    click.echo(
        "In Resolve (Edit page): Workspace > Scripts > otio_heygen_resolve. Output appears in Workspace > Console."
    )
    click.echo(
        f"The script finds otio-heygen when Resolve runs scripts with Python {settings['PYTHON_VERSION']} "
        "(the Python 3 installed on this computer); if not, it prints what to install."
    )


@click.command()
@click.argument("timeline", type=PATH)
@click.option(
    "--premiere-version",
    "version",
    metavar="X.Y",
    help="Premiere Pro version (Help > About): 25.6+ gets .otio, older gets FCP7 .xml.",
)
@click.option("-o", "--output", type=PATH,
              help="Output timeline file (.xml, or .otio for Premiere 25.6+; default: TIMELINE's stem + _avatar).")
@click.option("--output-dir", type=PATH, help="Folder for the default-named output (default: beside TIMELINE).")
@plan_options
@spending_options
def premiere(timeline: Path, version: str | None, output: Path | None, output_dir: Path | None, as_json: bool,
             **kwargs: Any) -> None:
    """Render a Premiere Pro export (FCP7 XML or OTIO) into the format your Premiere imports."""
    route = _module("premiere.route")
    options, notice = _render_options(kwargs)
    with EventPrinter(as_json=as_json, notice=notice) as printer:
        result = route.prepare_premiere_import(timeline, output_dir, version, options, on_event=printer,
                                               output=output)
    print_summary(result.summary, as_json=as_json)
    if not as_json:
        for n, step in enumerate(result.steps, start=1):
            click.echo(f"{n}. {step}")
        click.echo(f"(these steps are also in {result.instructions_path})")
    _fail_on_failures(result.summary.failures, str(result.output_path))
