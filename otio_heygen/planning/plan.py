"""Sections + settings -> render jobs with content-hash keys, cost estimate and warnings (pure).

Per-section settings are resolved most specific first: the marker's note (``key: value``
lines), then the first matching ``[[looks]]`` of the config file, then CLI flags, then the
config file's ``[defaults]``, then built-in defaults.

A job key is the sha256 of the canonical JSON of everything that changes the render: the
photo's bytes (digest), the audio slice's samples (digest), the settings, the take and the
handles. Editing one section's note or audio changes only that section's key; renaming a
marker or moving it with its audio does not re-render.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, cast

from otio_heygen.config import FileConfig, LookSettings
from otio_heygen.errors import InputError, SectionError
from otio_heygen.planning.types import AspectRatio, Expressiveness, Fit, Job, Resolution, SectionSettings, audio_span
from otio_heygen.sections.model import Section

__all__ = [
    "KEY_VERSION",
    "Plan",
    "build_plan",
    "canonical_json",
    "check_regenerate",
    "content_hash",
    "job_key",
    "normalise_setting",
    "rekey",
    "resolve_section_settings",
    "select_only",
]

KEY_VERSION = 1
MAX_TAKES = 10
_MAX_OCCURRENCE = 1000

_RESOLUTIONS: dict[str, Resolution] = {
    "4k": "4k", "2160p": "4k", "uhd": "4k", "1080p": "1080p", "1080": "1080p", "hd": "1080p",
    "720p": "720p", "720": "720p",
}
_ASPECTS: dict[str, AspectRatio] = {a: a for a in ("16:9", "9:16", "4:5", "5:4", "1:1", "auto")}
_EXPRESSIVENESS: dict[str, Expressiveness] = {"high": "high", "medium": "medium", "low": "low"}
_FITS: dict[str, Fit] = {"cover": "cover", "contain": "contain"}
_TRUE = {"yes", "true", "1", "on", "y"}
_FALSE = {"no", "false", "0", "off", "n", ""}


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def content_hash(value: Any) -> str:
    return hashlib.sha256(canonical_json(value).encode("ascii")).hexdigest()


def normalise_setting(key: str, value: str, where: str) -> Any:
    """Check and normalise one setting value; ``where`` names its origin for the error."""
    raw = value.strip()
    low = raw.lower().replace("/", ":").replace("x", ":") if key == "aspect" else raw.lower()
    tables: dict[str, Mapping[str, str]] = {
        "resolution": _RESOLUTIONS, "aspect": _ASPECTS, "expressiveness": _EXPRESSIVENESS, "fit": _FITS,
    }
    if key in tables:
        table = tables[key]
        if low not in table:
            choices = ", ".join(sorted(set(table.values())))
            raise SectionError(f"{where}: {key} {raw!r} is not one of {choices}")
        return table[low]
    if key == "takes":
        try:
            takes = int(raw)
        except ValueError:
            takes = 0
        if not 1 <= takes <= MAX_TAKES:
            raise SectionError(f"{where}: takes must be a whole number from 1 to {MAX_TAKES} (got {raw!r})")
        return takes
    if key == "skip":
        if low not in _TRUE | _FALSE:
            raise SectionError(f"{where}: skip must be yes or no (got {raw!r})")
        return low in _TRUE
    return raw or None


def _look_layers(section: Section, file: FileConfig) -> list[LookSettings]:
    for look in file.looks:
        if fnmatch.fnmatchcase(section.name.lower(), look.match.lower()):
            return [look]
    return []


def resolve_section_settings(
    section: Section,
    *,
    cli: Mapping[str, Any],
    file: FileConfig,
    timeline_dir: Path,
    config_dir: Path | None,
    guessed: Mapping[str, str | None] | None = None,
) -> SectionSettings:
    """One section's settings. ``cli`` holds flag values (None = not given) under the
    setting names ``image, motion, expressiveness, resolution, aspect, fit, takes``;
    ``guessed`` the resolution/aspect matching the timeline's format."""
    where = f"section {section.name!r}"
    base = config_dir or timeline_dir
    layers: list[tuple[str, Mapping[str, Any], Path]] = [
        (f"{where} note", section.directives, timeline_dir)
    ]
    layers += [
        (f"{where} look {look.match!r}" if hasattr(look, "match") else where,
         look.model_dump(exclude_none=True), base)
        for look in _look_layers(section, file)
    ]
    layers.append(("command line", {k: v for k, v in cli.items() if v is not None}, Path.cwd()))
    layers.append(("config defaults", file.defaults.model_dump(exclude_none=True), base))
    layers.append(("timeline format", {k: v for k, v in (guessed or {}).items() if v}, timeline_dir))

    resolved: dict[str, Any] = {}
    for key in ("image", "motion", "expressiveness", "resolution", "aspect", "fit", "takes", "skip"):
        for origin, values, folder in layers:
            value = values.get(key)
            if value is None or (isinstance(value, str) and not value.strip()):
                continue  # not set here (an empty `image:` line must not become the folder itself)
            if key == "image":
                path = Path(str(value)).expanduser()
                resolved[key] = path if path.is_absolute() else (folder / path)
            elif isinstance(value, str):
                resolved[key] = normalise_setting(key, value, origin)
            else:
                resolved[key] = value
            break
    takes = int(resolved.get("takes", 1))
    if not 1 <= takes <= MAX_TAKES:
        raise SectionError(f"{where}: takes must be from 1 to {MAX_TAKES} (got {takes})")
    return SectionSettings(
        image=resolved.get("image"),
        motion_prompt=resolved.get("motion"),
        expressiveness=cast(Expressiveness, resolved.get("expressiveness", "medium")),
        resolution=cast(Resolution, resolved.get("resolution", "1080p")),
        aspect_ratio=cast(AspectRatio, resolved.get("aspect", "16:9")),
        fit=cast(Fit, resolved.get("fit", "cover")),
        takes=takes,
        skip=bool(resolved.get("skip", False)),
    )


def job_key(
    section: Section,
    settings: SectionSettings,
    take: int,
    handles: int,
    *,
    photo_digest: str | None,
    audio_digest: str | None,
    occurrence: int = 1,
) -> str:
    """The content hash that identifies one render."""
    audio = audio_digest or (
        f"frames:{max(0, section.start_frame - handles)}-{section.end_frame + handles}@{section.rate!r}"
    )
    return content_hash(
        {
            "v": KEY_VERSION,
            "photo": photo_digest or f"path:{settings.image}",
            "audio": audio,
            "motion_prompt": settings.motion_prompt,
            "expressiveness": settings.expressiveness,
            "resolution": settings.resolution,
            "aspect_ratio": settings.aspect_ratio,
            "fit": settings.fit,
            "take": take,
            "handles": handles,
            "occurrence": occurrence,
        }
    )


def rekey(job: Job, take: int, *, photo_digest: str | None, audio_digest: str | None) -> Job:
    """The same job as another take (``--regenerate``).

    Keeps the job's occurrence (see ``build_plan``), so regenerating two sections with the same
    audio and settings gives two distinct keys."""
    occurrence = next(
        (
            n
            for n in range(1, _MAX_OCCURRENCE + 1)
            if job_key(job.section, job.settings, job.take, job.handles_frames, photo_digest=photo_digest,
                       audio_digest=audio_digest, occurrence=n) == job.key
        ),
        1,
    )
    key = job_key(job.section, job.settings, take, job.handles_frames,
                  photo_digest=photo_digest, audio_digest=audio_digest, occurrence=occurrence)
    return replace(job, take=take, key=key)


@dataclass(frozen=True)
class Plan:
    sections: tuple[Section, ...]
    jobs: tuple[Job, ...]
    rate: float
    price_per_second: float
    warnings: tuple[str, ...]
    skipped: tuple[str, ...] = ()
    timecode_start: int = 0
    """The timeline's start (global_start_time) in frames, for display only."""
    left_out: tuple[Job, ...] = ()
    """Jobs of the sections ``--only`` leaves out, keyed as in a full run (their finished clips stay)."""
    ownership: Mapping[str, str] = field(default_factory=dict)
    """Per job key, what the account ledger says: ``new`` (to buy; the default), ``owned`` (bought
    before: free) or ``in_flight`` (paid, still rendering or its answer lost: free)."""

    def status_of(self, job: Job) -> str:
        return self.ownership.get(job.key, "new")

    def job_seconds(self, job: Job) -> float:
        return (job.audio_end_frame - job.audio_start_frame) / self.rate

    @property
    def total_seconds(self) -> float:
        """Seconds of video the plan's clips last (every take, handles included), bought or not."""
        return sum(self.job_seconds(j) for j in self.jobs)

    @property
    def to_buy_seconds(self) -> float:
        """Seconds of video that will be bought: the jobs the account does not own yet."""
        return sum(self.job_seconds(j) for j in self.jobs if self.status_of(j) == "new")

    @property
    def estimated_cost_usd(self) -> float:
        """What the render is expected to cost: only what will be bought."""
        return round(self.to_buy_seconds * self.price_per_second, 2)

    def _tally(self, status: str) -> dict[str, Any]:
        jobs = [j for j in self.jobs if self.status_of(j) == status]
        seconds = sum(self.job_seconds(j) for j in jobs)
        usd = round(seconds * self.price_per_second, 2) if status == "new" else 0.0
        return {"count": len(jobs), "seconds": round(seconds, 3), "usd": usd}

    def to_json(self) -> dict[str, Any]:
        return {
            "sections": [
                {
                    "index": j.section.index,
                    "name": j.section.name,
                    "take": j.take,
                    "start_frame": j.section.start_frame,
                    "end_frame": j.section.end_frame,
                    "rate": self.rate,
                    "seconds": round(j.section.seconds, 6),
                    "image": str(j.settings.image) if j.settings.image else None,
                    "motion_prompt": j.settings.motion_prompt,
                    "expressiveness": j.settings.expressiveness,
                    "resolution": j.settings.resolution,
                    "aspect_ratio": j.settings.aspect_ratio,
                    "color": j.section.color,
                    "job_key": j.key,
                    "media": j.media_basename,
                    "status": self.status_of(j),
                    "cost_usd": round(self.job_seconds(j) * self.price_per_second, 2)
                    if self.status_of(j) == "new" else 0.0,
                }
                for j in self.jobs
            ],
            "skipped": list(self.skipped),
            "total_seconds": round(self.total_seconds, 3),
            "estimated_cost_usd": self.estimated_cost_usd,
            "to_buy": self._tally("new"),
            "owned": self._tally("owned"),
            "in_flight": self._tally("in_flight"),
            "price_per_second_usd": self.price_per_second,
            "warnings": list(self.warnings),
        }


def build_plan(
    sections: Sequence[Section],
    settings: Sequence[SectionSettings],
    *,
    rate: float,
    handles: int,
    price_per_second: float,
    photo_digests: Mapping[Path, str],
    audio_digests: Mapping[tuple[int, int], str],
    warnings: Sequence[str] = (),
    timecode_start: int = 0,
    song_end_frame: int | None = None,
    only: Collection[int] | None = None,
) -> Plan:
    """One job per section and take, in timeline order; skipped sections are listed.

    ``only`` (section indices) keeps those sections' jobs in ``jobs`` and puts the others in
    ``left_out``; keys are computed over every section either way, so a section's key (and its
    occurrence among identical sections) is the same with or without ``--only``."""
    if handles < 0:
        raise SectionError(f"handles must be 0 or more frames (got {handles})")
    jobs: list[Job] = []
    left_out: list[Job] = []
    skipped: list[str] = []
    seen: dict[str, int] = {}
    for section, conf in zip(sections, settings, strict=True):
        chosen = only is None or section.index in only
        if conf.skip:
            if chosen:
                skipped.append(section.name)
            continue
        photo = photo_digests.get(conf.image) if conf.image else None
        audio = audio_digests.get(audio_span(section, handles, song_end_frame))
        for take in range(1, conf.takes + 1):
            key = job_key(section, conf, take, handles, photo_digest=photo, audio_digest=audio)
            seen[key] = seen.get(key, 0) + 1
            if seen[key] > 1:  # identical audio and settings in two sections: keep one job per section
                key = job_key(section, conf, take, handles, photo_digest=photo, audio_digest=audio,
                              occurrence=seen[key])
            (jobs if chosen else left_out).append(Job(
                section=section, take=take, settings=conf, handles_frames=handles, key=key,
                audio_limit_frame=song_end_frame,
            ))
    notes = list(warnings) + [f"section {name!r} skipped (skip: yes in its note)" for name in skipped]
    return Plan(
        sections=tuple(s for s in sections if only is None or s.index in only),
        jobs=tuple(jobs),
        rate=rate,
        price_per_second=price_per_second,
        warnings=tuple(notes),
        skipped=tuple(skipped),
        timecode_start=timecode_start,
        left_out=tuple(left_out),
    )


def select_only(sections: tuple[Section, ...], only: tuple[str, ...]) -> tuple[Section, ...]:
    """The sections named by ``--only`` (name or slug, any case); InputError for an unknown name."""
    if not only:
        return sections
    wanted = {name.casefold() for name in only}
    chosen = tuple(s for s in sections if s.name.casefold() in wanted or s.slug.casefold() in wanted)
    known = {s.name.casefold() for s in sections} | {s.slug.casefold() for s in sections}
    missing = sorted(n for n in only if n.casefold() not in known)
    if missing:
        names = ", ".join(s.name for s in sections)
        raise InputError(f"--only {missing[0]!r} matches no section; the sections are: {names}")
    return chosen


def check_regenerate(names: tuple[str, ...], found: tuple[Section, ...], jobs: tuple[Job, ...],
                     only: tuple[str, ...]) -> None:
    """Every ``--regenerate`` name must be a section this run renders (else exit 2, nothing spent)."""
    def matches(name: str, section: Section) -> bool:
        return name.casefold() in (section.name.casefold(), section.slug.casefold())

    for name in names:
        if any(matches(name, job.section) for job in jobs):
            continue
        if not any(matches(name, section) for section in found):
            listed = ", ".join(s.name for s in found)
            raise InputError(f"--regenerate {name!r} matches no section; the sections are: {listed}")
        if only:
            raise InputError(f"--regenerate {name!r} names a section left out by --only {', '.join(only)}",
                             hint="add it with --only too, or drop --only")
        raise InputError(f"--regenerate {name!r} names a section that is skipped (skip: yes in its note)")
