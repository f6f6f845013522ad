"""Progress events of a render, as typed dataclasses (one class per kind of event).

``otio_heygen.render`` and ``render_file`` call ``on_event`` with these while they work. Each event
knows its ``kind`` (the ``"event"`` value of the JSON-lines contract of ``otio-heygen render --json``)
and converts to and from that dict without losing anything: :func:`event_from_dict` turns what the
run layer emits into a typed event, :meth:`ProgressEvent.to_dict` gives back the very same dict (the
CLI prints that). Keys a kind does not model (or a value of ``None`` where the class uses ``None`` for
"absent") are kept in ``extra``, and a kind this module does not know becomes an :class:`OtherEvent`,
so a newer run layer never breaks a caller or the CLI's output.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

__all__ = [
    "ConcurrencyChanged",
    "CreatingStopped",
    "EventHandler",
    "Interrupted",
    "JobState",
    "Notice",
    "OtherEvent",
    "PlanWarning",
    "ProgressEvent",
    "RunFinished",
    "RunStarted",
    "Throttled",
    "TimelineWritten",
    "event_from_dict",
]


@dataclass(frozen=True, kw_only=True)
class ProgressEvent:
    """Base of every event. ``elapsed``: seconds since the run started (None for events outside it)."""

    kind: ClassVar[str] = ""
    elapsed: float | None = None
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    """Keys of the emitted dict this class does not model, kept for :meth:`to_dict`."""

    def to_dict(self) -> dict[str, Any]:
        """The event as the JSON-lines contract has it (``{"event": kind, ...}``); optional fields left at
        ``None`` are absent."""
        out: dict[str, Any] = {"event": self.kind}
        for f in dataclasses.fields(self):
            if f.name in ("extra", "elapsed"):
                continue
            value = getattr(self, f.name)
            if value is not None or f.default is dataclasses.MISSING:
                out[f.name] = value
        out.update(self.extra)
        if self.elapsed is not None:
            out["elapsed"] = self.elapsed
        return out


@dataclass(frozen=True, kw_only=True)
class Notice(ProgressEvent):
    """Something the user should know that is not a problem (backend chosen, balance unreadable...)."""

    kind: ClassVar[str] = "notice"
    message: str


@dataclass(frozen=True, kw_only=True)
class PlanWarning(ProgressEvent):
    """A warning about the input found while planning (silent section, small photo...)."""

    kind: ClassVar[str] = "warning"
    message: str


@dataclass(frozen=True, kw_only=True)
class RunStarted(ProgressEvent):
    """The run knows its work: ``jobs`` in all, ``reused`` already finished, ``to_render`` left."""

    kind: ClassVar[str] = "plan"
    jobs: int
    reused: int
    to_render: int
    estimated_cost_usd: float
    concurrency: int
    run_id: int


@dataclass(frozen=True, kw_only=True)
class JobState(ProgressEvent):
    """One job (a section's take) moved to ``state``: planned, uploading, waiting (for the account, on a
    team ledger: ``waiting_for`` says what), creating, rendering, downloading, encoding (``media_format``
    prores/dnxhr: ``remote`` says e.g. "ProRes 422 HQ 40%"), done or failed."""

    kind: ClassVar[str] = "state"
    key: str
    section: str
    index: int
    take: int
    state: str
    video_id: str | None = None
    remote: str | None = None
    """The backend's own status word while rendering; the format and progress while encoding."""
    cost_usd: float | None = None
    """Set when the render was created (bought) in this run."""
    error: str | None = None
    reused: bool | None = None
    """True when a finished clip was reused instead of rendered."""
    waiting_for: str | None = None
    """State ``waiting``: what for, e.g. "edit-suite-2's render (video v_123)" (``extra`` has its
    ``workstation``) or "a render slot: 10 of 10 in use across the team (...)" (``extra`` has
    ``slots_in_use`` and ``slot_limit``)."""


@dataclass(frozen=True, kw_only=True)
class Throttled(ProgressEvent):
    """The service asked to slow down: new creates wait ``retry_after`` s, ``allowed`` renders at once."""

    kind: ClassVar[str] = "rate_limited"
    retry_after: float | None
    allowed: int


@dataclass(frozen=True, kw_only=True)
class ConcurrencyChanged(ProgressEvent):
    """The number of renders allowed at once changed (back up after a slow-down)."""

    kind: ClassVar[str] = "concurrency"
    allowed: int


@dataclass(frozen=True, kw_only=True)
class CreatingStopped(ProgressEvent):
    """No new renders are started (key refused, credit out); paid renders are still fetched."""

    kind: ClassVar[str] = "stop_creating"
    reason: str


@dataclass(frozen=True, kw_only=True)
class Interrupted(ProgressEvent):
    """Ctrl-C: the run stops, leaving the journal resumable."""

    kind: ClassVar[str] = "interrupted"


@dataclass(frozen=True, kw_only=True)
class RunFinished(ProgressEvent):
    """Every job ended: ``done`` clips, ``failed`` jobs, ``created`` renders bought, ``spent_usd`` (``extra``
    carries ``bought_seconds`` and ``reused_seconds``: video bought now versus reused for free)."""

    kind: ClassVar[str] = "finished"
    done: int
    failed: int
    created: int
    reused: int
    spent_usd: float


@dataclass(frozen=True, kw_only=True)
class TimelineWritten(ProgressEvent):
    """``render_file`` wrote the output timeline (``output``) and its clips are in ``media_dir``."""

    kind: ClassVar[str] = "written"
    output: str
    media_dir: str


@dataclass(frozen=True, kw_only=True)
class OtherEvent(ProgressEvent):
    """An event of a kind this version does not model; ``data`` is the whole dict minus ``event``."""

    name: str
    data: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"event": self.name, **self.data}


EventHandler = Callable[[ProgressEvent], None]
"""What ``on_event`` receives."""

_KINDS: dict[str, type[ProgressEvent]] = {
    cls.kind: cls
    for cls in (
        Notice, PlanWarning, RunStarted, JobState, Throttled, ConcurrencyChanged, CreatingStopped,
        Interrupted, RunFinished, TimelineWritten,
    )
}  # fmt: skip


def event_from_dict(event: Mapping[str, Any]) -> ProgressEvent:
    """The typed event for one emitted dict (``to_dict`` of the result equals ``event``)."""
    name = str(event.get("event", ""))
    cls = _KINDS.get(name)
    if cls is None:
        return OtherEvent(name=name, data={k: v for k, v in event.items() if k != "event"})
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name not in ("extra", "elapsed")}
    values: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in event.items():
        if key == "event":
            continue
        if key in fields and not (value is None and fields[key].default is None):
            values[key] = value
        elif key != "elapsed" or not isinstance(value, (int, float)):
            extra[key] = value
    required = [n for n, f in fields.items() if f.default is dataclasses.MISSING]
    if any(n not in values for n in required):
        return OtherEvent(name=name, data={k: v for k, v in event.items() if k != "event"})
    elapsed = event.get("elapsed")
    return cls(**values, extra=extra, elapsed=elapsed if isinstance(elapsed, (int, float)) else None)
