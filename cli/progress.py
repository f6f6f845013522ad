"""What a run shows while it works, and what ``otio-heygen status`` reports afterwards.

Three sinks for the runner's events (plain dicts, see ``otio_heygen.run.runner.Event``):

- :class:`LiveProgress`: a ``rich`` live view on a terminal's stderr (one row per section
  and take with its state and how long it has been in it, an overall bar, elapsed time and
  the cost of the renders created so far);
- :class:`JsonLinesSink`: one JSON object per line (``--json``), nothing else;
- :class:`QuietSink`: nothing (stderr is not a terminal).

:func:`make_progress` picks one. :func:`render_status` prints the summary of a journal
(``otio_heygen.run.status.status_report``, no network call) as a table.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from otio_heygen.media.sync import MIN_CONFIDENCE
from otio_heygen.run.status import status_report

__all__ = [
    "JsonLinesSink",
    "LiveProgress",
    "ProgressSink",
    "QuietSink",
    "format_duration",
    "make_progress",
    "render_status",
    "status_report",
]

_STYLES = {
    "planned": "dim",
    "uploading": "cyan",
    "waiting": "dim cyan",
    "creating": "cyan",
    "rendering": "yellow",
    "downloading": "blue",
    "encoding": "magenta",
    "done": "green",
    "failed": "bold red",
    "interrupted": "bold yellow",
}


def _state_text(row: _Row) -> str:
    """``rendering (processing)``; ``waiting for edit-suite-2's render (video v_1)`` on a team ledger."""
    if not row.remote:
        return row.state
    return f"{row.state} {row.remote}" if row.state == "waiting" else f"{row.state} ({row.remote})"


def format_duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class ProgressSink:
    """Base sink: a callable for events, usable as a context manager."""

    def __call__(self, event: dict[str, object]) -> None:  # pragma: no cover - overridden
        pass

    def __enter__(self) -> ProgressSink:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        pass


class QuietSink(ProgressSink):
    """Shows nothing (output is not a terminal)."""

    def __call__(self, event: dict[str, object]) -> None:
        return None


class JsonLinesSink(ProgressSink):
    """One JSON object per event and line, flushed at once (``--json``)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._lock = threading.Lock()

    def __call__(self, event: dict[str, object]) -> None:
        line = json.dumps(event, sort_keys=True, default=str)
        with self._lock:
            self.stream.write(line + "\n")
            self.stream.flush()


@dataclass
class _Row:
    section: str
    index: int
    take: int
    state: str
    since: float
    remote: str = ""
    error: str = ""


class LiveProgress(ProgressSink):
    """A rich live table on a terminal (stderr)."""

    def __init__(self, console: Console, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.console = console
        self._clock = clock
        self._start = clock()
        self._rows: dict[str, _Row] = {}
        self._total = 0
        self._estimate = 0.0
        self._spent = 0.0
        self._notes: list[str] = []
        self._lock = threading.Lock()
        self._live = Live(console=console, get_renderable=self.render, refresh_per_second=4, transient=False)
        self._live.start()

    def __call__(self, event: dict[str, object]) -> None:
        kind = event.get("event")
        with self._lock:
            if kind == "plan":
                self._total = _int(event.get("jobs"))
                self._estimate = _float(event.get("estimated_cost_usd"))
            elif kind == "state":
                key = str(event.get("key"))
                state = str(event.get("state"))
                row = self._rows.get(key)
                if row is None:
                    row = _Row(
                        str(event.get("section")),
                        _int(event.get("index")),
                        _int(event.get("take")),
                        state,
                        self._clock(),
                    )
                    self._rows[key] = row
                if row.state != state:
                    row.state, row.since, row.remote = state, self._clock(), ""
                if event.get("remote"):
                    row.remote = str(event["remote"])
                if state == "waiting" and event.get("waiting_for"):
                    row.remote = f"for {event['waiting_for']}"
                if event.get("error"):
                    row.error = str(event["error"])
                if state == "rendering" and event.get("cost_usd") is not None:
                    self._spent += _float(event.get("cost_usd"))
            elif kind == "rate_limited":
                self._notes.append(f"HeyGen asked to slow down: {_int(event.get('allowed'))} renders at once")
            elif kind == "stop_creating":
                self._notes.append(f"No new renders: {event.get('reason')}")
            elif kind == "interrupted":
                self._notes.append(
                    "Stopping: renders already created are kept in the journal (Ctrl-C again to stop at once)"
                )
        self._live.refresh()

    def render(self) -> RenderableType:
        with self._lock:
            rows = sorted(self._rows.values(), key=lambda r: (r.index, r.take))
            now = self._clock()
            table = Table(box=None, pad_edge=False, show_header=True, header_style="bold")
            table.add_column("#", justify="right")
            table.add_column("Section")
            table.add_column("State")
            table.add_column("For", justify="right")
            for row in rows:
                name = row.section if row.take == 1 else f"{row.section} (take {row.take})"
                state = Text(_state_text(row), style=_STYLES.get(row.state, ""))
                if row.error:
                    state.append(f"  {row.error[:80]}", style="red")
                waited = "" if row.state in ("done", "failed") else format_duration(now - row.since)
                table.add_row(str(row.index), name, state, waited)
            done = sum(1 for r in rows if r.state == "done")
            failed = sum(1 for r in rows if r.state == "failed")
            total = max(self._total, len(rows), 1)
            summary = Text(
                f" {done}/{total} done"
                + (f", {failed} failed" if failed else "")
                + f"  elapsed {format_duration(now - self._start)}"
                + f"  spent ~${self._spent:.2f} of ~${self._estimate:.2f}"
            )
            bar = ProgressBar(total=total, completed=done + failed, width=40)
            parts: list[RenderableType] = [table, Group(bar, summary)]
            parts.extend(Text(note, style="yellow") for note in self._notes[-3:])
            return Group(*parts)

    def close(self) -> None:
        self._live.refresh()
        self._live.stop()


def make_progress(
    *, json_output: bool = False, stdout: TextIO | None = None, stderr: TextIO | None = None
) -> ProgressSink:
    """The sink for a run: JSON lines on stdout with ``--json``, a live view when stderr is a
    terminal, else nothing."""
    out = stdout if stdout is not None else sys.stdout
    err = stderr if stderr is not None else sys.stderr
    if json_output:
        return JsonLinesSink(out)
    if err.isatty():
        return LiveProgress(Console(file=err, stderr=True))
    return QuietSink()


def _int(value: object) -> int:
    return int(value) if isinstance(value, (int, float)) else 0


def _float(value: object) -> float:
    return float(value) if isinstance(value, (int, float)) else 0.0


def render_status(report: dict[str, Any], console: Console) -> None:
    """Print a status report as an editor reads it."""
    last = report.get("last_run")
    if last is not None:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(float(last["started_at"])))
        console.print(f"Last run {when} ({last['backend']}): {last['outcome']}")
    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("#", justify="right")
    table.add_column("Section")
    table.add_column("State")
    table.add_column("For", justify="right")
    table.add_column("Details")
    for job in report["jobs"]:
        name = job["section"] if job["take"] == 1 else f"{job['section']} (take {job['take']})"
        for_s = job["for_s"]
        if job["state"] == "failed":
            details = job["error"] or ""
        elif job["state"] == "done":
            details = Path(job["media"]).name if job["media"] else ""
            sync = job.get("sync")
            if sync and sync.get("confidence", 0) >= MIN_CONFIDENCE:
                ms, fr = round(sync["offset_ms"]) or 0, round(sync["offset_frames"], 1) + 0.0  # no "-0"
                offset = f"sync {ms:+d} ms ({fr:+.1f} fr)"
                details = f"{offset}{' OFF' if sync.get('flagged') else ''}  {details}"
        elif job["state"] == "interrupted" and job["video_id"]:
            details = f"video {job['video_id']} (paid: the next run picks it up)"
        else:
            details = f"video {job['video_id']}" if job["video_id"] else ""
        table.add_row(
            str(job["index"]),
            name,
            Text(job["state"], style=_STYLES.get(job["state"], "")),
            format_duration(for_s) if for_s is not None and job["state"] != "done" else "",
            details,
        )
    console.print(table)
    counts = report["counts"]
    bought, reused = report.get("bought") or {}, report.get("reused") or {}
    interrupted = f"{counts['interrupted']} interrupted, " if counts.get("interrupted") else ""
    console.print(
        f"{counts['done']} done, {counts['running']} running, {interrupted}{counts['failed']} failed, "
        f"{counts['waiting']} waiting - bought {bought.get('count', 0)} (${report['spent_usd']:.2f}), "
        f"reused {reused.get('count', 0)} (free)"
    )
    if (last or {}).get("alive"):
        console.print("A render is working on this output now; `status` again shows its progress.")
    elif counts["failed"] or counts["running"] or counts.get("interrupted") or counts["waiting"]:
        console.print(
            "Run the same render command again: failed sections are retried, renders already paid for "
            "are picked up, nothing is billed twice."
        )
    if report.get("older_jobs"):
        console.print(f"({report['older_jobs']} older journal entries are not part of the last run)")
