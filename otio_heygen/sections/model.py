"""Value types shared by the pure core: markers found on a timeline and the sections made from them.

Frames are always whole frames on the timeline, counted from its first frame
(``global_start_time`` excluded), at the timeline's own rate. ``rate`` is the exact float
OTIO uses for the timeline (for example ``24000/1001``); nothing here rescales between
near-identical NTSC rates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["FoundMarker", "Section", "slugify"]


@dataclass(frozen=True)
class FoundMarker:
    """One marker as found in the timeline, normalised to timeline frames."""

    name: str
    color: str
    text: str
    """Free text of the marker from any dialect (comment, Resolve note, fcp_xml comment...)."""
    start_frame: int
    duration_frames: int
    origin: str
    """Where it was found, for messages: ``"timeline"``, ``"track 'V1'"``, ``"clip 'song.wav'"``."""
    track: str | None = None
    """Name of the track the marker belongs to (track or clip markers), else None."""
    keywords: tuple[str, ...] = ()


@dataclass(frozen=True)
class Section:
    """A slice of the song that becomes one render (per take)."""

    index: int
    """1-based position in timeline order."""
    name: str
    slug: str
    """Unique, file-name-safe form of the name (``Chorus_1``, ``Chorus_1_2`` for duplicates)."""
    start_frame: int
    end_frame: int
    rate: float
    color: str = ""
    text: str = ""
    directives: dict[str, str] = field(default_factory=dict, hash=False, compare=True)
    """``key: value`` lines from the marker text (image, motion, expressiveness, ...)."""
    origin: str = "timeline"

    @property
    def duration_frames(self) -> int:
        return self.end_frame - self.start_frame

    @property
    def start_seconds(self) -> float:
        return self.start_frame / self.rate

    @property
    def end_seconds(self) -> float:
        return self.end_frame / self.rate

    @property
    def seconds(self) -> float:
        return self.duration_frames / self.rate


_UNSAFE = re.compile(r"[^A-Za-z0-9]+")


def slugify(name: str, fallback: str = "section") -> str:
    """A file-name-safe form of a section name: ``"Chorus 1!"`` -> ``"Chorus_1"``."""
    slug = _UNSAFE.sub("_", name).strip("_")
    return slug[:60] or fallback
