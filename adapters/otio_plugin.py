"""The OTIO plugin: a media linker that finds otio-heygen's generated clips after their media moved.

Registered through the ``opentimelineio.plugins`` entry point (``otio_heygen.adapters.otio_plugin``,
whose ``plugin_manifest()`` returns ``plugin_manifest.json`` beside this file). OTIO also runs this file
as ``opentimelineio.media_linker.otio_heygen_linker``, so it uses absolute imports only.

Use it with ``OTIO_DEFAULT_MEDIA_LINKER=otio_heygen_linker`` (any OTIO tool: otioview, otioconvert...)
or ``read_relinked(path)`` / ``otio.adapters.read_from_file(path, media_linker_name="otio_heygen_linker",
media_linker_argument_map={"timeline_path": path})``. For each clip carrying ``metadata["otio_heygen"]``
whose media is missing, it looks for the file name (``metadata["otio_heygen"]["media_file"]``, else the
URL's) in, in order: ``search_dirs`` from the argument map, ``<timeline stem>_media/`` and the folder beside
``timeline_path``, a folder named like the old media folder (``<output stem>_media``) beside the timeline
and in the current folder, then the current folder. Clips whose media exists are left alone.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path, PurePath
from typing import Any

import opentimelineio as otio

from otio_heygen import urls

__all__ = ["LINKER_NAME", "candidate_dirs", "link_media_reference", "plugin_manifest", "read_relinked"]

LINKER_NAME = "otio_heygen_linker"
_KEY = "otio_heygen"


def plugin_manifest() -> Any:
    """The manifest OTIO's entry-point loader asks for (the JSON file beside this module)."""
    return otio.plugins.manifest.manifest_from_file(str(Path(__file__).with_name("plugin_manifest.json")))


def _url_path(url: str) -> PurePath:
    return urls.url_to_path(url)


def candidate_dirs(old_url: str, argument_map: Mapping[str, Any], cwd: Path | None = None) -> list[Path]:
    """Folders to look in for a moved clip, most specific first (no duplicates)."""
    cwd = cwd or Path.cwd()
    old_folder = _url_path(old_url).parent.name
    dirs: list[Path] = [Path(str(d)) for d in argument_map.get("search_dirs") or ()]
    timeline = argument_map.get("timeline_path")
    if timeline:
        here = Path(str(timeline)).resolve().parent
        dirs.append(here / f"{Path(str(timeline)).stem}_media")
        if old_folder:
            dirs.append(here / old_folder)
        dirs.append(here)
    if old_folder:
        dirs.append(cwd / old_folder)
    dirs.append(cwd)
    seen: set[str] = set()
    unique = []
    for d in dirs:
        if str(d) not in seen:
            seen.add(str(d))
            unique.append(d)
    return unique


def _exists(url: str, base: Path | None) -> bool:
    path = _url_path(url)
    if not isinstance(path, Path):  # another system's path (a Windows drive on POSIX)
        return False
    if not path.is_absolute():
        path = (base or Path.cwd()) / path
    return path.is_file()


def _names(clip: Any, url: str) -> Iterator[str]:
    meta = clip.metadata.get(_KEY)
    if isinstance(meta, Mapping) and meta.get("media_file"):
        yield str(meta["media_file"])
    yield _url_path(url).name


def link_media_reference(in_clip: Any, media_linker_argument_map: Mapping[str, Any] | None = None) -> Any:
    """A new ``ExternalReference`` to the moved file, or None to leave the clip as it is."""
    args = media_linker_argument_map or {}
    ref = in_clip.media_reference
    if not isinstance(ref, otio.schema.ExternalReference) or not ref.target_url:
        return None
    if _KEY not in in_clip.metadata and not args.get("all_clips"):
        return None
    timeline = args.get("timeline_path")
    base = Path(str(timeline)).resolve().parent if timeline else None
    if _exists(ref.target_url, base):
        return None
    for folder in candidate_dirs(ref.target_url, args):
        for name in _names(in_clip, ref.target_url):
            found = folder / name
            if name and found.is_file():
                new = otio.schema.ExternalReference(
                    target_url=found.resolve().as_uri(), available_range=ref.available_range
                )
                new.name = ref.name or found.name
                new.metadata.update(ref.metadata)
                new.metadata[_KEY] = {"relinked_from": ref.target_url}
                return new
    return None


def read_relinked(path: str | Path, **adapter_arguments: Any) -> Any:
    """Read a timeline, relinking otio-heygen's clips whose media moved along with it."""
    return otio.adapters.read_from_file(
        str(path),
        media_linker_name=LINKER_NAME,
        media_linker_argument_map={"timeline_path": str(path)},
        **adapter_arguments,
    )
