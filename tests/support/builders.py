"""Builders for the core values tests need: sections and jobs, with sensible defaults.

One place builds ``Section`` and ``Job`` objects for tests, so a new field on either is added
here once instead of in every test module.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

from otio_heygen.planning.types import Job, SectionSettings
from otio_heygen.sections.model import Section, slugify

__all__ = ["make_job", "make_section", "rekey"]


def make_section(
    index: int = 1,
    name: str = "Chorus 1",
    start: int = 100,
    end: int = 340,
    rate: float = 25.0,
    color: str = "",
    *,
    directives: dict[str, str] | None = None,
) -> Section:
    """A section ``[start, end)`` in timeline frames at ``rate``."""
    return Section(
        index=index,
        name=name,
        slug=slugify(name),
        start_frame=start,
        end_frame=end,
        rate=rate,
        color=color,
        directives=dict(directives or {}),
    )


def rekey(job: Job, take: int) -> Job:
    """``job`` as take ``take``, with a key derived from the section's place and the take."""
    key = hashlib.sha256(f"{job.section.slug}|{job.section.start_frame}|take{take}".encode()).hexdigest()
    return dataclasses.replace(job, take=take, key=key)


def make_job(
    section: Section | None = None,
    *,
    take: int = 1,
    image: Path = Path("face.png"),
    key: str | None = None,
    handles_frames: int = 0,
) -> Job:
    """A job for ``section`` (default: ``make_section()``); its key is derived unless given."""
    base = Job(
        section=section or make_section(),
        take=take,
        settings=SectionSettings(image=image),
        handles_frames=handles_frames,
        key=key or "",
    )
    return base if key is not None else rekey(base, take)
