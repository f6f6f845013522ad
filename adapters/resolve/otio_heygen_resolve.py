"""otio-heygen for DaVinci Resolve: render the marked sections of the open timeline with HeyGen Avatar IV.

Install: ``otio-heygen resolve install-script`` copies this file into Resolve's per-user Scripts/Edit
folder (macOS ``~/Library/Application Support/Blackmagic Design/DaVinci Resolve/Fusion/Scripts/Edit/``,
Windows ``%APPDATA%\\Blackmagic Design\\DaVinci Resolve\\Support\\Fusion\\Scripts\\Edit\\``, Linux
``~/.local/share/DaVinciResolve/Fusion/Scripts/Edit/``) and fills in the settings below. Run it from
Workspace > Scripts > otio_heygen_resolve (Edit page), or from a terminal (Resolve Studio, external
scripting set to Local): ``python otio_heygen_resolve.py [--place track|timeline] [--backend preview]``.

Everything real lives in ``otio_heygen.adapters.resolve.bridge``; this file only finds the installed
``otio_heygen`` package (here, or in SITE_PACKAGES below), the ``resolve`` object, and prints the result.
"""

from __future__ import annotations

import argparse
import importlib
import site
import sys
import traceback
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

# --- settings: ``otio-heygen resolve install-script`` writes these; edit them by hand if you like ---
SITE_PACKAGES = ""  # folder holding the installed otio_heygen package ("" = Resolve's Python finds it)
PYTHON_VERSION = ""  # Python that otio-heygen was installed for, e.g. "3.11"
PLACE = "track"  # "track": clips on a new video track of this timeline; "timeline": a new timeline
BACKEND = ""  # "heygen", "preview", or "" = heygen when HEYGEN_API_KEY is set, else preview
IMAGE = ""  # default photo of the artist (markers can override with "image: path" in their note)
OUTPUT_DIR = ""  # "" = Documents/otio-heygen/<project>/<timeline>/
# --- end of settings ---

__all__ = ["load_bridge", "main"]


def load_bridge() -> ModuleType:
    """Import the bridge from the installed otio-heygen, adding SITE_PACKAGES when needed."""
    try:
        return importlib.import_module("otio_heygen.adapters.resolve.bridge")
    except ImportError as first:
        if SITE_PACKAGES and SITE_PACKAGES not in sys.path:
            site.addsitedir(SITE_PACKAGES)  # also runs its .pth files (editable installs need them)
            try:
                return importlib.import_module("otio_heygen.adapters.resolve.bridge")
            except ImportError:
                pass
        running = "{}.{}".format(*sys.version_info[:2])
        if PYTHON_VERSION and running != PYTHON_VERSION:
            raise ImportError(
                f"otio-heygen is installed for Python {PYTHON_VERSION} but this script runs under Python "
                f"{running}: install it for this Python ('python{running} -m pip install otio-heygen') "
                "or run 'otio-heygen resolve render' from a terminal"
            ) from first
        raise ImportError(
            f"otio-heygen is not installed for the Python that runs this script ({sys.executable}, "
            f"Python {running}): run 'otio-heygen resolve install-script' again from the Python where "
            f"otio-heygen is installed ({first})"
        ) from first


def _backend(requested: str | None) -> str:
    """The backend this script renders with: the one installed with it, else ``heygen`` when a HeyGen key
    is set, else the free offline ``preview`` (said in Resolve's console)."""
    if requested:
        return requested
    from otio_heygen.config import resolve_api_key

    if resolve_api_key()[0] is not None:
        return "heygen"
    print("otio-heygen: no HeyGen key is set: rendering offline previews (backend preview); nothing is spent")
    return "preview"


def _options(bridge: ModuleType, args: argparse.Namespace) -> Any:
    from otio_heygen import RenderOptions

    render = RenderOptions(
        backend=_backend(args.backend or None),
        image=Path(args.image).expanduser() if args.image else None,
    )
    output_dir = Path(args.output_dir).expanduser() if args.output_dir else None
    return bridge.BridgeOptions(place=args.place, render=render, output_dir=output_dir)


def _print_event(typed: Any) -> None:
    """Resolve's console shows plain prints: notices, warnings, the plan and each section's state."""
    event = typed.to_dict()
    kind = event.get("event")
    if kind in ("notice", "warning"):
        print(f"otio-heygen: {kind}: {event.get('message')}")
    elif kind == "plan":
        print(f"otio-heygen: {event.get('to_render')} to render, {event.get('reused')} already done")
    elif kind == "state" and event.get("state") in ("done", "failed"):
        print(f"otio-heygen: {event.get('section')} (take {event.get('take')}): {event.get('state')}")
    elif kind == "stop_creating":
        print(f"otio-heygen: {event.get('reason')}")


def main(namespace: Mapping[str, Any] | None = None, argv: list[str] | None = None) -> int:
    """Run the bridge once; print what happened. Returns the exit code."""
    parser = argparse.ArgumentParser(prog="otio_heygen_resolve", description=__doc__.splitlines()[0])
    parser.add_argument("--place", choices=("track", "timeline"), default=PLACE)
    parser.add_argument("--backend", choices=("heygen", "preview"), default=BACKEND or None)
    parser.add_argument("--image", default=IMAGE)
    parser.add_argument("--output-dir", default=OUTPUT_DIR)
    args, _ = parser.parse_known_args(argv)
    try:
        bridge = load_bridge()
    except ImportError as exc:
        print(f"otio-heygen: {exc}")
        return 2
    from otio_heygen.errors import OtioHeygenError

    try:
        resolve = bridge.connect(namespace)
        result = bridge.run_bridge(resolve, _options(bridge, args), on_event=_print_event)
    except OtioHeygenError as exc:
        print(f"otio-heygen: {exc.one_line()}")
        return exc.exit_code
    except Exception:
        traceback.print_exc()
        print("otio-heygen: unexpected error (details above) - please report it")
        return 1
    summary = result.summary
    for note in result.notes:
        print(f"otio-heygen: {note}")
    print(f"otio-heygen: {summary.rendered} rendered, {summary.reused} reused, spent ${summary.spent_usd:.2f}")
    print(f"otio-heygen: timeline written to {result.output_path}")
    for failure in summary.failures:
        print(f"otio-heygen: FAILED {failure.title}: {failure.reason}")
    return 1 if summary.failures else 0


def _inside_resolve(namespace: Mapping[str, Any]) -> bool:
    return any(namespace.get(name) is not None for name in ("resolve", "app", "fusion", "fu", "bmd"))


if __name__ == "__main__" or _inside_resolve(globals()):
    _code = main(globals(), [] if _inside_resolve(globals()) else None)
    if not _inside_resolve(globals()):
        sys.exit(_code)
