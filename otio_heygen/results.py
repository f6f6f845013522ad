"""What ``plan`` and ``render`` return: frozen, documented dataclasses (no dicts).

Frames are whole frames on the timeline, counted from its first frame (``global_start_time``
excluded), at the timeline's own rate. ``PlanResult.to_json`` is the ``otio-heygen plan --json``
contract.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import opentimelineio as otio

from otio_heygen.planning.plan import Plan
from otio_heygen.planning.types import ClipResult, Job

__all__ = ["PlanResult", "PlannedSection", "RenderResult", "RenderedClip", "SectionFailure"]


@dataclass(frozen=True)
class PlannedSection:
    """One render of the plan: a section (one take of it) and its settings."""

    index: int
    """1-based position of the section in timeline order."""
    name: str
    take: int
    start_frame: int
    end_frame: int
    """Exclusive."""
    rate: float
    seconds: float
    """Length of the section (handles not included)."""
    image: Path | None
    motion_prompt: str | None
    expressiveness: str
    resolution: str
    aspect_ratio: str
    color: str
    job_key: str
    """What decides whether a rerun pays: the same key is never bought twice."""
    media_name: str
    """File name of its clip in the media folder (``03_Chorus_1_take1.mp4``)."""
    status: str = "new"
    """What the account ledger says: ``new`` (to buy), ``owned`` (bought before: free) or ``in_flight``
    (paid, still rendering or its answer lost: free). Always ``new`` without a configured account."""
    cost_usd: float = 0.0
    """Estimated cost of buying it (0 when owned or in flight)."""

    @classmethod
    def of(cls, job: Job, rate: float, plan: Plan | None = None) -> PlannedSection:
        s, conf = job.section, job.settings
        status = plan.status_of(job) if plan is not None else "new"
        cost = plan.job_seconds(job) * plan.price_per_second if plan is not None and status == "new" else 0.0
        return cls(
            index=s.index, name=s.name, take=job.take, start_frame=s.start_frame, end_frame=s.end_frame,
            rate=rate, seconds=s.seconds, image=conf.image, motion_prompt=conf.motion_prompt,
            expressiveness=conf.expressiveness, resolution=conf.resolution, aspect_ratio=conf.aspect_ratio,
            color=s.color, job_key=job.key, media_name=job.media_basename, status=status, cost_usd=round(cost, 2),
        )


@dataclass(frozen=True)
class PlanResult:
    """The sections a timeline makes, their settings and the estimated cost. Nothing spent."""

    timeline: otio.schema.Timeline
    """The timeline planned (as read; never modified)."""
    sections: tuple[PlannedSection, ...]
    rate: float
    timecode_start: int
    """The timeline's start timecode in frames (display only)."""
    total_seconds: float
    """Seconds of video the clips last (every take, handles included), bought or not."""
    estimated_cost_usd: float
    """What will be bought: sections the account owns or has in flight are free."""
    price_per_second: float
    warnings: tuple[str, ...]
    skipped: tuple[str, ...] = ()
    """Sections a marker note says to skip."""
    to_buy_seconds: float = 0.0
    """Seconds of video that will be bought (the ``new`` sections)."""

    @classmethod
    def of(cls, timeline: otio.schema.Timeline, plan: Plan) -> PlanResult:
        return cls(
            timeline=timeline, sections=tuple(PlannedSection.of(j, plan.rate, plan) for j in plan.jobs),
            rate=plan.rate, timecode_start=plan.timecode_start, total_seconds=plan.total_seconds,
            estimated_cost_usd=plan.estimated_cost_usd, price_per_second=plan.price_per_second,
            warnings=plan.warnings, skipped=plan.skipped, to_buy_seconds=plan.to_buy_seconds,
        )

    def _tally(self, status: str) -> dict[str, Any]:
        chosen = [s for s in self.sections if s.status == status]
        seconds = sum((s.end_frame - s.start_frame) / self.rate for s in chosen)
        usd = round(sum(s.cost_usd for s in chosen), 2)
        return {"count": len(chosen), "seconds": round(seconds, 3), "usd": usd}

    def to_json(self) -> dict[str, Any]:
        """The ``otio-heygen plan --json`` object."""
        return {
            "sections": [
                {
                    "index": s.index, "name": s.name, "take": s.take, "start_frame": s.start_frame,
                    "end_frame": s.end_frame, "rate": self.rate, "seconds": round(s.seconds, 6),
                    "image": str(s.image) if s.image else None, "motion_prompt": s.motion_prompt,
                    "expressiveness": s.expressiveness, "resolution": s.resolution, "aspect_ratio": s.aspect_ratio,
                    "color": s.color, "job_key": s.job_key, "media": s.media_name,
                    "status": s.status, "cost_usd": s.cost_usd,
                }
                for s in self.sections
            ],
            "skipped": list(self.skipped),
            "total_seconds": round(self.total_seconds, 3),
            "estimated_cost_usd": self.estimated_cost_usd,
            "to_buy": {**self._tally("new"), "seconds": round(self.to_buy_seconds, 3), "usd": self.estimated_cost_usd},
            "owned": self._tally("owned"),
            "in_flight": self._tally("in_flight"),
            "price_per_second_usd": self.price_per_second,
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True)
class RenderedClip:
    """A finished clip on the returned timeline."""

    section: str
    take: int
    start_frame: int
    """Where its section starts on the timeline."""
    end_frame: int
    """Where its section ends (exclusive)."""
    media: Path
    video_id: str | None
    """The render's id at the backend."""
    job_key: str
    sync_offset_ms: float | None
    """Measured lip-sync offset of the clip against the section audio (None: not measurable)."""
    sync_flagged: bool
    """True when the clip is more than a frame off."""
    cost_usd: float
    """What the render cost when it was bought (0 for a free backend)."""
    bought: bool
    """Bought (created) during this call."""
    reused: bool
    """Finished before this call and taken as it was (nothing sent to the backend)."""

    @classmethod
    def of(cls, result: ClipResult, *, bought: bool, reused: bool) -> RenderedClip:
        job, info = result.job, result.provenance
        sync = info.get("sync")
        cost = info.get("cost_usd")
        video_id = info.get("video_id")
        return cls(
            section=job.section.name, take=job.take, start_frame=job.section.start_frame,
            end_frame=job.section.end_frame, media=result.media_path,
            video_id=None if video_id is None else str(video_id), job_key=job.key,
            sync_offset_ms=None if result.sync_offset_ms is None else round(result.sync_offset_ms, 2),
            sync_flagged=bool(sync.get("flagged")) if isinstance(sync, dict) else False,
            cost_usd=float(cost) if isinstance(cost, (int, float)) else 0.0, bought=bought, reused=reused,
        )


@dataclass(frozen=True)
class SectionFailure:
    """A section (take) that did not render; run again to retry it (nothing paid is bought twice)."""

    section: str
    take: int
    title: str
    """The section's name, with ``(take N)`` after the first take."""
    reason: str


@dataclass(frozen=True)
class RenderResult:
    """What a render produced. Failed sections do not raise: they are in ``failures``."""

    timeline: otio.schema.Timeline
    """A copy of the input with the clips on new tracks (the input is never modified)."""
    clips: tuple[RenderedClip, ...]
    failures: tuple[SectionFailure, ...]
    backend: str
    media_dir: Path
    rendered: int
    """Clips rendered by this call: bought now, or bought by an interrupted run and finished now."""
    reused: int
    """Finished clips taken from earlier runs."""
    spent_usd: float
    """What this call bought (replays of a key and reuses of what the account owned are not spending)."""
    warnings: tuple[str, ...] = ()
    output_path: Path | None = None
    """Where ``render_file`` wrote the timeline (None for ``render``)."""
    bought_seconds: float = 0.0
    """Seconds of video bought by this call."""
    reused_seconds: float = 0.0
    """Seconds of video taken from what this output or the account already had (free)."""
    ledger: str | None = None
    """Where the account ledger is (a file path)."""
    bought: int = 0
    """Renders bought (created) by this call; ``rendered`` also counts resumed ones."""

    @staticmethod
    def failures_of(items: Iterable[tuple[Job, str]]) -> tuple[SectionFailure, ...]:
        return tuple(SectionFailure(job.section.name, job.take, job.title, reason) for job, reason in items)
