"""What the CLI prints: the plan table, live progress and the run summary.

Human output goes to stderr (progress, notices) and stdout (tables, summary); with ``--json``
stdout carries only JSON (one object per line for ``render``) and nothing else.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from types import TracebackType
from typing import Any

import click
import opentimelineio as otio
from rich import box
from rich.console import Console
from rich.table import Table

from otio_heygen import PlanResult, ProgressEvent, RenderedClip, RenderResult
from otio_heygen.results import PlannedSection

from .progress import ProgressSink, make_progress

__all__ = ["EventPrinter", "clip_json", "print_plan_table", "print_summary", "timecode"]


def timecode(frame: int, rate: float) -> str:
    """A display timecode for a frame count at ``rate`` (drop-frame at 29.97/59.94)."""
    try:
        return str(otio.opentime.to_timecode(otio.opentime.RationalTime(frame, rate), rate))
    except (ValueError, TypeError):
        return f"{frame}f"


def print_plan_table(plan: PlanResult, timeline: Path) -> None:
    console = Console()
    table = Table(title=f"{timeline.name}: {len(plan.sections)} render(s) at {plan.rate:.3f} fps",
                  title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    tc0 = plan.timecode_start
    show_takes = any(s.take > 1 for s in plan.sections)
    headers = ["#", "section", *(["take"] if show_takes else []), "start", "end", "secs", "cost", "photo", "expr."]
    rows = [
        [
            str(s.index), s.name, *([str(s.take)] if show_takes else []),
            timecode(tc0 + s.start_frame, plan.rate), timecode(tc0 + s.end_frame, plan.rate),
            f"{s.seconds:.2f}", _section_cost(s), s.image.name if s.image else "-", s.expressiveness,
            s.motion_prompt or "-",
        ]
        for s in plan.sections
    ]
    widths = [min(24, max([len(h)] + [len(r[i]) for r in rows])) for i, h in enumerate(headers)]
    for header, width in zip(headers, widths, strict=True):
        table.add_column(header, no_wrap=True, width=width, overflow="ellipsis")
    room = max(6, console.width - sum(widths) - 2 * len(widths) - 1)
    table.add_column("motion", no_wrap=True, width=room, overflow="ellipsis")
    for row in rows:
        table.add_row(*row)
    console.print(table)
    free = [s for s in plan.sections if s.status != "new"]
    if free:
        owned = sum(1 for s in free if s.status == "owned")
        flying = len(free) - owned
        parts = ([f"{owned} already owned by the account"] if owned else []) + (
            [f"{flying} already paid and in flight"] if flying else [])
        console.print(f"{' and '.join(parts)}: reused for free; {len(plan.sections) - len(free)} to buy")
    console.print(
        f"total {plan.total_seconds:.1f} s of video, {plan.to_buy_seconds:.1f} s to buy, estimated cost "
        f"${plan.estimated_cost_usd:.2f} (at ${plan.price_per_second:.3f}/s; an estimate, HeyGen bills what it renders)"
    )
    for warning in plan.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)


def _section_cost(section: PlannedSection) -> str:
    if section.status == "owned":
        return "owned"
    if section.status == "in_flight":
        return "in flight"
    return f"${section.cost_usd:.2f}"


def _stdout_gone() -> None:
    """Whoever read stdout went away (``| head -1``): send the rest to the null device so the run
    goes on and exits with the code its renders deserve (no EPIPE error, no flush traceback)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


class EventPrinter:
    """The ``on_event`` sink for ``render``: JSON lines with ``--json``, else notices and warnings
    as lines on stderr plus the live progress view when stderr is a terminal.

    Typed events become the dicts of the JSON-lines contract here, at the edge. ``notice`` (the
    CLI's default-backend notice) is shown just before the first event, i.e. once the input has been
    checked: a run refused for bad input prints only its error.
    """

    def __init__(self, *, as_json: bool, notice: str | None = None) -> None:
        self.as_json = as_json
        self._notice = notice
        self._sink: ProgressSink = make_progress(json_output=as_json)

    def __enter__(self) -> EventPrinter:
        self._sink.__enter__()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._sink.__exit__(kind, exc, tb)

    def __call__(self, typed: ProgressEvent) -> None:
        if self._notice is not None:
            notice, self._notice = self._notice, None
            self._show({"event": "notice", "message": notice})
        self._show(typed.to_dict())

    def _show(self, event: dict[str, Any]) -> None:
        if not self.as_json and event.get("event") in ("notice", "warning"):
            prefix = "warning: " if event.get("event") == "warning" else ""
            click.echo(f"otio-heygen: {prefix}{event.get('message')}", err=True)
            return
        try:
            self._sink(event)
        except BrokenPipeError:
            _stdout_gone()


def clip_json(clip: RenderedClip) -> dict[str, object]:
    """A clip as the ``--json`` result object lists it."""
    return {
        "section": clip.section, "take": clip.take, "start_frame": clip.start_frame, "end_frame": clip.end_frame,
        "media": str(clip.media), "video_id": clip.video_id, "job_key": clip.job_key,
        "sync_offset_ms": clip.sync_offset_ms, "bought": clip.bought, "reused": clip.reused,
    }


def print_summary(summary: RenderResult, *, as_json: bool) -> None:
    try:
        _print_summary(summary, as_json=as_json)
    except BrokenPipeError:
        _stdout_gone()


def _print_summary(summary: RenderResult, *, as_json: bool) -> None:
    if as_json:
        payload = {
            "event": "result",
            "output": str(summary.output_path),
            "media_dir": str(summary.media_dir),
            "backend": summary.backend,
            "rendered": summary.rendered,
            "reused": summary.reused,
            "spent_usd": round(summary.spent_usd, 2),
            "bought": {"count": summary.bought, "seconds": round(summary.bought_seconds, 3),
                       "usd": round(summary.spent_usd, 2)},
            "reused_seconds": round(summary.reused_seconds, 3),
            "failures": [{"section": f.title, "reason": f.reason} for f in summary.failures],
            "clips": [clip_json(clip) for clip in summary.clips],
        }
        sys.stdout.write(json.dumps(payload, default=str) + "\n")
        sys.stdout.flush()
        return
    click.echo(
        f"wrote {summary.output_path} ({len(summary.clips)} generated clip(s); media in {summary.media_dir}); "
        f"bought now: {summary.bought} ({summary.bought_seconds:.1f} s, ${summary.spent_usd:.2f}); "
        f"reused: {summary.reused} ({summary.reused_seconds:.1f} s, free) ({summary.backend})"
    )
    for failure in summary.failures:
        click.echo(f"failed: {failure.title}: {failure.reason}", err=True)
