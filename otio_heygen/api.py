"""The front door's functions: ``plan`` and ``render`` on ``opentimelineio`` objects, ``plan_file`` and
``render_file`` on paths (the way OTIO offers ``read_from_string`` and ``read_from_file``), and the backends.

A render always names its backend (``backend="preview"``, ``"heygen"`` or an installed plugin's name, or
a backend object from :func:`get_backend`): nothing paid is ever chosen from the environment. Settings
that belong to HeyGen (``HEYGEN_API_KEY``, ``HEYGEN_API_URL``, the price, the asset cache) come from
``otio_heygen.config`` and are handed to the ``heygen`` backend only.

Errors are ``OtioHeygenError`` subclasses raised before anything is spent; failed sections do not raise,
they are listed in ``RenderResult.failures`` (the result holds every finished clip).
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import opentimelineio as otio

from otio_heygen.config import Settings, load_settings
from otio_heygen.errors import ConfigError, InterruptedRunError, NoSectionsError, OtioHeygenError
from otio_heygen.events import EventHandler, TimelineWritten, event_from_dict
from otio_heygen.media.transcode import check_frame_size
from otio_heygen.options import PlanOptions, RenderOptions
from otio_heygen.output.choose import apply_keepers, keepers_of
from otio_heygen.output.conform import conform
from otio_heygen.output.writer import check_output_path, check_schema_versions, relink_media, write_timeline
from otio_heygen.planning.plan import check_regenerate, parse_regenerate
from otio_heygen.preparing import Prepared, TimelineSource, prepare
from otio_heygen.read.formats import guess_frame_size
from otio_heygen.read.timeline import read_timeline
from otio_heygen.results import PlanResult, RenderedClip, RenderResult
from otio_heygen.run.contract import Backend
from otio_heygen.run.registry import BackendSettings, create_backend, list_backends
from otio_heygen.session import run_render, with_ownership
from otio_heygen.target import make_output_folder, media_dir_for, preflight_write, remove_if_empty, url_maker

__all__ = ["get_backend", "list_backends", "plan", "plan_file", "render", "render_file"]

PathLike = str | os.PathLike[str]
_O = TypeVar("_O", bound=PlanOptions)
Sleep = Callable[[float], None]
Clock = Callable[[], float]


def _options(cls: type[_O], options: PlanOptions | None, changes: dict[str, Any]) -> _O:
    base = options if options is not None else cls()
    if not isinstance(base, cls):  # PlanOptions given to render: carry its fields over
        base = cls(**{f.name: getattr(base, f.name) for f in dataclasses.fields(base)})
    return base.with_changes(changes) if changes else base


def _base_dir(base_dir: PathLike | None) -> Path:
    return Path(base_dir).expanduser() if base_dir is not None else Path.cwd()


def plan(
    timeline: otio.schema.Timeline,
    options: PlanOptions | None = None,
    *,
    base_dir: PathLike | None = None,
    env: Mapping[str, str] | None = None,
    **changes: Any,
) -> PlanResult:
    """The sections of ``timeline``, their settings and the estimated cost. No network; missing media
    are warnings. ``changes`` set ``PlanOptions`` fields (``image="artist.png"``...); relative paths
    inside the timeline resolve against ``base_dir`` (default: the current folder)."""
    opts = _options(PlanOptions, options, changes)
    return PlanResult.of(timeline, with_ownership(prepare(TimelineSource(timeline, _base_dir(base_dir)), opts,
                                                          for_render=False, env=env)))


def plan_file(
    path: PathLike, options: PlanOptions | None = None, *, env: Mapping[str, str] | None = None, **changes: Any
) -> PlanResult:
    """``plan`` for a timeline file of any supported format (paths inside it resolve against its folder)."""
    opts = _options(PlanOptions, options, changes)
    timeline_path = Path(path)
    timeline = read_timeline(timeline_path, edl_rate=opts.edl_rate)
    source = TimelineSource(timeline, timeline_path.resolve().parent, timeline_path)
    return PlanResult.of(timeline, with_ownership(prepare(source, opts, for_render=False, env=env)))


def _configured_for(name: str, settings: Settings) -> dict[str, Any]:
    """The configured settings a backend gets: HeyGen's key, URL, price and cache go to ``heygen`` only."""
    if name != "heygen":
        return {}
    if settings.key_error is not None:
        raise settings.key_error
    return {
        "api_key": settings.api_key.get_secret_value() if settings.api_key else None,
        "api_url": settings.api_url,
        "price_per_second": settings.price_per_second,
        "asset_cache": settings.asset_cache,
    }


def get_backend(name: str, *, env: Mapping[str, str] | None = None, **settings: Any) -> Backend:
    """The installed backend ``name`` built with ``settings`` (``api_key``, ``api_url``, ``price_per_second``,
    ``concurrency``, ``asset_cache``, or backend-specific ones). For ``heygen``, what is not given comes
    from the configuration (``HEYGEN_API_KEY``, ``otio-heygen.toml``...)."""
    configured = load_settings(env=env)
    return create_backend(name, BackendSettings.from_kwargs(
        {"concurrency": configured.concurrency, **_configured_for(name, configured), **settings}
    ))


def _require_backend(requested: str | Backend | None, opts: RenderOptions) -> None:
    """Refuse a render that names no backend, or one not installed, before any work."""
    if requested is not None and not isinstance(requested, str):
        return
    name = requested or opts.backend
    installed = list_backends()
    if not name:
        raise ConfigError("no backend named: a render must say which backend renders (nothing paid is chosen "
                          f"for you); installed: {', '.join(installed)}",
                          hint="pass backend='preview' to try it offline for free, or backend='heygen'")
    if name not in installed:
        create_backend(name, BackendSettings())  # raises the one "unknown backend" error


def _open_backend(
    requested: str | Backend | None, opts: RenderOptions, settings: Settings, overrides: Mapping[str, Any] | None,
    sleep: Sleep, clock: Clock,
) -> tuple[Backend, bool]:
    """The backend to render with, and whether this call built it (and so closes it)."""
    if requested is not None and not isinstance(requested, str):
        return requested, False
    name = requested or opts.backend
    assert name, "checked by _require_backend"
    values = {"concurrency": opts.concurrency or settings.concurrency, "sleep": sleep, "clock": clock,
              **_configured_for(name, settings), **(overrides or {})}
    return create_backend(name, BackendSettings.from_kwargs(values)), True


def _close(backend: Backend, owned: bool) -> None:
    close = getattr(backend, "close", None)
    if owned and callable(close):
        close()


def _checked(source: TimelineSource, opts: RenderOptions, env: Mapping[str, str] | None) -> Prepared:
    """``prepare`` for a render, plus the checks that need the whole plan."""
    prepared = prepare(source, opts, for_render=True, env=env)
    check_regenerate(opts.regenerate, prepared.found, prepared.plan.jobs, opts.only)
    check_frame_size(opts.media_format, guess_frame_size(source.timeline))
    if not prepared.plan.jobs:
        name = source.path.name if source.path is not None else (source.timeline.name or "the timeline")
        raise NoSectionsError(f"every section of {name} is skipped - nothing to render")
    return prepared


def _sink(on_event: EventHandler | None) -> Callable[[dict[str, Any]], None] | None:
    if on_event is None:
        return None
    return lambda raw: on_event(event_from_dict(raw))


def _execute(
    prepared: Prepared, opts: RenderOptions, backend: Backend, *, media_dir: Path, journal_dir: Path,
    url_for: Callable[[Path], str], on_event: EventHandler | None, sleep: Sleep, clock: Clock,
    keepers: Mapping[str, str] | None = None,
    output_label: str | None = None, output: Path | None = None,
) -> RenderResult:
    raw = _sink(on_event)
    for warning in prepared.plan.warnings:
        if raw is not None:
            raw({"event": "warning", "message": warning})

    def notice(message: str) -> None:
        if raw is not None:
            raw({"event": "notice", "message": message})

    outcome = run_render(prepared, opts, backend, media_dir=media_dir, journal_dir=journal_dir, on_raw_event=raw,
                         notice=notice, sleep=sleep, clock=clock, output_label=output_label, output=output)
    report = outcome.report
    # the takes chosen as keepers in the previous output (`otio-heygen choose`) stay on the main track
    regenerated = [parse_regenerate(value)[0] for value in opts.regenerate]  # NAME or NAME=TAKE
    placed = apply_keepers(report.results, keepers or {}, except_sections=regenerated)
    conformed = conform(prepared.source.timeline, placed, track_name=opts.track_name,
                        fix_sync=opts.fix_sync, url_for=url_for)
    return RenderResult(
        timeline=conformed,
        clips=tuple(RenderedClip.of(r, bought=r.job.key in outcome.created, reused=r.job.key in outcome.reused)
                    for r in report.results),
        failures=RenderResult.failures_of((f.job, f.reason) for f in report.failures),
        backend=backend.name, media_dir=media_dir, rendered=report.created + report.resumed,
        bought=report.created, reused=report.reused,
        spent_usd=report.spent_usd, warnings=prepared.plan.warnings,
        bought_seconds=report.bought_seconds, reused_seconds=report.reused_seconds, ledger=outcome.ledger,
    )


def render(
    timeline: otio.schema.Timeline,
    options: RenderOptions | None = None,
    *,
    backend: str | Backend | None = None,
    media_dir: PathLike,
    base_dir: PathLike | None = None,
    journal_dir: PathLike | None = None,
    env: Mapping[str, str] | None = None,
    on_event: EventHandler | None = None,
    backend_settings: Mapping[str, Any] | None = None,
    sleep: Sleep = time.sleep,
    clock: Clock = time.monotonic,
    **changes: Any,
) -> RenderResult:
    """Render every section of ``timeline`` with ``backend`` and return a copy of it with the clips placed.

    ``backend``: an installed backend's name or a backend object (``get_backend``); when not given,
    ``options.backend`` names it, and with neither the call is refused (``ConfigError``).

    Clips are written to ``media_dir``; the journal that makes reruns free goes to
    ``journal_dir/.otio-heygen/outputs/<media_dir name>.sqlite`` (default ``journal_dir``: the folder
    holding ``media_dir``, as ``render_file`` does).
    ``changes`` set ``RenderOptions`` fields; relative paths inside the timeline resolve against
    ``base_dir`` (default: the current folder). The returned timeline can be written anywhere: clip URLs
    are absolute ``file://`` URLs, and the input's relative media links are made absolute (resolved
    against ``base_dir``); ``timeline`` itself is never modified. ``on_event`` receives typed progress
    events (``otio_heygen.events``).
    """
    opts = _options(RenderOptions, options, changes)
    _require_backend(backend, opts)
    media = Path(media_dir).expanduser().resolve()
    base = _base_dir(base_dir).resolve()
    prepared = _checked(TimelineSource(timeline, base), opts, env)
    engine, owned = _open_backend(backend, opts, prepared.settings, backend_settings, sleep, clock)
    try:
        result = _execute(
            prepared, opts, engine, media_dir=media,
            journal_dir=Path(journal_dir).expanduser().resolve() if journal_dir is not None else media.parent,
            url_for=lambda path: Path(os.path.abspath(path)).as_uri(), on_event=on_event, sleep=sleep, clock=clock,
        )
    finally:
        _close(engine, owned)
    return dataclasses.replace(result, timeline=relink_media(result.timeline, input_dir=base, out_dir=media,
                                                             relative=False))


def render_file(
    path: PathLike,
    output: PathLike,
    options: RenderOptions | None = None,
    *,
    backend: str | Backend | None = None,
    env: Mapping[str, str] | None = None,
    on_event: EventHandler | None = None,
    backend_settings: Mapping[str, Any] | None = None,
    sleep: Sleep = time.sleep,
    clock: Clock = time.monotonic,
    **changes: Any,
) -> RenderResult:
    """``render`` from a timeline file to an output timeline file (any format the extension names).

    Clips go to ``<output stem>_media/`` beside the output, the output's journal to
    ``.otio-heygen/outputs/<output name>.sqlite`` there. The
    output is refused before anything is spent when it cannot be written (same file as the input,
    unknown extension, a format whose adapter cannot write this timeline); a run refused for bad input
    removes the folders it created. The input file is never modified; the output is written atomically.
    """
    opts = _options(RenderOptions, options, changes)
    _require_backend(backend, opts)
    timeline_path, output_path = Path(path), Path(output)
    if not timeline_path.exists():
        read_timeline(timeline_path)  # raises the one clear "not found" error
    created = make_output_folder(output_path)
    try:
        check_output_path(output_path, timeline_path)
        check_schema_versions(output_path, opts.schema_version)
        timeline = read_timeline(timeline_path, edl_rate=opts.edl_rate)
        prepared = _checked(TimelineSource(timeline, timeline_path.resolve().parent, timeline_path), opts, env)
        preflight_write(timeline, prepared.plan.jobs, output_path, track_name=opts.track_name,
                        relative=opts.relative_paths)
        engine, owned = _open_backend(backend, opts, prepared.settings, backend_settings, sleep, clock)
    except OtioHeygenError:
        remove_if_empty(created)  # bad input leaves nothing behind
        raise
    media_dir = media_dir_for(output_path)
    try:
        result = _execute(
            prepared, opts, engine, media_dir=media_dir, journal_dir=output_path.resolve().parent, output=output_path,
            url_for=url_maker(output_path, relative=opts.relative_paths), on_event=on_event, sleep=sleep, clock=clock,
            keepers=keepers_of(output_path),
            output_label=str(output_path.resolve()),
        )
    except OtioHeygenError as exc:
        if not isinstance(exc, InterruptedRunError):
            # the service never reached, or the run refused up front (budget, key): a journal it made
            # is gone (run.outputs.run_journal), so the folders it made are empty and go too
            remove_if_empty(created)
        raise
    finally:
        _close(engine, owned)
    write_timeline(result.timeline, output_path, input_path=timeline_path, schema_versions=opts.schema_version,
                   relative_paths=opts.relative_paths)
    if on_event is not None:
        on_event(TimelineWritten(output=str(output_path), media_dir=str(media_dir)))
    return dataclasses.replace(result, output_path=output_path)
