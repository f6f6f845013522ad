"""Value types of a render plan: per-section settings, jobs, and the render request a backend receives.

Pure data: no I/O. ``plan.py`` builds these; ``runner.py`` executes them; ``conform.py``
places their results.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from otio_heygen.sections.model import Section

__all__ = [
    "ClipResult",
    "Job",
    "RemoteStatus",
    "RenderRequest",
    "SectionSettings",
    "audio_span",
]

Resolution = Literal["4k", "1080p", "720p"]
AspectRatio = Literal["16:9", "9:16", "4:5", "5:4", "1:1", "auto"]
Expressiveness = Literal["high", "medium", "low"]
Fit = Literal["cover", "contain"]


@dataclass(frozen=True)
class SectionSettings:
    """Everything that shapes one section's render, after note > config look > CLI > defaults."""

    image: Path | None
    """The photo; None only in `plan` when none is configured (an error in `render`)."""
    motion_prompt: str | None = None
    expressiveness: Expressiveness = "medium"
    resolution: Resolution = "1080p"
    aspect_ratio: AspectRatio = "16:9"
    fit: Fit = "cover"
    takes: int = 1
    skip: bool = False


def audio_span(section: Section, handles: int, limit: int | None = None) -> tuple[int, int]:
    """Timeline frames of the audio sent for a section: the section plus ``handles`` on each side,
    never before the timeline's first frame nor past ``limit`` (the song's end), so handles never
    pay for silence."""
    start = max(0, section.start_frame - handles)
    end = section.end_frame + handles
    if limit is not None:
        end = max(section.end_frame, min(end, limit))
    return start, end


@dataclass(frozen=True)
class Job:
    """One render: a section, one take of it, its settings and its content-hash key."""

    section: Section
    take: int
    settings: SectionSettings
    handles_frames: int
    key: str
    """sha256 hex of the canonical JSON of everything that changes the render."""
    audio_limit_frame: int | None = None
    """Where the song ends on the timeline: handles stop there."""

    @property
    def audio_start_frame(self) -> int:
        """First timeline frame of the audio sent (section start minus handles, not before 0)."""
        return audio_span(self.section, self.handles_frames, self.audio_limit_frame)[0]

    @property
    def audio_end_frame(self) -> int:
        """Frame after the audio sent (section end plus handles, not past the song's end)."""
        return audio_span(self.section, self.handles_frames, self.audio_limit_frame)[1]

    @property
    def title(self) -> str:
        name = self.section.name
        return name if self.take == 1 else f"{name} (take {self.take})"

    @property
    def media_basename(self) -> str:
        """Stable, readable file name: ``03_Chorus_1_take1.mp4``."""
        return f"{self.section.index:02d}_{self.section.slug}_take{self.take}.mp4"


@dataclass(frozen=True)
class RenderRequest:
    """What a backend needs to create one render."""

    job_key: str
    title: str
    image_path: Path
    audio_path: Path
    seconds: float
    rate: float
    motion_prompt: str | None
    expressiveness: Expressiveness
    resolution: Resolution
    aspect_ratio: AspectRatio
    fit: Fit
    tag: str | None = None
    """Carried in the render's title on the service (``run.contract.render_tag``), to find it again."""


@dataclass(frozen=True)
class RemoteStatus:
    """A backend's view of one render."""

    state: Literal["rendering", "completed", "failed"]
    raw_status: str
    video_url: str | None = None
    duration: float | None = None
    failure_code: str | None = None
    failure_message: str | None = None


@dataclass(frozen=True)
class ClipResult:
    """A finished clip, ready to be conformed onto the timeline."""

    job: Job
    media_path: Path
    media_duration_frames: int
    """Length of the media file in timeline frames (its ``available_range``)."""
    provenance: dict[str, Any] = field(default_factory=dict)
    sync_offset_ms: float | None = None
