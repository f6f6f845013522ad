"""``otio-heygen status [OUTPUT]``: what the journal of an output says (no network, no key).

Done sections, renders still running (and for how long), failures with their reason, and the
money spent, read from ``<output dir>/.otio-heygen/journal.sqlite``.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console

from otio_heygen.run.journal import JOURNAL_DIRNAME, Journal

from .progress import render_status, status_report

__all__ = ["output_dir_for", "status"]


def output_dir_for(output: Path) -> Path:
    """The folder holding the journal for an output timeline path or an output folder."""
    if output.is_dir():
        if output.name == JOURNAL_DIRNAME:
            return output.parent
        return output
    return output.parent if output.parent != Path("") else Path(".")


@click.command()
@click.argument("output", required=False, type=click.Path(path_type=Path), default=Path("."))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
def status(output: Path, as_json: bool) -> None:
    """Show what is done, rendering, failed and spent for OUTPUT (an output timeline or its folder)."""
    with Journal.open(output_dir_for(output), create=False) as journal:
        report = status_report(journal)
    if as_json:
        click.echo(json.dumps(report, sort_keys=True, default=str))
        return
    render_status(report, Console(highlight=False))
