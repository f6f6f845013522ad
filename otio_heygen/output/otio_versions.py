"""Which OTIO schema versions an ``.otio``/``.otioz`` output is written with.

Owns "write what the NLE wrote": by default the output uses, for every schema the input contains,
no newer version than the input used (an export whose clips are ``Clip.1`` gets ``Clip.1`` back), and
for the other schemas those of the newest OTIO release that could have written the input. An explicit
``--otio-version`` names any release 0.14.x-0.18.x instead. Pure apart from reading the input file.
"""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import opentimelineio as otio

from otio_heygen.errors import OutputPathError

__all__ = [
    "SCHEMA_SUFFIXES",
    "check_release",
    "input_schema_versions",
    "release_map",
    "schemas_in",
    "target_schema_versions",
]

SCHEMA_SUFFIXES = (".otio", ".otioz")
"""Outputs whose schema versions can be chosen."""

_RELEASE = re.compile(r"^v?0\.(1[4-8])(?:\.(\d+))?$")
_SCHEMA = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\.(\d+)$")


def _known_releases() -> dict[tuple[int, int, int], dict[str, int]]:
    full = otio.versioning.full_map()
    out: dict[tuple[int, int, int], dict[str, int]] = {}
    for label, versions in full["OTIO_CORE"].items():
        parts = tuple(int(p) for p in str(label).split("."))
        if len(parts) == 3:
            out[(parts[0], parts[1], parts[2])] = {str(k): int(v) for k, v in versions.items()}
    return out


def release_map(version: str) -> dict[str, int]:
    """The schema versions of OTIO release ``version`` (``0.14``, ``0.15.2``, ``0.18.1``...).

    A patch release OTIO did not list uses the map of the newest listed release of its minor line
    (patch releases never change schemas). Raises ``OutputPathError`` outside 0.14.x-0.18.x.
    """
    match = _RELEASE.match(version.strip())
    if match is None:
        raise OutputPathError(
            f"Unknown OTIO release '{version}'", hint="use a release from 0.14.0 to 0.18.x (e.g. 0.14.0 or 0.17.0)"
        )
    minor, patch = int(match.group(1)), int(match.group(2) or 0)
    known = _known_releases()
    line = sorted(k for k in known if k[1] == minor)
    chosen = [k for k in line if k[2] <= patch] or line
    if not chosen:  # pragma: no cover - every minor 14..18 is in OTIO 0.18's map
        raise OutputPathError(f"OTIO release '{version}' is not known to this installation")
    return dict(known[chosen[-1]])


def check_release(output_path: Path, version: str | None) -> None:
    """Refuse an ``--otio-version`` this output cannot take (before anything is spent)."""
    if not version:
        return
    if Path(output_path).suffix.lower() not in SCHEMA_SUFFIXES:
        raise OutputPathError(
            f"--otio-version applies to .otio and .otioz outputs, not '{Path(output_path).name}'",
            hint="use an .otio/.otioz output or drop --otio-version",
        )
    release_map(version)


def _walk(node: Any) -> Iterator[str]:
    if isinstance(node, Mapping):
        schema = node.get("OTIO_SCHEMA")
        if isinstance(schema, str):
            yield schema
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def schemas_in(text: str) -> dict[str, int]:
    """Every ``OTIO_SCHEMA`` of an OTIO JSON document -> the oldest version of it used there."""
    found: dict[str, int] = {}
    for schema in _walk(json.loads(text)):
        match = _SCHEMA.match(schema)
        if match:
            name, number = match.group(1), int(match.group(2))
            found[name] = min(number, found.get(name, number))
    return found


def input_schema_versions(input_path: Path) -> dict[str, int] | None:
    """The schemas an ``.otio``/``.otioz`` input was written with; None for other formats or unreadable."""
    suffix = input_path.suffix.lower()
    try:
        if suffix == ".otio":
            return schemas_in(input_path.read_text(encoding="utf-8"))
        if suffix == ".otioz":
            with zipfile.ZipFile(input_path) as bundle:
                return schemas_in(bundle.read("content.otio").decode("utf-8"))
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return None
    return None


def _fits(release: Mapping[str, int], used: Mapping[str, int]) -> bool:
    return all(release[name] <= version for name, version in used.items() if name in release)


def target_schema_versions(
    output_path: Path, *, requested: str | None, input_versions: Mapping[str, int] | None
) -> dict[str, int] | None:
    """The ``target_schema_versions`` map to write ``output_path`` with, or None for OTIO's current ones.

    ``requested`` (``--otio-version``) wins; else the input's own versions cap the newest release that
    fits them; an input as new as this OTIO (or not OTIO JSON) gets the current versions.
    """
    if Path(output_path).suffix.lower() not in SCHEMA_SUFFIXES:
        return None
    if requested:
        return release_map(requested)
    if not input_versions:
        return None
    known = _known_releases()
    newest = known[max(known)]
    fitting = [k for k in sorted(known) if _fits(known[k], input_versions)]
    base = known[fitting[-1]] if fitting else known[min(known)]
    floor = {name: min(release.get(name, version) for release in known.values()) for name, version in base.items()}
    target = {name: max(floor[name], min(version, input_versions.get(name, version))) for name, version in base.items()}
    return None if target == newest else target
