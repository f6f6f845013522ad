"""One render's run: the journal opened beside the media, every planned job driven through the backend.

Owns the glue between a prepared plan and the run layer: the section audio cut for each upload, each
downloaded clip probed and its lip-sync measured, new takes keyed for ``regenerate``, the balance
warning before a paid run (the run's first request: for a first render into a folder it is made
before the journal exists, so a service that cannot be reached leaves nothing behind), and which
clips this call bought or reused (read from the run's own events). The orchestration itself
(threads, budget, idempotency) is ``otio_heygen.run.runner``'s.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from otio_heygen.errors import ConfigError, MediaError, OtioHeygenError
from otio_heygen.fsutil import remove_stale_temps
from otio_heygen.media.audio import SongAudio
from otio_heygen.media.grade import masters_dir, place_clips
from otio_heygen.media.photo import file_digest
from otio_heygen.media.probe import probe_media
from otio_heygen.media.sync import MIN_CONFIDENCE, check_clip_sync
from otio_heygen.money import format_usd, usd_micros
from otio_heygen.options import RenderOptions
from otio_heygen.planning.plan import Plan, rekey
from otio_heygen.planning.types import ClipResult, Job
from otio_heygen.preparing import Prepared
from otio_heygen.read.formats import guess_frame_size
from otio_heygen.run.contract import Backend, Unauthorized, Unreachable, ledger_account_of
from otio_heygen.run.journal import JOURNAL_DIRNAME, job_seconds, journal_path
from otio_heygen.run.ledger import AccountLedger, account_for_key, open_ledger
from otio_heygen.run.outputs import output_journal_path, run_journal
from otio_heygen.run.registry import HasAccount
from otio_heygen.run.report import RunReport, estimate_pending_cost
from otio_heygen.run.reuse import AccountBook
from otio_heygen.run.runner import RunOptions, plan_regenerations, run_jobs
from otio_heygen.run.slots import open_slots

__all__ = ["RunOutcome", "run_render", "with_ownership"]

RawSink = Callable[[dict[str, Any]], None]


class ClipSteps:
    """What the runner asks of the pipeline for each job: its audio, its finished clip, a new take's key."""

    def __init__(self, song: SongAudio, audio_dir: Path, rate: float) -> None:
        self.song = song
        self.audio_dir = audio_dir
        self.rate = rate

    def rekey_job(self, job: Job, take: int) -> Job:
        image = job.settings.image
        photo = file_digest(image) if image else None
        audio = self.song.slice_digest(job.audio_start_frame, job.audio_end_frame)
        return rekey(job, take, photo_digest=photo, audio_digest=audio)

    def prepare_audio(self, job: Job) -> Path:
        dest = self.audio_dir / f"{job.key[:24]}.wav"
        return self.song.write_upload(job.audio_start_frame, job.audio_end_frame, dest)

    def sent_audio(self, job: Job) -> Path:
        """The audio uploaded for ``job`` (written again from the song when it is gone): the lip-sync reference."""
        written = [self.audio_dir / f"{job.key[:24]}{suffix}" for suffix in (".wav", ".mp3")]
        return next((path for path in written if path.exists()), None) or self.prepare_audio(job)

    def finish_clip(self, job: Job, media: Path, info: Mapping[str, object]) -> ClipResult:
        probed = probe_media(media)
        if not probed.has_video:
            raise MediaError(f"downloaded clip for {job.title!r} has no video stream: {media}")
        sync = check_clip_sync(media, self.sent_audio(job), self.rate)
        provenance: dict[str, Any] = {**info, "rendered_title": job.title, "sync": {
            "offset_ms": round(sync.offset_ms, 2), "offset_frames": round(sync.offset_frames, 3),
            "confidence": round(sync.confidence, 3), "flagged": sync.flagged,
        }}
        return ClipResult(
            job=job, media_path=media, media_duration_frames=max(1, round(probed.duration_seconds * self.rate)),
            provenance=provenance, sync_offset_ms=sync.offset_ms if sync.confidence >= MIN_CONFIDENCE else None,
        )


def _wants_balance(backend: Backend, pending_usd: float, budget_usd: float | None) -> bool:
    """A backend that cannot tell (no ``HasAccount``), nothing to pay, or a budget that refuses the run
    anyway: no request."""
    return isinstance(backend, HasAccount) and pending_usd > 0 and not (
        budget_usd is not None and pending_usd > budget_usd
    )


def _balance(backend: Backend, notice: Callable[[str], None]) -> float | None:
    """The account's balance (one request; None when it cannot be read now). Refused credentials
    (``ConfigError``) and a service that cannot be reached at all (``Unreachable``) stop the run here,
    before any upload."""
    assert isinstance(backend, HasAccount)
    try:
        return backend.account_info().balance
    except Unauthorized as exc:  # a wrong key: every render would fail, stop before any upload
        raise ConfigError(exc.message, hint=exc.hint or f"check the {backend.name} key") from exc
    except Unreachable:
        raise
    except OtioHeygenError as exc:
        notice(f"could not read the {backend.name} balance ({exc.one_line()}); continuing")
        return None


def warn_if_over_balance(
    backend: Backend,
    pending_usd: float,
    budget_usd: float | None,
    notice: Callable[[str], None],
    *,
    known: tuple[float | None] | None = None,
) -> None:
    """Before a paid run: warn when the estimate exceeds the account's balance (one request, unless
    ``known`` holds the balance read already)."""
    if known is not None:
        balance = known[0]
    elif _wants_balance(backend, pending_usd, budget_usd):
        balance = _balance(backend, notice)
    else:
        return
    if balance is not None and pending_usd > balance:
        estimate = format_usd(usd_micros(pending_usd))
        notice(f"warning: the estimate {estimate} is more than the account balance ${balance:.2f}; "
               "renders will stop when the credit runs out (finished clips are kept)")


@dataclass
class RunOutcome:
    """The runner's report plus which jobs this call created and which it reused."""

    report: RunReport
    created: set[str] = field(default_factory=set)
    reused: set[str] = field(default_factory=set)
    ledger: str | None = None
    """Where the account ledger is."""


class _Tracker:
    """Reads the run's events for what the report does not say per job; forwards them to the caller.

    A caller's handler that raises is dropped (progress never decides a job's fate), the tracking goes on.
    """

    def __init__(self, outcome: RunOutcome, forward: RawSink | None) -> None:
        self.outcome = outcome
        self.forward = forward

    def __call__(self, event: dict[str, Any]) -> None:
        if event.get("event") == "state":
            key = str(event.get("key"))
            if event.get("reused") is True:
                self.outcome.reused.add(key)
            elif event.get("state") == "rendering" and "cost_usd" in event:
                self.outcome.created.add(key)
        if self.forward is not None:
            try:
                self.forward(event)
            except Exception:
                self.forward = None


def _remove_stale_temps(media_dir: Path, journal_dir: Path, options: RenderOptions) -> None:
    """Before anything is written: the temp files an earlier run could not clean (killed, power lost)
    in the output's folder, its media folder and the journal's audio folder (``fsutil.remove_stale_temps``:
    only our own names, only when their process is gone; in our own folders also the names earlier
    versions used, once untouched for ten minutes)."""
    ours = [media_dir, masters_dir(media_dir, options.media_format), journal_dir / JOURNAL_DIRNAME / "audio"]
    remove_stale_temps([journal_dir, *ours], legacy_in=ours)


def run_render(
    prepared: Prepared,
    options: RenderOptions,
    backend: Backend,
    *,
    media_dir: Path,
    journal_dir: Path,
    output: Path | None = None,
    on_raw_event: RawSink | None,
    notice: Callable[[str], None],
    sleep: Callable[[float], None],
    clock: Callable[[], float],
    output_label: str | None = None,
) -> RunOutcome:
    """Render every planned job (clips in ``media_dir``) with the journal of ``output`` (the output
    timeline; default: one named after ``media_dir``) in ``journal_dir/.otio-heygen``. A run refused
    before any job started (budget, key) leaves no journal behind (``run.outputs.run_journal``).

    With a grade ``media_format`` HeyGen's files go to ``media_dir/masters/`` and the clips placed are
    the ``.mov`` files ``otio_heygen.media.grade`` makes from them in ``media_dir``.

    The account ledger (``settings.ledger``) is consulted before anything is bought and told about
    every purchase and verified copy; ``output_label`` (the output timeline) is recorded as using them.
    """
    song = prepared.song
    assert song is not None  # for_render: prepare raised otherwise
    _remove_stale_temps(media_dir, journal_dir, options)
    outcome = RunOutcome(report=RunReport([], [], 0.0, 0, 0))
    identity = journal_dir / (output.name if output is not None else media_dir.name)
    known: tuple[float | None] | None = None
    if not output_journal_path(identity).exists() and not journal_path(journal_dir).exists():
        # a first render here: reach the service before writing anything (a rerun may need no network
        # at all, so there it is asked only once the journal says what is still to pay)
        unique = {job.key: job for job in prepared.plan.jobs}.values()
        pending = round(sum(job_seconds(job) for job in unique) * backend.price_per_second, 6)
        if _wants_balance(backend, pending, options.budget_usd):
            known = (_balance(backend, notice),)
    settings = prepared.settings
    store = open_ledger(settings.ledger, workstation=settings.workstation)
    with contextlib.closing(store), run_journal(identity, backend=backend.name, media_dir=media_dir) as journal:
        ledger = AccountLedger(store, ledger_account_of(backend))
        outcome.ledger = store.location
        steps = ClipSteps(song, journal_dir / JOURNAL_DIRNAME / "audio", prepared.rate)
        jobs = plan_regenerations(prepared.plan.jobs, journal, options.regenerate, steps.rekey_job, notice=notice)
        kept = plan_regenerations(prepared.left_out, journal, (), steps.rekey_job)
        book = AccountBook(ledger, backend, now=journal.now, output=None)
        warn_if_over_balance(backend, estimate_pending_cost(jobs, journal, backend.price_per_second, book),
                             options.budget_usd, notice, known=known)
        run_options = RunOptions(
            concurrency=options.concurrency or prepared.settings.concurrency,
            budget_usd=options.budget_usd,
            poll_interval_s=prepared.settings.poll_interval,
        )
        # the account's render slots and job claims: shared by every workstation on a team ledger
        slots = open_slots(store, ledger.account, run_options.concurrency, workstation=settings.workstation,
                           lease_s=settings.slot_lease_s)
        tracker = _Tracker(outcome, on_raw_event)
        with contextlib.closing(slots):
            report = run_jobs(
                jobs, backend=backend, journal=journal, prepare_audio=steps.prepare_audio,
                finish_clip=steps.finish_clip, media_dir=masters_dir(media_dir, options.media_format),
                options=run_options, on_event=tracker, sleep=sleep, clock=clock, keep=kept, ledger=ledger,
                output_label=output_label, slots=slots,
            )
        placed = place_clips(
            report.results, media_format=options.media_format, media_dir=media_dir, rate=prepared.rate,
            start_frame=prepared.start_frame, size=guess_frame_size(prepared.source.timeline),
            sent_audio=steps.sent_audio, emit=tracker,
        )
        outcome.report = dataclasses.replace(report, results=placed)
    return outcome


def with_ownership(prepared: Prepared) -> Plan:
    """The plan with each job's standing in the configured HeyGen account's ledger (``owned``,
    ``in_flight`` or ``new``), so the estimate counts only what will be bought. No network; without a
    configured key the plan is returned as it is (every job ``new``)."""
    settings = prepared.settings
    if settings.api_key is None:
        return prepared.plan
    account = account_for_key("heygen", settings.api_key.get_secret_value())
    store = open_ledger(settings.ledger, workstation=settings.workstation)
    try:
        ownership = AccountLedger(store, account).statuses([job.key for job in prepared.plan.jobs])
    finally:
        store.close()
    return dataclasses.replace(prepared.plan, ownership=ownership)
