"""The whole job as library calls: read -> find sections -> plan -> render -> conform -> write.

Thin glue over the pure core (markers, plan, conform) and the one orchestrator (runner).
The CLI and the NLE bridges call ``plan_timeline`` and ``render_timeline``; nothing else
sequences the pipeline.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from otio_heygen.backends.heygen.backend import make_heygen_backend
from otio_heygen.backends.preview import PreviewBackend
from otio_heygen.config import Settings, load_settings
from otio_heygen.errors import (
    ConfigError,
    MediaError,
    NoSectionsError,
    OtioHeygenError,
    OutputPathError,
    PhotoError,
)
from otio_heygen.media.audio import SongAudio, SongLayout, locate_song, probe_media, write_upload_audio
from otio_heygen.media.photo import file_digest, inspect_photo
from otio_heygen.media.sync import MIN_CONFIDENCE, check_clip_sync
from otio_heygen.output.choose import apply_keepers, keepers_of
from otio_heygen.output.conform import conform
from otio_heygen.output.writer import check_output_path, check_schema_versions, media_url, url_style_for, write_timeline
from otio_heygen.planning.plan import Plan, build_plan, check_regenerate, rekey, resolve_section_settings, select_only
from otio_heygen.planning.types import ClipResult, Job, SectionSettings, audio_span
from otio_heygen.read.formats import guess_render_format
from otio_heygen.read.timeline import read_timeline, timeline_rate, timeline_start_frame
from otio_heygen.run.contract import Backend, Unauthorized
from otio_heygen.run.journal import Journal
from otio_heygen.run.runner import RunOptions, estimate_pending_cost, plan_regenerations, run_jobs
from otio_heygen.sections.markers import MarkerSelection, find_sections
from otio_heygen.sections.model import Section

__all__ = [
    "PlanOptions",
    "PreparedRun",
    "RenderOptions",
    "RunSummary",
    "plan_timeline",
    "prepare",
    "render_timeline",
]

SILENCE_DBFS = -45.0
"""Below this RMS level a section is reported as having no vocal."""

BackendName = Literal["heygen", "preview"]


@dataclass(frozen=True)
class PlanOptions:
    """Selection and settings shared by ``plan`` and ``render``."""

    image: Path | None = None
    audio: Path | None = None
    media_root: Path | None = None
    drive_track: str | None = None
    colors: tuple[str, ...] = ()
    name_pattern: str | None = None
    tracks: tuple[str, ...] = ()
    marker_time: Literal["auto", "absolute", "relative"] = "auto"
    motion_prompt: str | None = None
    expressiveness: str | None = None
    resolution: str | None = None
    aspect_ratio: str | None = None
    takes: int | None = None
    handles: int = 0
    only: tuple[str, ...] = ()
    config_path: Path | None = None
    track_name: str = "Avatar IV"
    edl_rate: float | None = None
    """Frame rate of an EDL (EDLs do not record one)."""


@dataclass(frozen=True)
class RenderOptions(PlanOptions):
    """Everything ``render`` needs on top of the plan options."""

    backend: BackendName | None = None
    concurrency: int | None = None
    budget_usd: float | None = None
    regenerate: tuple[str, ...] = ()
    relative_paths: bool = False
    fix_sync: bool = False
    schema_version: str | None = None


@dataclass
class RunSummary:
    """What a render produced."""

    output_path: Path
    media_dir: Path
    backend: str
    rendered: int
    reused: int
    failures: list[tuple[str, str]] = field(default_factory=list)
    spent_usd: float = 0.0
    clips: list[dict[str, object]] = field(default_factory=list)
    """Per clip: section, take, start_frame, end_frame, media path, video id, sync offset."""


EventSink = Callable[[dict[str, object]], None]


@dataclass
class PreparedRun:
    """A timeline read, its sections found and planned; the song open when available."""

    timeline_path: Path
    timeline: Any
    rate: float
    start_frame: int
    plan: Plan
    settings: Settings
    song: SongAudio | None
    layout: SongLayout | None
    found: tuple[Section, ...] = ()
    """Every section the markers make, before ``--only``."""
    left_out: tuple[Job, ...] = ()
    """Jobs of the sections ``--only`` leaves out (render only): their finished clips stay in the output."""


def _cli_settings(options: PlanOptions) -> dict[str, Any]:
    return {
        "image": str(options.image) if options.image else None,
        "motion": options.motion_prompt,
        "expressiveness": options.expressiveness,
        "resolution": options.resolution,
        "aspect": options.aspect_ratio,
        "fit": None,
        "takes": str(options.takes) if options.takes is not None else None,
    }


def prepare(
    timeline_path: Path,
    options: PlanOptions,
    *,
    for_render: bool,
    env: Mapping[str, str] | None = None,
) -> PreparedRun:
    """Read, find sections, check inputs and plan. ``for_render`` turns missing media into errors
    (``plan`` lists them as warnings)."""
    settings = load_settings(config_path=options.config_path, timeline_path=timeline_path, env=env)
    timeline = read_timeline(timeline_path, edl_rate=options.edl_rate)
    rate = timeline_rate(timeline)
    warnings: list[str] = []

    layout: SongLayout | None = None
    song_error: MediaError | None = None
    try:
        layout = locate_song(
            timeline, timeline_path, audio_override=options.audio, media_root=options.media_root,
            drive_track=options.drive_track, rate=rate, require_media=True,
        )
    except MediaError as exc:
        song_error = exc
        warnings.append(exc.one_line())

    selection = MarkerSelection(
        colors=options.colors, name_pattern=options.name_pattern, tracks=options.tracks,
        marker_time=options.marker_time, generated_track_prefix=options.track_name,
    )
    scan = find_sections(timeline, selection, song_end_frame=layout.end_frame if layout else None)
    if song_error is not None and for_render:
        raise song_error  # after the markers: a timeline without sections is told so first
    warnings.extend(scan.warnings)
    chosen = {s.index for s in select_only(scan.sections, options.only)}

    guessed_res, guessed_aspect = guess_render_format(timeline)
    guessed = {"resolution": guessed_res, "aspect": guessed_aspect}
    timeline_dir = timeline_path.resolve().parent

    def settings_of(section: Section) -> SectionSettings:
        return resolve_section_settings(
            section, cli=_cli_settings(options), file=settings.file, timeline_dir=timeline_dir,
            config_dir=settings.config_dir, guessed=guessed,
        )

    photo_digests: dict[Path, str] = {}
    confs: dict[int, SectionSettings] = {}
    for section in scan.sections:  # the chosen sections first: their photos are validated, not just hashed
        if section.index in chosen:
            confs[section.index] = settings_of(section)
            _check_photo(section, confs[section.index], photo_digests, warnings, for_render=for_render)
    for section in scan.sections:
        if section.index in chosen:
            continue
        # left out by --only: planned only so its key (and finished clip) matches a full run
        try:
            conf = settings_of(section)
            if conf.image is not None and conf.image not in photo_digests:
                photo_digests[conf.image] = file_digest(conf.image)
        except (OtioHeygenError, OSError):
            continue  # such a section has no finished clip to keep
        confs[section.index] = conf
    planned = [(s, confs[s.index]) for s in scan.sections if s.index in confs]

    song: SongAudio | None = None
    if layout is not None:
        try:
            song = SongAudio(layout)
        except MediaError as exc:
            if for_render:
                raise
            warnings.append(exc.one_line())
    song_end = layout.end_frame if layout is not None and layout.clips else None
    audio_digests: dict[tuple[int, int], str] = {}
    if song is not None:
        for section, conf in planned:
            a, b = audio_span(section, options.handles, song_end)
            audio_digests[(a, b)] = song.slice_digest(a, b)
            silent = song.vocal_energy(section.start_frame, section.end_frame) < SILENCE_DBFS
            if section.index in chosen and not conf.skip and silent:
                source = f"track {options.drive_track!r}" if options.drive_track else "the song"
                warnings.append(f"section {section.name!r} has no audible vocal in {source}: the avatar will not sing")

    plan = build_plan(
        [s for s, _ in planned], [c for _, c in planned], rate=rate, handles=options.handles,
        price_per_second=settings.price_per_second, photo_digests=photo_digests, audio_digests=audio_digests,
        warnings=warnings, timecode_start=timeline_start_frame(timeline), song_end_frame=song_end,
        only=chosen if options.only else None,
    )
    return PreparedRun(
        timeline_path=timeline_path, timeline=timeline, rate=rate, start_frame=timeline_start_frame(timeline),
        plan=plan, settings=settings, song=song, layout=layout, found=scan.sections,
        left_out=plan.left_out if for_render and song is not None else (),
    )


def _check_photo(
    section: Section, conf: SectionSettings, digests: dict[Path, str], warnings: list[str], *, for_render: bool
) -> None:
    """Validate a chosen section's photo (errors in ``render``, warnings in ``plan``) and hash it once."""
    if conf.skip or (conf.image is not None and conf.image in digests):
        return
    if conf.image is None:
        message = (f"no photo for section {section.name!r} - pass --image PHOTO, or add `image: file.png` "
                   "to the marker's note, or set image in otio-heygen.toml")
        if for_render:
            raise PhotoError(message)
        warnings.append(message)
        return
    try:
        info = inspect_photo(conf.image)
    except PhotoError as exc:
        if for_render:
            raise
        warnings.append(exc.one_line())
        return
    warnings.extend(info.warnings())
    digests[conf.image] = file_digest(conf.image)


def plan_timeline(timeline_path: Path, options: PlanOptions, *, env: Mapping[str, str] | None = None) -> Plan:
    """The plan for a timeline; no network, media may be missing (warnings)."""
    return prepare(timeline_path, options, for_render=False, env=env).plan


def choose_backend(
    options: RenderOptions,
    settings: Settings,
    *,
    notice: Callable[[str], None],
    sleep: Callable[[float], None],
    clock: Callable[[], float],
) -> Backend:
    name = options.backend
    if name is None:
        name = "heygen" if settings.api_key else "preview"
        if name == "preview":
            notice("HEYGEN_API_KEY is not set: rendering offline previews (--backend preview); nothing is spent")
    if name == "preview":
        return PreviewBackend()
    if settings.api_key is None:
        raise ConfigError("No HeyGen API key found - set HEYGEN_API_KEY or run with --backend preview")
    return make_heygen_backend(
        settings.api_key.get_secret_value(), settings.api_url,
        concurrency=options.concurrency or settings.concurrency, price_per_second=settings.price_per_second,
        asset_cache_path=settings.asset_cache, sleep=sleep, clock=clock,
    )


def _warn_if_over_balance(
    backend: Backend, pending_usd: float, budget_usd: float | None, notice: Callable[[str], None]
) -> None:
    """Before a paid run: warn when the estimate exceeds the account's balance (one GET)."""
    account = getattr(backend, "account", None)
    if account is None or pending_usd <= 0 or (budget_usd is not None and pending_usd > budget_usd):
        return  # preview, nothing to pay, or the budget check will refuse the run anyway
    try:
        balance = account().balance
    except Unauthorized as exc:  # a wrong key: every render would fail, stop before any upload
        raise ConfigError(exc.message, hint=exc.hint or "check HEYGEN_API_KEY") from exc
    except OtioHeygenError as exc:
        notice(f"could not read the HeyGen balance ({exc.one_line()}); continuing")
        return
    if balance is not None and pending_usd > balance:
        notice(f"warning: the estimate ${pending_usd:.2f} is more than the account balance ${balance:.2f}; "
               "renders will stop when the credit runs out (finished clips are kept)")


FRAGILE_OUTPUTS = (".xml", ".fcpxml")
"""Output formats whose OTIO adapters can fail on ordinary timelines (generators, NTSC rates)."""


def _preflight_write(prepared: PreparedRun, output_path: Path, media_dir: Path, options: RenderOptions) -> None:
    """Write the output once with placeholder clips to a scratch folder, so an adapter that cannot
    write this timeline fails before anything is uploaded or paid for."""
    if output_path.suffix.lower() not in FRAGILE_OUTPUTS:
        return
    placeholders = [
        ClipResult(job=job, media_path=media_dir / job.media_basename,
                   media_duration_frames=job.audio_end_frame - job.audio_start_frame)
        for job in prepared.plan.jobs
    ]
    style = url_style_for(output_path)
    trial = conform(
        prepared.timeline, placeholders, track_name=options.track_name,
        url_for=lambda path: media_url(path, output_path=output_path, relative=options.relative_paths, style=style),
    )
    with tempfile.TemporaryDirectory(prefix="otio-heygen-preflight-") as scratch:
        write_timeline(trial, Path(scratch) / output_path.name)


def _make_output_folder(output_path: Path) -> list[Path]:
    """Create the output's folder like ``mkdir -p`` (the path as given: ``new/../out`` makes both);
    returns the folders it created, deepest first, so a run refused for bad input can remove them."""
    folder = output_path.expanduser().parent
    if folder.exists() and not folder.is_dir():
        raise OutputPathError(f"the output folder {folder} is a file, not a folder",
                              hint="choose another -o path")
    if folder.is_dir():
        return []
    missing = [p for p in (folder, *folder.parents) if not p.exists()]
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputPathError(f"cannot create the output folder {folder}: {exc.strerror}",
                              hint="choose an output folder you can write to") from exc
    return missing


def _remove_if_empty(folders: list[Path]) -> None:
    for folder in folders:
        with contextlib.suppress(OSError):
            folder.rmdir()  # only empty folders go


def render_timeline(
    timeline_path: Path,
    output_path: Path,
    options: RenderOptions,
    *,
    env: Mapping[str, str] | None = None,
    on_event: EventSink | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> RunSummary:
    """Render every planned section and write the conformed timeline to ``output_path``.

    Raises ``OtioHeygenError`` subclasses for bad input before anything is spent. Failed sections
    do not raise: they are listed in ``RunSummary.failures`` (the output holds every finished clip).
    """
    emit: EventSink = on_event or (lambda event: None)
    if not timeline_path.exists():
        read_timeline(timeline_path)  # raises the one clear "not found" error
    created = _make_output_folder(output_path)

    def notice(message: str) -> None:
        emit({"event": "notice", "message": message})

    try:
        check_output_path(output_path, timeline_path)
        check_schema_versions(output_path, options.schema_version)
        prepared = prepare(timeline_path, options, for_render=True, env=env)
        plan = prepared.plan
        check_regenerate(options.regenerate, prepared.found, plan.jobs, options.only)
        if not plan.jobs:
            raise NoSectionsError(f"every section of {timeline_path.name} is skipped - nothing to render")
        output_dir = output_path.resolve().parent
        media_dir = output_dir / f"{output_path.stem}_media"
        _preflight_write(prepared, output_path, media_dir, options)
        backend = choose_backend(options, prepared.settings, notice=notice, sleep=sleep, clock=clock)
    except OtioHeygenError:
        _remove_if_empty(created)  # bad input leaves nothing behind
        raise
    song = prepared.song
    assert song is not None  # for_render: locate_song raised otherwise
    for warning in plan.warnings:
        emit({"event": "warning", "message": warning})
    rate = prepared.rate

    with Journal.open(output_dir) as journal:
        audio_dir = journal.path.parent / "audio"

        def rekey_job(job: Job, take: int) -> Job:
            image = job.settings.image
            photo = file_digest(image) if image else None
            audio = song.slice_digest(job.audio_start_frame, job.audio_end_frame)
            return rekey(job, take, photo_digest=photo, audio_digest=audio)

        jobs = plan_regenerations(plan.jobs, journal, options.regenerate, rekey_job)
        kept = plan_regenerations(prepared.left_out, journal, (), rekey_job)

        def prepare_audio(job: Job) -> Path:
            samples = song.cut(job.audio_start_frame, job.audio_end_frame)
            return write_upload_audio(samples, song.sample_rate, audio_dir / f"{job.key[:24]}.wav")

        def finish_clip(job: Job, media: Path, info: dict[str, object]) -> ClipResult:
            probed = probe_media(media)
            if not probed.has_video:
                raise MediaError(f"downloaded clip for {job.title!r} has no video stream: {media}")
            written = [audio_dir / f"{job.key[:24]}{suffix}" for suffix in (".wav", ".mp3")]
            sent = next((path for path in written if path.exists()), None) or prepare_audio(job)
            sync = check_clip_sync(media, sent, rate)
            provenance: dict[str, Any] = {**info, "sync": {
                "offset_ms": round(sync.offset_ms, 2), "offset_frames": round(sync.offset_frames, 3),
                "confidence": round(sync.confidence, 3), "flagged": sync.flagged,
            }}
            return ClipResult(
                job=job, media_path=media, media_duration_frames=max(1, round(probed.duration_seconds * rate)),
                provenance=provenance, sync_offset_ms=sync.offset_ms if sync.confidence >= MIN_CONFIDENCE else None,
            )

        _warn_if_over_balance(backend, estimate_pending_cost(jobs, journal, backend.price_per_second),
                              options.budget_usd, notice)
        run_options = RunOptions(
            concurrency=options.concurrency or prepared.settings.concurrency,
            budget_usd=options.budget_usd,
            poll_interval_s=prepared.settings.poll_interval,
        )
        report = run_jobs(
            jobs, backend=backend, journal=journal, prepare_audio=prepare_audio, finish_clip=finish_clip,
            media_dir=media_dir, options=run_options, on_event=on_event, sleep=sleep, clock=clock, keep=kept,
        )

    style = url_style_for(output_path)
    # the takes chosen as keepers in the previous output (`otio-heygen choose`) stay on the main track
    results = apply_keepers(report.results, keepers_of(output_path), except_sections=options.regenerate)
    conformed = conform(
        prepared.timeline, results, track_name=options.track_name, fix_sync=options.fix_sync,
        url_for=lambda path: media_url(path, output_path=output_path, relative=options.relative_paths, style=style),
    )
    write_timeline(conformed, output_path, input_path=timeline_path, schema_versions=options.schema_version)
    summary = RunSummary(
        output_path=output_path, media_dir=media_dir, backend=backend.name, rendered=report.created,
        reused=report.reused, spent_usd=report.spent_usd,
        failures=[(f.job.title, f.reason) for f in report.failures],
    )
    for result in report.results:
        job = result.job
        summary.clips.append({
            "section": job.section.name, "take": job.take, "start_frame": job.section.start_frame,
            "end_frame": job.section.end_frame, "media": str(result.media_path),
            "video_id": result.provenance.get("video_id"), "job_key": job.key,
            "sync_offset_ms": None if result.sync_offset_ms is None else round(result.sync_offset_ms, 2),
        })
    emit({"event": "written", "output": str(output_path), "media_dir": str(media_dir)})
    return summary
