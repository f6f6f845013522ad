"""From a timeline already read to a checked plan: song located, sections found, photos and audio hashed.

``prepare`` is the first half of both ``otio_heygen.plan`` and ``otio_heygen.render``. In ``render``
(``for_render``) a missing song or photo is an error raised before anything is spent; in ``plan`` it is
a warning and the sections are still listed. Paths inside the timeline resolve against ``base_dir``
(the timeline file's folder, or what the caller of an in-memory timeline says).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import opentimelineio as otio

from otio_heygen.config import Settings, load_settings
from otio_heygen.errors import MediaError, OtioHeygenError, PhotoError
from otio_heygen.media.audio import SongAudio
from otio_heygen.media.photo import file_digest, inspect_photo
from otio_heygen.media.song import SongLayout, locate_song
from otio_heygen.options import PlanOptions
from otio_heygen.planning.plan import Plan, build_plan, resolve_section_settings, select_only
from otio_heygen.planning.types import Job, SectionSettings, audio_span
from otio_heygen.read.formats import guess_render_format
from otio_heygen.read.timeline import check_rates, timeline_rate, timeline_start_frame
from otio_heygen.sections.markers import MarkerSelection, find_sections
from otio_heygen.sections.model import Section

__all__ = ["SILENCE_DBFS", "Prepared", "TimelineSource", "prepare"]

SILENCE_DBFS = -45.0
"""Below this RMS level a section is reported as having no vocal."""


@dataclass(frozen=True)
class TimelineSource:
    """A timeline and where the relative paths inside it (and its ``otio-heygen.toml``) are found."""

    timeline: otio.schema.Timeline
    base_dir: Path
    path: Path | None = None
    """The file it was read from, if any."""

    @property
    def anchor(self) -> Path:
        """The timeline file, or a name inside ``base_dir`` standing for it (readers use only its folder)."""
        return self.path if self.path is not None else self.base_dir.resolve() / "timeline.otio"


@dataclass
class Prepared:
    """A timeline's sections found and planned; the song open when available."""

    source: TimelineSource
    rate: float
    start_frame: int
    plan: Plan
    settings: Settings
    song: SongAudio | None
    layout: SongLayout | None
    found: tuple[Section, ...] = ()
    """Every section the markers make, before ``only``."""
    left_out: tuple[Job, ...] = ()
    """Jobs of the sections ``only`` leaves out (render only): their finished clips stay in the output."""


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


def _locate(source: TimelineSource, options: PlanOptions, rate: float, warnings: list[str]) -> (
    tuple[SongLayout | None, MediaError | None]
):
    try:
        layout = locate_song(
            source.timeline, source.anchor, audio_override=options.audio, media_root=options.media_root,
            drive_track=options.drive_track, rate=rate, require_media=True,
        )
    except MediaError as exc:
        warnings.append(exc.one_line())
        return None, exc
    return layout, None


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


def _section_settings(
    source: TimelineSource, sections: tuple[Section, ...], chosen: set[int], options: PlanOptions,
    settings: Settings, warnings: list[str], *, for_render: bool,
) -> tuple[list[tuple[Section, SectionSettings]], dict[Path, str]]:
    """Each section's settings (note > config look > options > guesses) and the digest of every photo."""
    guessed_res, guessed_aspect = guess_render_format(source.timeline)
    guessed = {"resolution": guessed_res, "aspect": guessed_aspect}
    timeline_dir = source.anchor.resolve().parent

    def settings_of(section: Section) -> SectionSettings:
        return resolve_section_settings(
            section, cli=_cli_settings(options), file=settings.file, timeline_dir=timeline_dir,
            config_dir=settings.config_dir, guessed=guessed,
        )

    digests: dict[Path, str] = {}
    confs: dict[int, SectionSettings] = {}
    for section in sections:  # the chosen sections first: their photos are validated, not just hashed
        if section.index in chosen:
            confs[section.index] = settings_of(section)
            _check_photo(section, confs[section.index], digests, warnings, for_render=for_render)
    for section in sections:
        if section.index in chosen:
            continue
        # left out by `only`: planned only so its key (and finished clip) matches a full run
        try:
            conf = settings_of(section)
            if conf.image is not None and conf.image not in digests:
                digests[conf.image] = file_digest(conf.image)
        except (OtioHeygenError, OSError):
            continue  # such a section has no finished clip to keep
        confs[section.index] = conf
    return [(s, confs[s.index]) for s in sections if s.index in confs], digests


def _audio_digests(
    song: SongAudio, planned: list[tuple[Section, SectionSettings]], chosen: set[int], options: PlanOptions,
    song_end: int | None, warnings: list[str],
) -> dict[tuple[int, int], str]:
    """The digest of every section's audio slice; a warning for each chosen section without a vocal."""
    digests: dict[tuple[int, int], str] = {}
    for section, conf in planned:
        a, b = audio_span(section, options.handles, song_end)
        digests[(a, b)] = song.slice_digest(a, b)
        silent = song.vocal_energy(section.start_frame, section.end_frame) < SILENCE_DBFS
        if section.index in chosen and not conf.skip and silent:
            where = f"track {options.drive_track!r}" if options.drive_track else "the song"
            warnings.append(f"section {section.name!r} has no audible vocal in {where}: the avatar will not sing")
    return digests


def prepare(
    source: TimelineSource, options: PlanOptions, *, for_render: bool, env: Mapping[str, str] | None = None
) -> Prepared:
    """Find sections, check inputs and plan. ``for_render`` turns missing media into errors."""
    settings = load_settings(config_path=options.config_path, timeline_path=source.anchor, env=env)
    timeline = source.timeline
    check_rates(timeline)
    rate = timeline_rate(timeline)
    warnings: list[str] = []
    layout, song_error = _locate(source, options, rate, warnings)
    selection = MarkerSelection(
        colors=options.colors, name_pattern=options.name_pattern, tracks=options.tracks,
        marker_time=options.marker_time, generated_track_prefix=options.track_name,
    )
    scan = find_sections(timeline, selection, song_end_frame=layout.end_frame if layout else None)
    if song_error is not None and for_render:
        raise song_error  # after the markers: a timeline without sections is told so first
    warnings.extend(scan.warnings)
    chosen = {s.index for s in select_only(scan.sections, options.only)}
    planned, photo_digests = _section_settings(
        source, scan.sections, chosen, options, settings, warnings, for_render=for_render
    )
    song: SongAudio | None = None
    if layout is not None:
        try:
            song = SongAudio(layout)
        except MediaError as exc:
            if for_render:
                raise
            warnings.append(exc.one_line())
    song_end = layout.end_frame if layout is not None and layout.clips else None
    audio_digests = _audio_digests(song, planned, chosen, options, song_end, warnings) if song is not None else {}
    start = timeline_start_frame(timeline)
    plan = build_plan(
        [s for s, _ in planned], [c for _, c in planned], rate=rate, handles=options.handles,
        price_per_second=settings.price_per_second, photo_digests=photo_digests, audio_digests=audio_digests,
        warnings=warnings, timecode_start=start, song_end_frame=song_end,
        only=chosen if options.only else None,
    )
    return Prepared(
        source=source, rate=rate, start_frame=start, plan=plan, settings=settings, song=song, layout=layout,
        found=scan.sections, left_out=plan.left_out if for_render and song is not None else (),
    )
