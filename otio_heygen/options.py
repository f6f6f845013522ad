"""What a caller can ask of ``plan`` and ``render``: two frozen option types.

``PlanOptions`` holds the selection (which markers become sections) and the render settings shared by
planning and rendering; ``RenderOptions`` adds what only a render needs. Paths may be given as strings
and sequences as lists: they are normalised to ``Path`` and tuples. Relative paths here resolve against
the current directory, like a command-line argument (paths *inside* a timeline resolve against its
folder, or the ``base_dir`` given to ``otio_heygen.render``).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal, TypeVar

__all__ = ["MarkerTime", "PlanOptions", "RenderOptions"]

MarkerTime = Literal["auto", "absolute", "relative"]

_O = TypeVar("_O", bound="PlanOptions")

_PATHS = ("image", "audio", "media_root", "config_path")
_TUPLES = ("colors", "tracks", "only", "regenerate")


@dataclass(frozen=True)
class PlanOptions:
    """Selection and settings shared by ``plan`` and ``render`` (each one a command-line option)."""

    image: Path | None = None
    """Photo for the sections whose marker note and config file name none."""
    audio: Path | None = None
    """Song file to use instead of the timeline's audio clips (placed at its first frame)."""
    media_root: Path | None = None
    """Relink media exported on another machine by file name under this folder."""
    drive_track: str | None = None
    """Audio track (e.g. a vocal stem) that drives the lip-sync."""
    colors: tuple[str, ...] = ()
    """Only markers of these colors."""
    name_pattern: str | None = None
    """Only markers whose name matches this glob."""
    tracks: tuple[str, ...] = ()
    """Only markers on these tracks (``"timeline"``: timeline markers)."""
    marker_time: MarkerTime = "auto"
    """Whether timeline marker times include the start timecode."""
    motion_prompt: str | None = None
    expressiveness: str | None = None
    resolution: str | None = None
    aspect_ratio: str | None = None
    takes: int | None = None
    handles: int = 0
    """Extra frames of audio and video before and after each section."""
    only: tuple[str, ...] = ()
    """Only these sections (name or slug); the others' finished clips stay in the output."""
    config_path: Path | None = None
    """Config file (default: ``otio-heygen.toml`` beside the timeline, else in the current folder)."""
    track_name: str = "Avatar IV"
    edl_rate: float | None = None
    """Frame rate of an EDL (EDLs do not record one); used when reading a file."""

    def __post_init__(self) -> None:
        for name in _PATHS:
            value = getattr(self, name, None)
            if value is not None and not isinstance(value, Path):
                object.__setattr__(self, name, Path(value))
        for name in _TUPLES:
            value = getattr(self, name, None)
            if value is not None and not isinstance(value, tuple):
                object.__setattr__(self, name, (value,) if isinstance(value, str) else tuple(value))

    @classmethod
    def field_names(cls) -> frozenset[str]:
        return frozenset(f.name for f in fields(cls))

    def with_changes(self: _O, changes: dict[str, Any]) -> _O:
        """A copy with ``changes`` applied (``TypeError`` naming an unknown option)."""
        unknown = sorted(set(changes) - self.field_names())
        if unknown:
            raise TypeError(f"unknown {type(self).__name__} option(s): {', '.join(unknown)}")
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return type(self)(**{**values, **changes})


@dataclass(frozen=True)
class RenderOptions(PlanOptions):
    """Everything ``render`` needs on top of the plan options."""

    backend: str | None = None
    """Name of the backend (``"preview"``, ``"heygen"`` or a plugin's): a library call must name one."""
    concurrency: int | None = None
    """Renders at once (default: the config's, else 10)."""
    budget_usd: float | None = None
    """Hard cap for this run: above it nothing is uploaded or created."""
    regenerate: tuple[str, ...] = ()
    """Render a new take of these sections (it becomes the main clip)."""
    fix_sync: bool = False
    """Shift clips whose lip-sync is off by more than a frame."""
    relative_paths: bool = False
    """``render_file`` only: media paths relative to the output timeline."""
    schema_version: str | None = None
    """``render_file`` only: write ``.otio`` schemas of this older OTIO release (e.g. ``"0.14.0"``)."""
