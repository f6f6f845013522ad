"""Which takes an output holds, declaratively: rerunning a command never buys a take twice.

``--takes N`` ensures takes 1..N of every section (the plan's jobs). ``--regenerate NAME=TAKE``
ensures take TAKE of that section exists (bought only if the output does not hold it yet) and
makes it the main clip. ``--regenerate NAME`` means one take past those the output held for the
section *when that regeneration was first asked for*: the take is recorded in the output's journal
(per section content, see ``Journal.choose_take``), so running the same command again (what the
CLI advises after a failure) finds it and buys nothing once it has succeeded.

The main clip of a section is the take asked for in this run, else the take chosen by an earlier
``--regenerate``, else (journals of earlier versions) the newest regenerated take; the other takes
the output holds (finished, or created and maybe paid) follow as alternates.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from otio_heygen.planning.plan import parse_regenerate
from otio_heygen.planning.types import Job
from otio_heygen.run.journal import Journal
from otio_heygen.run.journal_records import JobRecord

__all__ = ["plan_regenerations"]


def _holds(record: JobRecord) -> bool:
    """Whether the output holds the take: finished, or created (maybe paid) and resumable."""
    return (
        record.state == "done"
        or record.video_id is not None
        or record.state == "creating"
        or record.idempotency_key is not None  # create sent, answer lost: maybe paid, resume it
    )


@dataclass
class _Section:
    """One section's takes: the plan's, and those journaled for the same content."""

    group: list[Job]
    rekey: Callable[[Job, int], Job]
    journal: Journal

    def __post_init__(self) -> None:
        self.base = min(self.group, key=lambda j: j.take)
        self.family = self.base.key if self.base.take == 1 else self.rekey(self.base, 1).key
        self.plan_takes = {j.take: j for j in self.group}
        self.journaled = self.journal.takes_for(self.base.section.slug)
        self.extra: dict[int, tuple[Job, JobRecord]] = {}
        for record in self.journaled:
            if record.take in self.plan_takes or record.take in self.extra:
                continue
            candidate = self.rekey(self.base, record.take)
            if candidate.key == record.key:
                self.extra[record.take] = (candidate, record)

    def job(self, take: int) -> Job:
        if take in self.plan_takes:
            return self.plan_takes[take]
        if take in self.extra:
            return self.extra[take][0]
        return self.rekey(self.base, take)

    def usable(self, take: int) -> bool:
        return take in self.plan_takes or (take in self.extra and _holds(self.extra[take][1]))

    def next_take(self) -> int:
        """One past every take the output holds (or the plan asks for) for this content."""
        held = [t for t, (_, r) in self.extra.items() if _holds(r)]
        return max([*self.plan_takes, *held]) + 1

    def newest_regenerated(self) -> tuple[int, bool] | None:
        """The newest journaled take beyond the plan's that the output holds, and whether it is done."""
        held = sorted(((t, r) for t, (_, r) in self.extra.items() if _holds(r)), key=lambda x: -x[0])
        return (held[0][0], held[0][1].state == "done") if held else None


def _target(section: _Section, asked: int | None, notice: Callable[[str], None]) -> int:
    """The take a ``--regenerate`` of this section asks for, recorded in the journal."""
    journal, name = section.journal, section.base.section.name
    if asked is not None:
        journal.choose_take(section.family, section.base.section.slug, asked)
        return asked
    earlier = journal.regenerated_take(section.family)
    if earlier is not None:
        if section.usable(earlier) and earlier in section.extra and section.extra[earlier][1].state == "done":
            notice(f"--regenerate {name!r}: take {earlier}, asked for earlier, is already rendered and kept; "
                   f"for another take use --regenerate '{name}={section.next_take()}'")
        take = earlier
    else:
        newest = section.newest_regenerated()
        # an interrupted run of an earlier version left this regeneration unfinished: resume it
        take = newest[0] if newest is not None and not newest[1] else section.next_take()
    journal.choose_take(section.family, section.base.section.slug, take, regenerated=True)
    return take


def plan_regenerations(
    jobs: Sequence[Job],
    journal: Journal,
    names: Collection[str],
    rekey: Callable[[Job, int], Job],
    *,
    notice: Callable[[str], None] = lambda message: None,
) -> list[Job]:
    """The jobs to run for an output: the plan's, plus the takes ``names`` (``--regenerate``
    values, ``NAME`` or ``NAME=TAKE``, name or slug in any case) ask for, plus the takes the
    output already holds; per section the main clip first (see the module docstring)."""
    wanted: dict[str, int | None] = {}
    for value in names:
        name, take = parse_regenerate(value)
        wanted[name.casefold()] = take
    groups: dict[str, list[Job]] = {}
    for job in jobs:
        groups.setdefault(job.section.slug, []).append(job)
    out: list[Job] = []
    for slug, group in groups.items():
        section = _Section(group, rekey, journal)
        key = next((k for k in (section.base.section.name.casefold(), slug.casefold()) if k in wanted), None)
        head: Job | None = None
        if key is not None:
            head = section.job(_target(section, wanted[key], notice))
        else:
            chosen = journal.take_choice(section.family)
            if chosen is not None and section.usable(chosen):
                head = section.job(chosen)
            elif (newest := section.newest_regenerated()) is not None:
                head = section.job(newest[0])
        kept = [job for take, (job, record) in sorted(section.extra.items(), key=lambda x: -x[0])
                if _holds(record) and job != head]
        out.extend(([head] if head is not None else []) + kept + [j for j in group if j != head])
    return out
