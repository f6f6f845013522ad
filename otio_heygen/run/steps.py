"""What the job step and the runner share: the run's options, the render request of a job, the
failure vocabulary (:class:`Cancelled`, :class:`JobFailed`, :func:`describe_error`) and the
identity a job's events carry (:func:`ident`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from otio_heygen.errors import OtioHeygenError, PhotoError
from otio_heygen.planning.types import Job, RenderRequest
from otio_heygen.run.contract import Backend, render_tag
from otio_heygen.run.journal import job_seconds
from otio_heygen.run.poll import PollPolicy

__all__ = ["Cancelled", "JobFailed", "RunOptions", "build_request", "describe_error", "ident", "service_name"]


@dataclass(frozen=True)
class RunOptions:
    concurrency: int = 10
    budget_usd: float | None = None
    poll_deadline_s: float = 3 * 3600
    stuck_pending_s: float = 45 * 60
    poll_interval_s: float | None = None
    """None: the poll policy of ``otio_heygen.run.poll`` (5 % lag, 1-30 s); tests set a fixed interval."""
    recover_after: int = 2
    """Successful creates needed after a 429 before one more concurrent render is allowed."""
    longest_first: bool = True
    """Start the longest sections first (render time grows with length): the batch ends sooner."""

    def poll_policy(self) -> PollPolicy:
        if self.poll_interval_s is not None:
            return PollPolicy.fixed(self.poll_interval_s)
        return PollPolicy()


def build_request(job: Job, audio_path: Path) -> RenderRequest:
    settings = job.settings
    if settings.image is None:
        raise PhotoError(
            f"Section '{job.section.name}' has no photo", hint="pass --image or add 'image:' to its marker"
        )
    return RenderRequest(
        job_key=job.key,
        title=job.title,
        image_path=settings.image,
        audio_path=audio_path,
        seconds=job_seconds(job),
        rate=job.section.rate,
        motion_prompt=settings.motion_prompt,
        expressiveness=settings.expressiveness,
        resolution=settings.resolution,
        aspect_ratio=settings.aspect_ratio,
        fit=settings.fit,
        tag=render_tag(job.key),
    )


def describe_error(exc: BaseException) -> str:
    """One line for a job's failure reason."""
    if isinstance(exc, OtioHeygenError):
        return exc.one_line()
    text = " ".join(str(exc).split())
    if isinstance(exc, JobFailed):
        return text  # our own reason, already a sentence for the editor
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class Cancelled(Exception):
    """Ctrl-C: leave the job where the journal says it is."""


class JobFailed(Exception):
    """The job failed; the journal row is already updated (except the final ``failed`` state)."""


def service_name(backend: Backend) -> str:
    """The service's name for messages ("HeyGen" for ``heygen``)."""
    return str(getattr(backend, "display_name", backend.name))


def ident(job: Job) -> dict[str, Any]:
    return {"key": job.key, "section": job.section.name, "index": job.section.index, "take": job.take}
