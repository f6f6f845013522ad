"""otio-heygen: a HeyGen Avatar IV clip for every section marker of an OpenTimelineIO timeline.

The front door::

    import opentimelineio as otio, otio_heygen
    cut = otio.adapters.read_from_file("cut.otio")
    result = otio_heygen.render(cut, image="artist.png", backend="preview", media_dir="out/cut_media")
    otio.adapters.write_to_file(result.timeline, "out/cut_avatar.otio")
    for clip in result.clips: print(clip.section, clip.start_frame, clip.sync_offset_ms)

``plan``/``render`` take and return ``opentimelineio`` objects; ``plan_file``/``render_file`` take
paths. Options, results and progress events are frozen dataclasses; every error is an
``OtioHeygenError`` (a backend raises the neutral ``BackendError`` family). A render names its
backend (``list_backends()``): nothing paid is chosen for you.
Backends are plugins of the ``otio_heygen.backends`` entry-point group, written against
``Backend`` (``otio_heygen.run.contract``) and built from ``BackendSettings``.
"""

from __future__ import annotations

from otio_heygen.api import get_backend, list_backends, plan, plan_file, render, render_file
from otio_heygen.errors import (
    ApiError,
    BudgetExceededError,
    ConfigError,
    InputError,
    InterruptedRunError,
    MediaError,
    NoSectionsError,
    OtioHeygenError,
    OutputPathError,
    PhotoError,
    RenderFailedError,
    SectionError,
    TimelineFormatError,
    TimelineNotFoundError,
)
from otio_heygen.events import (
    ConcurrencyChanged,
    CreatingStopped,
    EventHandler,
    Interrupted,
    JobState,
    Notice,
    OtherEvent,
    PlanWarning,
    ProgressEvent,
    RunFinished,
    RunStarted,
    Throttled,
    TimelineWritten,
)
from otio_heygen.options import PlanOptions, RenderOptions
from otio_heygen.output.conform import GENERATED_KEY, is_generated_track
from otio_heygen.planning.types import RemoteStatus, RenderRequest
from otio_heygen.results import PlannedSection, PlanResult, RenderedClip, RenderResult, SectionFailure
from otio_heygen.run.contract import (
    AssetKind,
    Backend,
    BackendError,
    NotFound,
    OutOfCredit,
    RateLimited,
    Refused,
    RemoteFailed,
    RenderTimeout,
    TransportError,
    Unauthorized,
)
from otio_heygen.run.registry import ENTRY_POINT_GROUP, Account, BackendSettings, HasAccount
from otio_heygen.sections.model import slugify

__all__ = [
    "ENTRY_POINT_GROUP",
    "GENERATED_KEY",
    "Account",
    "ApiError",
    "AssetKind",
    "Backend",
    "BackendError",
    "BackendSettings",
    "BudgetExceededError",
    "ConcurrencyChanged",
    "ConfigError",
    "CreatingStopped",
    "EventHandler",
    "HasAccount",
    "InputError",
    "Interrupted",
    "InterruptedRunError",
    "JobState",
    "MediaError",
    "NoSectionsError",
    "NotFound",
    "Notice",
    "OtherEvent",
    "OtioHeygenError",
    "OutOfCredit",
    "OutputPathError",
    "PhotoError",
    "PlanOptions",
    "PlanResult",
    "PlanWarning",
    "PlannedSection",
    "ProgressEvent",
    "RateLimited",
    "Refused",
    "RemoteFailed",
    "RemoteStatus",
    "RenderFailedError",
    "RenderOptions",
    "RenderRequest",
    "RenderResult",
    "RenderTimeout",
    "RenderedClip",
    "RunFinished",
    "RunStarted",
    "SectionError",
    "SectionFailure",
    "Throttled",
    "TimelineFormatError",
    "TimelineNotFoundError",
    "TimelineWritten",
    "TransportError",
    "Unauthorized",
    "get_backend",
    "is_generated_track",
    "list_backends",
    "plan",
    "plan_file",
    "render",
    "render_file",
    "slugify",
]
