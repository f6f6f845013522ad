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

Names are imported on first use (``otio_heygen.render`` loads the pipeline, ``import otio_heygen``
alone does not), so OpenTimelineIO, which imports this package to find its plugin manifest, stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from otio_heygen.api import (
        get_backend,
        list_backends,
        plan,
        plan_file,
        render,
        render_file,
    )
    from otio_heygen.errors import (
        ApiError,
        BudgetExceededError,
        ConfigError,
        InputError,
        InterruptedRunError,
        MediaError,
        NoSectionsError,
        OtioHeygenError,
        OutputBusyError,
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
    from otio_heygen.media.photo import (
        PhotoInfo,
        inspect_photo,
    )
    from otio_heygen.options import (
        PlanOptions,
        RenderOptions,
    )
    from otio_heygen.output.conform import (
        GENERATED_KEY,
        is_generated_track,
    )
    from otio_heygen.planning.types import (
        RemoteStatus,
        RenderRequest,
    )
    from otio_heygen.results import (
        PlannedSection,
        PlanResult,
        RenderedClip,
        RenderResult,
        SectionFailure,
    )
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
    from otio_heygen.run.registry import (
        ENTRY_POINT_GROUP,
        Account,
        BackendSettings,
        HasAccount,
    )
    from otio_heygen.sections.model import (
        slugify,
    )

_EXPORTS: dict[str, str] = {
    "Account": "otio_heygen.run.registry",
    "ApiError": "otio_heygen.errors",
    "AssetKind": "otio_heygen.run.contract",
    "Backend": "otio_heygen.run.contract",
    "BackendError": "otio_heygen.run.contract",
    "BackendSettings": "otio_heygen.run.registry",
    "BudgetExceededError": "otio_heygen.errors",
    "ConcurrencyChanged": "otio_heygen.events",
    "ConfigError": "otio_heygen.errors",
    "CreatingStopped": "otio_heygen.events",
    "ENTRY_POINT_GROUP": "otio_heygen.run.registry",
    "EventHandler": "otio_heygen.events",
    "GENERATED_KEY": "otio_heygen.output.conform",
    "HasAccount": "otio_heygen.run.registry",
    "InputError": "otio_heygen.errors",
    "Interrupted": "otio_heygen.events",
    "InterruptedRunError": "otio_heygen.errors",
    "JobState": "otio_heygen.events",
    "MediaError": "otio_heygen.errors",
    "NoSectionsError": "otio_heygen.errors",
    "NotFound": "otio_heygen.run.contract",
    "Notice": "otio_heygen.events",
    "OtherEvent": "otio_heygen.events",
    "OtioHeygenError": "otio_heygen.errors",
    "OutOfCredit": "otio_heygen.run.contract",
    "OutputBusyError": "otio_heygen.errors",
    "OutputPathError": "otio_heygen.errors",
    "PhotoError": "otio_heygen.errors",
    "PlanOptions": "otio_heygen.options",
    "PlanResult": "otio_heygen.results",
    "PlanWarning": "otio_heygen.events",
    "PlannedSection": "otio_heygen.results",
    "ProgressEvent": "otio_heygen.events",
    "RateLimited": "otio_heygen.run.contract",
    "Refused": "otio_heygen.run.contract",
    "RemoteFailed": "otio_heygen.run.contract",
    "RemoteStatus": "otio_heygen.planning.types",
    "RenderFailedError": "otio_heygen.errors",
    "RenderOptions": "otio_heygen.options",
    "RenderRequest": "otio_heygen.planning.types",
    "RenderResult": "otio_heygen.results",
    "RenderTimeout": "otio_heygen.run.contract",
    "RenderedClip": "otio_heygen.results",
    "RunFinished": "otio_heygen.events",
    "RunStarted": "otio_heygen.events",
    "SectionError": "otio_heygen.errors",
    "SectionFailure": "otio_heygen.results",
    "Throttled": "otio_heygen.events",
    "TimelineFormatError": "otio_heygen.errors",
    "TimelineNotFoundError": "otio_heygen.errors",
    "TimelineWritten": "otio_heygen.events",
    "TransportError": "otio_heygen.run.contract",
    "Unauthorized": "otio_heygen.run.contract",
    "get_backend": "otio_heygen.api",
    "is_generated_track": "otio_heygen.output.conform",
    "list_backends": "otio_heygen.api",
    "plan": "otio_heygen.api",
    "plan_file": "otio_heygen.api",
    "render": "otio_heygen.api",
    "render_file": "otio_heygen.api",
    "slugify": "otio_heygen.sections.model",
    "inspect_photo": "otio_heygen.media.photo",
    "PhotoInfo": "otio_heygen.media.photo",
}

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
    "OutputBusyError",
    "OutputPathError",
    "PhotoError",
    "PhotoInfo",
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
    "inspect_photo",
    "is_generated_track",
    "list_backends",
    "plan",
    "plan_file",
    "render",
    "render_file",
    "slugify",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'otio_heygen' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
