"""The Premiere Pro file route: which format to write back, and one call that renders and says how to import.

Premiere Pro imports OpenTimelineIO from version 25.6; before that FCP7 XML (File > Export > Final Cut Pro
XML... and File > Import...) is the route. ``prepare_premiere_import`` picks the output format from the
Premiere version (or from the input when the version is unknown: an ``.otio`` can only come from 25.6+),
runs ``otio_heygen.render_file``, and writes ``<stem>_avatar_IMPORT.txt`` beside the output
with the exact import steps. Nothing here talks to Premiere.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import otio_heygen
from otio_heygen import ProgressEvent, RenderOptions, RenderResult
from otio_heygen.errors import InputError

__all__ = [
    "OTIO_SINCE",
    "PremiereImport",
    "choose_suffix",
    "import_steps",
    "parse_version",
    "premiere_output_path",
    "prepare_premiere_import",
]

OTIO_SINCE = (25, 6)
"""First Premiere Pro version that imports OpenTimelineIO files."""

Suffix = Literal[".otio", ".xml"]
RenderFn = Callable[..., RenderResult]
_VERSION = re.compile(r"(\d{2,4})(?:\.(\d+))?")


def parse_version(version: str | None) -> tuple[int, int] | None:
    """``"25.6"``, ``"25.6.1"``, ``"v26"``, ``"Premiere Pro 2025"`` -> (major, minor); empty -> None."""
    if version is None or not version.strip():
        return None
    match = _VERSION.search(version)
    if not match:
        raise InputError(
            f"cannot read the Premiere Pro version {version!r}",
            hint="give it as shown in Help > About Premiere Pro, e.g. 25.6 or 24.2",
        )
    major = int(match.group(1))
    if major >= 2000:  # marketing year: Premiere Pro 2025 = 25.x
        major -= 2000
    return major, int(match.group(2) or 0)


def choose_suffix(version: str | None, input_path: Path) -> Suffix:
    """``.otio`` for Premiere 25.6+, ``.xml`` (FCP7) before; unknown version: follow the input."""
    parsed = parse_version(version)
    if parsed is None:
        return ".otio" if input_path.suffix.lower() in (".otio", ".otioz") else ".xml"
    return ".otio" if parsed >= OTIO_SINCE else ".xml"


def premiere_output_path(input_path: Path, output_dir: Path | None, version: str | None) -> Path:
    """``<output_dir>/<input stem>_avatar.otio|.xml`` (output_dir defaults to the input's folder)."""
    folder = output_dir if output_dir is not None else input_path.resolve().parent
    return folder / f"{input_path.stem}_avatar{choose_suffix(version, input_path)}"


def import_steps(output_path: Path, media_dir: Path) -> list[str]:
    """What the editor does in Premiere Pro to bring the result in."""
    kind = "OpenTimelineIO" if output_path.suffix == ".otio" else "Final Cut Pro XML"
    return [
        f"In Premiere Pro choose File > Import... and pick {output_path} ({kind}).",
        "Premiere adds a new sequence (in a new bin) with the generated clips on the top video track,"
        " each starting on its section marker; your original sequence is not changed.",
        f"If clips show as offline: select them, right-click > Link Media... and choose the folder {media_dir}.",
        "Open the new sequence and keep cutting there, or copy the top track's clips into your sequence"
        " with the playhead at the same timecode.",
    ]


@dataclass
class PremiereImport:
    """What ``prepare_premiere_import`` produced."""

    output_path: Path
    instructions_path: Path
    steps: list[str] = field(default_factory=list)
    summary: RenderResult | None = None


def prepare_premiere_import(
    input_path: Path,
    output_dir: Path | None = None,
    version: str | None = None,
    options: RenderOptions | None = None,
    *,
    render: RenderFn | None = None,
    on_event: Callable[[ProgressEvent], None] | None = None,
) -> PremiereImport:
    """Render a Premiere export and write the timeline Premiere imports, plus an instructions file.

    ``options.backend`` names the backend (the caller chooses it; nothing is picked here)."""
    output_path = premiere_output_path(input_path, output_dir, version)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    render = render or otio_heygen.render_file
    summary = render(input_path, output_path, options or RenderOptions(), on_event=on_event)
    steps = import_steps(output_path, summary.media_dir)
    instructions = output_path.with_name(f"{output_path.stem}_IMPORT.txt")
    lines = [f"{n}. {step}" for n, step in enumerate(steps, start=1)]
    if summary.failures:
        lines.append("")
        lines += [f"Not rendered: {f.title} - {f.reason}" for f in summary.failures]
    instructions.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return PremiereImport(output_path, instructions, steps, summary)
