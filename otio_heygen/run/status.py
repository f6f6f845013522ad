"""What an output's journal says about it, for ``otio-heygen status`` (no network, no key).

:func:`status_report` summarises one journal as a plain dict (the ``--json`` shape): every job of the
latest run with its state, the latest run and whether its process is still alive
(``otio_heygen.run.liveness``), and the money spent. A job left in an active state by a run whose
process is gone (killed, or stopped with Ctrl-C) is ``interrupted``, not ``running``: nothing works
on it until the same render command runs again (a render paid for is picked up then, not re-bought).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from otio_heygen.run.journal import Journal
from otio_heygen.run.journal_records import ACTIVE_STATES, JobRecord, RunRecord
from otio_heygen.run.liveness import Liveness, liveness, pid_alive, this_host

__all__ = ["status_report"]


def _sync_of(finish_info: dict[str, Any] | None) -> dict[str, Any] | None:
    """The lip-sync measurement a finished job recorded (offset in ms and frames, flagged)."""
    provenance = (finish_info or {}).get("provenance")
    sync = provenance.get("sync") if isinstance(provenance, dict) else None
    return sync if isinstance(sync, dict) else None


def _run_summary(run: RunRecord, seen: Liveness) -> dict[str, Any]:
    if seen.state == "alive":
        outcome = f"running ({seen.reason.removesuffix(' is rendering it')})"
    elif seen.state == "gone":
        outcome = f"interrupted: {seen.reason}"
    elif seen.state == "unknown":
        outcome = "running or killed"
    else:
        outcome = str(run.outcome)
    return {
        "id": run.id,
        "backend": run.backend,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "outcome": outcome,
        "alive": {"alive": True, "gone": False}.get(seen.state),
        "pid": run.pid,
        "host": run.host,
        "heartbeat_at": run.heartbeat_at,
    }


def _shown_state(record: JobRecord, working: bool) -> str:
    if record.state in ACTIVE_STATES and not working:
        return "interrupted"
    return record.state


def _job(record: JobRecord, state: str, wall: float) -> dict[str, Any]:
    since = wall - record.state_since if record.state_since is not None else None
    return {
        "section": record.section_name,
        "index": record.section_index,
        "take": record.take,
        "state": state,
        "journal_state": record.state,
        "for_s": round(since, 1) if since is not None else None,
        "video_id": record.video_id,
        "media": record.media_path,
        "error": record.error,
        "cost_usd": record.cost_usd if record.billed else 0.0,
        "bought": record.billed,
        "reused": record.state == "done" and not record.billed,
        "job_key": record.key,
        "sync": _sync_of(record.finish_info),
    }


def status_report(
    journal: Journal,
    *,
    now: float | None = None,
    host: str | None = None,
    is_alive: Callable[[int], bool] = pid_alive,
) -> dict[str, Any]:
    """What the journal knows: every job of the latest run with its state, and the money spent
    (all billed renders in the journal, earlier runs and edited-away sections included): ``bought``
    by this output versus ``reused`` (finished from what the account already owned: free)."""
    wall = time.time() if now is None else now
    runs = journal.runs()
    last = runs[-1] if runs else None
    every = journal.records()
    records = [r for r in every if r.last_run == last.id] if last is not None else every
    if not records:
        records = every
    seen = liveness(last, now=wall, host=host or this_host(), is_alive=is_alive) if last else Liveness("unknown")
    working = seen.state in ("alive", "unknown")
    counts = {"done": 0, "running": 0, "interrupted": 0, "failed": 0, "waiting": 0}
    jobs: list[dict[str, Any]] = []
    for record in records:
        state = _shown_state(record, working)
        bucket = "running" if record.state in ACTIVE_STATES and working else state
        counts[bucket if bucket in counts else "waiting"] += 1
        jobs.append(_job(record, state, wall))
    reused = [r for r in records if r.state == "done" and not r.billed]
    billed = [r for r in every if r.billed]
    return {
        "journal": str(journal.path),
        "last_run": None if last is None else _run_summary(last, seen),
        "jobs": jobs,
        "counts": counts,
        "older_jobs": len(every) - len(records),
        "spent_usd": round(journal.spent_usd(), 4),
        "bought": {
            "count": len(billed),
            "seconds": round(sum(r.seconds for r in billed), 3),
            "usd": round(journal.spent_usd(), 4),
        },
        "reused": {"count": len(reused), "seconds": round(sum(r.seconds for r in reused), 3)},
    }
