"""Finding DaVinci Resolve: the live ``resolve`` object, Resolve's folders, and what to say when it is absent.

Owns the Resolve-specific locations (scripting module folder, the per-user ``Scripts/Edit`` menu folder)
and the one-line errors a user sees when scripting is unavailable. Resolve's own location variables
(``RESOLVE_SCRIPT_API``, ``APPDATA``, ``PROGRAMDATA``) are read here, from an ``env`` mapping the caller
may pass; otio-heygen's settings are not.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from otio_heygen import urls
from otio_heygen.errors import InputError

__all__ = [
    "FILE_ROUTE",
    "SCRIPT_NAME",
    "ResolveError",
    "ResolveUnavailableError",
    "connect",
    "module_dirs",
    "scripts_dir",
    "url_to_path",
]

SCRIPT_NAME = "otio_heygen_resolve.py"
FILE_ROUTE = (
    "in Resolve use File > Export > Timeline... as OpenTimelineIO (.otio), run "
    "'otio-heygen render TIMELINE.otio -o TIMELINE_avatar.otio', then File > Import > Timeline... "
    "and pick TIMELINE_avatar.otio"
)


class ResolveError(InputError):
    """Resolve refused a step of the bridge (no project, export or import failed...)."""


class ResolveUnavailableError(ResolveError):
    """Resolve's scripting API cannot be reached from here."""


def module_dirs(platform: str | None = None, env: Mapping[str, str] | None = None) -> list[Path]:
    """Folders that hold ``DaVinciResolveScript.py`` on this OS (``RESOLVE_SCRIPT_API`` first)."""
    platform = platform or sys.platform
    env = os.environ if env is None else env
    dirs: list[Path] = []
    if env.get("RESOLVE_SCRIPT_API"):
        dirs.append(Path(env["RESOLVE_SCRIPT_API"]) / "Modules")
    if platform == "darwin":
        dirs.append(Path("/Library/Application Support/Blackmagic Design/DaVinci Resolve/Developer/Scripting/Modules"))
    elif platform.startswith("win"):
        base = env.get("PROGRAMDATA", r"C:\ProgramData")
        dirs.append(
            Path(base) / "Blackmagic Design" / "DaVinci Resolve" / "Support" / "Developer" / "Scripting" / "Modules"
        )
    else:
        dirs += [Path("/opt/resolve/Developer/Scripting/Modules"), Path("/home/resolve/Developer/Scripting/Modules")]
    return dirs


def scripts_dir(platform: str | None = None, env: Mapping[str, str] | None = None, home: Path | None = None) -> Path:
    """The per-user folder whose scripts appear under Workspace > Scripts (Edit page)."""
    platform = platform or sys.platform
    env = os.environ if env is None else env
    home = home or Path.home()
    if platform == "darwin":
        return home / "Library/Application Support/Blackmagic Design/DaVinci Resolve/Fusion/Scripts/Edit"
    if platform.startswith("win"):
        appdata = Path(env["APPDATA"]) if env.get("APPDATA") else home / "AppData" / "Roaming"
        return appdata / "Blackmagic Design" / "DaVinci Resolve" / "Support" / "Fusion" / "Scripts" / "Edit"
    return home / ".local/share/DaVinciResolve/Fusion/Scripts/Edit"


def _from_namespace(namespace: Mapping[str, Any]) -> Any:
    """The ``resolve`` object Resolve hands a script run from its Workspace > Scripts menu."""
    if namespace.get("resolve") is not None:
        return namespace["resolve"]
    for name in ("app", "fusion", "fu"):
        host = namespace.get(name)
        if host is not None and hasattr(host, "GetResolve"):
            found = host.GetResolve()
            if found is not None:
                return found
    bmd = namespace.get("bmd")
    if bmd is not None and hasattr(bmd, "scriptapp"):
        return bmd.scriptapp("Resolve")
    return None


def _unavailable(what: str) -> ResolveUnavailableError:
    return ResolveUnavailableError(
        what,
        hint=(
            "start DaVinci Resolve and open the timeline. From a terminal this needs Resolve Studio with "
            "Preferences > System > General > External scripting using: Local (Resolve Free has no external "
            "scripting since 21.1): inside Resolve run Workspace > Scripts > otio_heygen_resolve instead "
            "(install it with 'otio-heygen resolve install-script'), or take the file route: " + FILE_ROUTE
        ),
    )


def connect(
    namespace: Mapping[str, Any] | None = None,
    *,
    importer: Callable[[str], ModuleType] = importlib.import_module,
    platform: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Any:
    """The live ``resolve`` object: from the script's globals inside Resolve, else ``DaVinciResolveScript``."""
    found = _from_namespace(namespace or {})
    if found is not None:
        return found
    try:
        module = importer("DaVinciResolveScript")
    except ImportError:
        module = None
        for folder in module_dirs(platform, env):
            if folder.is_dir() and str(folder) not in sys.path:
                sys.path.append(str(folder))
                try:
                    module = importer("DaVinciResolveScript")
                    break
                except ImportError:
                    continue
    if module is None:
        raise _unavailable("Resolve's scripting module (DaVinciResolveScript) was not found on this computer")
    try:
        resolve = module.scriptapp("Resolve")
    except Exception as exc:  # fusionscript raises assorted errors when the library cannot load
        raise _unavailable(f"Resolve's scripting library failed to load ({type(exc).__name__})") from exc
    if resolve is None:
        raise _unavailable("DaVinci Resolve did not answer the scripting call")
    return resolve


def url_to_path(url: str, base: Path) -> Path:
    """A media path from an OTIO ``target_url``: ``file://`` URL, OS path, or relative to ``base``."""
    return Path(urls.url_to_path(url, base))
