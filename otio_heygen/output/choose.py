"""Choosing keepers: put a chosen take of a section on the main track and its other takes on the
disabled take tracks, by re-conforming the output with the clips it already has.

No network and no spend: everything comes from the output timeline itself (each generated clip's
provenance and media reference) and goes back through ``otio_heygen.output.conform.conform`` and
the atomic ``write_timeline``. The choice file the review page exports (``format``
``otio-heygen-choices/1``) is read here too.
"""

from __future__ import annotations

import json
import os
import urllib.parse
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import opentimelineio as otio

from otio_heygen.errors import InputError, OutputPathError
from otio_heygen.fsutil import create_temp_dir_beside, discard_temp
from otio_heygen.output.conform import conform
from otio_heygen.output.takes import OutputTakes, SectionTakes, Take, read_takes
from otio_heygen.output.writer import write_timeline
from otio_heygen.planning.types import ClipResult, Job, SectionSettings
from otio_heygen.read.timeline import read_timeline
from otio_heygen.sections.model import Section

__all__ = [
    "CHOICES_FORMAT",
    "ChoiceError",
    "Chosen",
    "apply_keepers",
    "choose_takes",
    "find_section",
    "keepers_of",
    "read_choices",
]

CHOICES_FORMAT = "otio-heygen-choices/1"

_RECOMPUTED = ("track_rank", "sync_offset_frames", "sync_shift_frames", "media_short_frames")
"""Provenance keys ``conform`` derives again from the new placement."""


class ChoiceError(InputError):
    """A section or take that is not in the output, or an unreadable choice file (exit 2)."""


@dataclass(frozen=True)
class Chosen:
    """One section's keeper after ``choose_takes``."""

    section: str
    take: int
    previous: int | None
    start_frame: int
    end_frame: int

    @property
    def changed(self) -> bool:
        return self.take != self.previous


def find_section(data: OutputTakes, ref: str | int) -> SectionTakes:
    """A section by number, slug (``Chorus_1``) or name (``Chorus 1``, case-insensitive)."""
    text = str(ref).strip()
    folded = text.casefold()
    tests: list[Callable[[SectionTakes], bool]] = [
        lambda s: text.isdigit() and s.index == int(text),
        lambda s: s.slug == text,
        lambda s: s.name == text,
        lambda s: folded in (s.name.casefold(), s.slug.casefold()),
    ]
    for match in tests:
        found = [s for s in data.sections if match(s)]
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise ChoiceError(f"{len(found)} sections are called {text!r}",
                              hint="give its number or slug: " + ", ".join(f"{s.index} ({s.slug})" for s in found))
    names = ", ".join(f"{s.index} {s.name}" for s in data.sections)
    raise ChoiceError(f"no section {text!r} in the output", hint=f"sections: {names}")


def read_choices(path: Path) -> list[tuple[str, int]]:
    """(section slug, take) pairs from a choice file exported by the review page (the number when a choice
    has no slug)."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ChoiceError(f"cannot read the choice file {path}: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise ChoiceError(f"the choice file {path} is not JSON ({exc})") from exc
    if not isinstance(doc, Mapping) or doc.get("format") != CHOICES_FORMAT or not isinstance(doc.get("choices"), list):
        raise ChoiceError(f"{path} is not an otio-heygen choice file",
                          hint="export it from the review page (Download choices)")
    pairs: list[tuple[str, int]] = []
    for item in doc["choices"]:
        if not isinstance(item, Mapping) or not isinstance(item.get("take"), int):
            raise ChoiceError(f"{path}: every choice needs a section and a take number, not {item!r}")
        ref = item.get("section", item.get("index"))  # the slug: unique, and wrong for another output
        if ref is None:
            raise ChoiceError(f"{path}: a choice without a section: {item!r}")
        pairs.append((str(ref), int(item["take"])))
    return pairs


def _job_of(take: Take) -> Job:
    prov = take.provenance
    sec = prov["section"]
    stored = prov.get("settings")
    settings: Mapping[str, Any] = stored if isinstance(stored, Mapping) else {}
    section = Section(
        index=int(sec["index"]), name=str(sec["name"]), slug=str(sec["slug"]),
        start_frame=int(sec["start_frame"]), end_frame=int(sec["end_frame"]), rate=float(sec["rate"]),
        color=str(sec.get("color") or ""),
    )
    conf = SectionSettings(
        image=Path(prov["photo"]) if prov.get("photo") else None,
        motion_prompt=prov.get("motion_prompt"),
        **{k: settings[k] for k in ("expressiveness", "resolution", "aspect_ratio", "fit", "takes") if k in settings},
    )
    # the audio sent started where the clip's source range says (minus any sync shift made at conform)
    source_start = take.source_start_frame - int(prov.get("sync_shift_frames") or 0)
    handles = section.start_frame - max(0, section.start_frame - source_start)
    return Job(section=section, take=take.take, settings=conf, handles_frames=max(0, handles),
               key=str(prov.get("job_key") or ""))


def _result_of(take: Take, output_path: Path) -> ClipResult:
    prov = {k: v for k, v in take.provenance.items() if k not in _RECOMPUTED}
    media = take.media_path or output_path.parent / f"{output_path.stem}_media" / str(prov.get("media_file"))
    offset = prov.get("sync_offset_ms")
    return ClipResult(
        job=_job_of(take), media_path=media,
        media_duration_frames=int(prov.get("media_duration_frames") or take.duration_frames),
        provenance=prov, sync_offset_ms=float(offset) if isinstance(offset, int | float) else None,
    )


@contextmanager
def _opened(output_path: Path) -> Iterator[otio.schema.Timeline]:
    """The output timeline; an ``.otioz`` is unpacked to a scratch folder its media references point into,
    so writing it bundles the same files again."""
    if output_path.suffix.lower() != ".otioz":
        yield read_timeline(output_path)
        return
    scratch = create_temp_dir_beside(output_path, ".choose")
    try:
        with zipfile.ZipFile(output_path) as bundle:
            bundle.extractall(scratch)
        timeline = read_timeline(output_path)
        for clip in timeline.find_clips():
            for ref in clip.media_references().values():
                url = getattr(ref, "target_url", None)
                if isinstance(url, str) and url and not urllib.parse.urlparse(url).scheme:
                    local = scratch / urllib.parse.unquote(url)
                    if local.is_file():
                        ref.target_url = local.resolve().as_uri()
        yield timeline
    finally:
        discard_temp(scratch)


def choose_takes(output_path: Path, picks: Sequence[tuple[str | int, int]]) -> list[Chosen]:
    """Make each picked take its section's main clip and rewrite ``output_path`` atomically.

    ``picks`` are (section number/slug/name, take number). Raises ``ChoiceError`` for an unknown section
    or take (nothing written). Sections not picked keep their main take."""
    output_path = Path(output_path)
    if not picks:
        raise ChoiceError("no section and take given", hint="e.g. otio-heygen choose OUTPUT 'Chorus 1' 2")
    with _opened(output_path) as timeline:
        data = read_takes(timeline, output_path)
        wanted: dict[int, int] = {}
        for ref, number in picks:
            section = find_section(data, ref)
            if section.find(number) is None:
                have = ", ".join(str(t.take) for t in sorted(section.takes, key=lambda t: t.take))
                raise ChoiceError(f"section {section.name!r} has no take {number}", hint=f"its takes: {have}")
            wanted[section.index] = number
        results: list[ClipResult] = []
        urls: dict[Path, str] = {}
        chosen: list[Chosen] = []
        for section in data.sections:
            main = section.main
            keeper = wanted.get(section.index, main.take if main else section.takes[0].take)
            ordered = sorted(section.takes, key=lambda t: (t.take != keeper, t.take))
            for take in ordered:
                result = _result_of(take, output_path)
                results.append(result)
                urls[result.media_path] = take.target_url
            chosen.append(Chosen(section.name, keeper, main.take if main else None,
                                 section.start_frame, section.end_frame))
        fix_sync = any(int(t.provenance.get("sync_shift_frames") or 0) for s in data.sections for t in s.takes)
        new = conform(timeline, results, url_for=lambda path: urls.get(path, path.resolve().as_uri()),
                      track_name=data.main_track_name, fix_sync=fix_sync)
        _check_output(output_path)
        write_timeline(new, output_path)
    return chosen


def _check_output(output_path: Path) -> None:
    if not os.access(output_path, os.W_OK):
        raise OutputPathError(f"{output_path} is not writable", hint="check its permissions")


def keepers_of(output_path: Path) -> dict[str, str]:
    """Section slug -> job key of the clip on the main track of an existing output (empty when there is no
    readable output with take details), so a new render keeps the keepers chosen in it."""
    output_path = Path(output_path)
    if not output_path.is_file() or output_path.suffix.lower() not in (".otio", ".otioz"):
        return {}
    try:
        data = read_takes(read_timeline(output_path), output_path)
    except (InputError, OSError, ValueError):
        return {}
    return {s.slug: str(s.main.provenance.get("job_key")) for s in data.sections if s.main is not None}


def apply_keepers(
    results: Sequence[ClipResult], keepers: Mapping[str, str], *, except_sections: Sequence[str] = ()
) -> list[ClipResult]:
    """``results`` with, per section, the clip whose job key ``keepers`` names moved first (the main clip),
    the others in their order. Sections named in ``except_sections`` (regenerated now) are left alone."""
    skip = {name.casefold() for name in except_sections}
    groups: dict[tuple[int, str], list[ClipResult]] = {}
    for result in results:
        groups.setdefault((result.job.section.index, result.job.section.slug), []).append(result)
    out: list[ClipResult] = []
    for (_, slug), group in groups.items():
        section = group[0].job.section
        key = keepers.get(slug)
        if key and section.name.casefold() not in skip and slug.casefold() not in skip:
            group = sorted(group, key=lambda r: r.job.key != key)  # stable: the others keep their order
        out.extend(group)
    return out


def describe(chosen: Sequence[Chosen]) -> list[str]:
    """One line per section whose keeper changed (for the CLI)."""
    return [f"{c.section}: take {c.take} on the main track (was take {c.previous})" for c in chosen if c.changed]


def to_json(chosen: Sequence[Chosen]) -> list[dict[str, Any]]:
    return [{"section": c.section, "take": c.take, "previous": c.previous, "changed": c.changed,
             "start_frame": c.start_frame, "end_frame": c.end_frame} for c in chosen]
