"""The output file of ``render_file``: its folder, its media folder, its URLs and a trial write.

Everything here runs before anything is spent, so an output that cannot be written is refused first,
and a run refused for bad input leaves no folder behind.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable
from pathlib import Path

import opentimelineio as otio

from otio_heygen.errors import OutputPathError
from otio_heygen.output.conform import conform
from otio_heygen.output.writer import media_url, url_style_for, write_timeline
from otio_heygen.planning.types import ClipResult, Job

__all__ = ["FRAGILE_OUTPUTS", "make_output_folder", "media_dir_for", "preflight_write", "remove_if_empty", "url_maker"]

FRAGILE_OUTPUTS = (".xml", ".fcpxml")
"""Output formats whose OTIO adapters can fail on ordinary timelines (generators, NTSC rates)."""


def media_dir_for(output_path: Path) -> Path:
    """``<output folder>/<output stem>_media``."""
    return output_path.resolve().parent / f"{output_path.stem}_media"


def url_maker(output_path: Path, *, relative: bool) -> Callable[[Path], str]:
    """The ``target_url`` of a clip in a timeline written to ``output_path``."""
    style = url_style_for(output_path)
    return lambda path: media_url(path, output_path=output_path, relative=relative, style=style)


def preflight_write(
    timeline: otio.schema.Timeline, jobs: tuple[Job, ...], output_path: Path, *, track_name: str, relative: bool
) -> None:
    """Write the output once with placeholder clips to a scratch folder, so an adapter that cannot
    write this timeline fails before anything is uploaded or paid for."""
    if output_path.suffix.lower() not in FRAGILE_OUTPUTS:
        return
    media_dir = media_dir_for(output_path)
    placeholders = [
        ClipResult(job=job, media_path=media_dir / job.media_basename,
                   media_duration_frames=job.audio_end_frame - job.audio_start_frame)
        for job in jobs
    ]
    trial = conform(timeline, placeholders, track_name=track_name, url_for=url_maker(output_path, relative=relative))
    with tempfile.TemporaryDirectory(prefix="otio-heygen-preflight-") as scratch:
        write_timeline(trial, Path(scratch) / output_path.name)


def make_output_folder(output_path: Path) -> list[Path]:
    """Create the output's folder like ``mkdir -p`` (the path as given: ``new/../out`` makes both);
    returns the folders it created, deepest first, so a run refused for bad input can remove them."""
    folder = output_path.expanduser().parent
    if folder.exists() and not folder.is_dir():
        raise OutputPathError(f"the output folder {folder} is a file, not a folder",
                              hint="choose another -o path")
    if folder.is_dir():
        return []
    missing = [p for p in (folder, *folder.parents) if not p.exists()]
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputPathError(f"cannot create the output folder {folder}: {exc.strerror}",
                              hint="choose an output folder you can write to") from exc
    return missing


def remove_if_empty(folders: list[Path]) -> None:
    for folder in folders:
        with contextlib.suppress(OSError):
            folder.rmdir()  # only empty folders go
