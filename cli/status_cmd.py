"""``otio-heygen status [OUTPUT]``: what the journal of an output says (no network, no key).

For an output timeline: its done sections, renders still running (and for how long), failures
with their reason, and the money spent, from that output's own journal
(``<output dir>/.otio-heygen/outputs/<name>.sqlite``); an output never rendered is exit 2. For a
folder: the same for every output rendered into it. An output rendered by an earlier version
(one journal shared by the folder) shows that shared journal, said so.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from otio_heygen.errors import OutputPathError
from otio_heygen.run.journal import JOURNAL_DIRNAME, Journal, journal_path
from otio_heygen.run.outputs import OutputJournal, open_output_journal, output_journals

from .progress import render_status, status_report

__all__ = ["output_dir_for", "status"]

SHARED_NOTE = "journal shared by every output of this folder (written by an earlier otio-heygen)"


def output_dir_for(output: Path) -> Path:
    """The folder holding the journals for an output timeline path or an output folder."""
    if output.is_dir():
        if output.name == JOURNAL_DIRNAME:
            return output.parent
        return output
    return output.parent if output.parent != Path("") else Path(".")


def _report(journal: Journal, output: str | None, note: str | None = None) -> dict[str, Any]:
    report = status_report(journal)
    report["output"] = output
    if note:
        report["note"] = note
    return report


def output_report(output: Path) -> dict[str, Any]:
    """The status of one output timeline; OutputPathError (exit 2) when it was never rendered."""
    try:
        journal: Journal = open_output_journal(output, create=False)
    except OutputPathError:
        legacy = journal_path(output_dir_for(output))
        if not (legacy.is_file() and output.is_file()):
            raise
        journal = Journal.open(output_dir_for(output), create=False)
        with journal:
            return _report(journal, str(output), SHARED_NOTE)
    with journal:
        return _report(journal, str(output))


def folder_reports(folder: Path) -> list[dict[str, Any]]:
    """The status of every output rendered into ``folder`` (exit 2 when there is none)."""
    reports = []
    for path in output_journals(folder):
        with OutputJournal.open_file(path) as journal:
            reports.append(_report(journal, journal.meta("output") or path.name.removesuffix(".sqlite")))
    if not reports and journal_path(folder).is_file():
        with Journal.open(folder, create=False) as journal:
            reports.append(_report(journal, None, SHARED_NOTE))
    if not reports:
        raise OutputPathError(
            f"No otio-heygen render in {folder}",
            hint="give an output timeline (or its folder) of an earlier otio-heygen render",
        )
    return reports


@click.command()
@click.argument("output", required=False, type=click.Path(path_type=Path), default=Path("."))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
def status(output: Path, as_json: bool) -> None:
    """Show what is done, rendering, failed and spent for OUTPUT (an output timeline), or for every
    output rendered into OUTPUT (a folder; JSON: {"outputs": [...]})."""
    if output.is_dir():
        reports = folder_reports(output_dir_for(output))
        if as_json:
            click.echo(json.dumps({"outputs": reports}, sort_keys=True, default=str))
            return
        console = Console(highlight=False)
        for index, report in enumerate(reports):
            if index:
                console.print()
            note = f" ({report['note']})" if "note" in report else ""
            console.print(f"[bold]{report['output'] or output}[/bold]{note}")
            render_status(report, console)
        return
    report = output_report(output)
    if as_json:
        click.echo(json.dumps(report, sort_keys=True, default=str))
        return
    console = Console(highlight=False)
    if "note" in report:
        console.print(f"({report['note']})")
    render_status(report, console)
