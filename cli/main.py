"""The ``otio-heygen`` command line: thin click commands over the front door (``otio_heygen.plan_file``,
``otio_heygen.render_file``).

``main()`` is the one place where library errors become one-line messages and exit codes:
0 all sections rendered, 1 some failed (output still written), 2 bad input or usage
(nothing spent), 3 internal error (a bug: one line asking to report it), 130 interrupted.
Tracebacks are shown only with ``OTIO_HEYGEN_DEBUG=1``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any, NoReturn

import click

import otio_heygen
from otio_heygen import PlanOptions, RenderOptions
from otio_heygen.errors import OtioHeygenError, RenderFailedError, StopNow
from otio_heygen.fsutil import remove_live_temps

from .account_cmd import account
from .doctor_cmd import doctor
from .key_cmd import key
from .ledger_cmd import ledger
from .options import PATH, backend_for, plan_kwargs, plan_options, spending_options
from .output import EventPrinter, print_plan_table, print_summary
from .resolve_cmd import premiere, resolve
from .review_cmd import choose, review
from .status_cmd import status

__all__ = ["cli", "main"]

@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(package_name="otio-heygen")
def cli() -> None:
    """Render a HeyGen Avatar IV clip for every section marker of an editing timeline and place
    the clips frame-exactly on a new video track."""


@cli.command()
@click.argument("timeline", type=PATH)
@plan_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
def plan(timeline: Path, as_json: bool, **kwargs: Any) -> None:
    """Show the sections, settings and estimated cost. No network, nothing spent."""
    result = otio_heygen.plan_file(timeline, PlanOptions(**plan_kwargs(kwargs)))
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2))
    else:
        print_plan_table(result, timeline)


@cli.command()
@click.argument("timeline", type=PATH)
@click.option("-o", "--output", type=PATH, required=True, help="Output timeline (.otio, .otioz, .xml).")
@plan_options
@spending_options
@click.option("--relative-paths", is_flag=True,
              help="Write every media link of an .otio relative to the output (FCP7 XML links stay absolute).")
@click.option("--fix-sync", is_flag=True, help="Shift clips whose lip-sync is off by more than a frame.")
@click.option("--otio-version", "schema_version", metavar="X.Y.Z",
              help="Write .otio/.otioz with the schemas of OTIO release 0.14.x-0.18.x "
                   "(default: no newer than the input .otio used).")
def render(timeline: Path, output: Path, as_json: bool, **kwargs: Any) -> None:
    """Render every section and write OUTPUT with the clips on a new track."""
    options = RenderOptions(**plan_kwargs(kwargs))
    backend, notice = backend_for(options.backend)
    with EventPrinter(as_json=as_json, notice=notice) as printer:
        summary = otio_heygen.render_file(timeline, output, options, backend=backend, on_event=printer)
    print_summary(summary, as_json=as_json)
    if summary.failures:
        names = ", ".join(f.title for f in summary.failures)
        raise RenderFailedError(
            f"{len(summary.failures)} section(s) failed: {names}; the output has every finished clip",
            hint=f"run the same command again to retry only those (see `otio-heygen status {output}`)",
        )


cli.add_command(account)
cli.add_command(doctor)
cli.add_command(key)
cli.add_command(ledger)
cli.add_command(status)
cli.add_command(resolve)
cli.add_command(premiere)
cli.add_command(review)
cli.add_command(choose)


def _fail(message: str, code: int, json_mode: bool) -> int:
    """Report a failure: one line on stderr, and with ``--json`` an error object on stdout too, so a
    script reading stdout sees why the run stopped."""
    click.echo(message, err=True)
    if json_mode:
        text = message.removeprefix("otio-heygen: ")
        sys.stdout.write(json.dumps({"event": "error", "message": text, "exit_code": code}) + "\n")
        sys.stdout.flush()
    return code


def _stop_now(json_mode: bool) -> NoReturn:
    """Ctrl-C again while the run stopped gracefully (``StopNow``): the user wants the prompt back now.

    Every temp file or folder this process still has (a download or an encode in progress) is removed,
    one line is printed, and the process ends with 130 through ``os._exit``: the worker threads may be
    inside a download or an encode, and a normal exit would wait for them. That is safe because the
    journal and the ledger are SQLite (or PostgreSQL) and every step is one transaction: ending here is
    what a SIGKILL does, which the crash-resume tests prove resumable, without paying twice (on its way
    here ``StopNow`` already closed the run in the journal as interrupted, the backend and the ledger;
    a render slot a worker still held is freed when its lease runs out, as after a crash). A temp a
    worker makes or renames after this point is refused (``remove_live_temps(final=True)``) or left to
    the next render's sweep (``fsutil.remove_stale_temps``: its process is gone by then). Further
    Ctrl-C are ignored while this runs (it takes milliseconds)."""
    with contextlib.suppress(ValueError):  # not the main thread (an embedding app): nothing to ignore
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    remove_live_temps(final=True)
    _fail("otio-heygen: stopped at once (Ctrl-C twice); partial files removed - run the same command again "
          "to resume (renders already paid for are picked up)", 130, json_mode)
    with contextlib.suppress(Exception):
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(130)


INTERNAL_ERROR_EXIT = 3
"""A bug in otio-heygen, not in the input or the service (design.md's CLI contract)."""


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI, map errors to one line on stderr and an exit code."""
    debug = os.environ.get("OTIO_HEYGEN_DEBUG", "") not in ("", "0")
    json_mode = "--json" in (sys.argv[1:] if argv is None else argv)
    try:
        cli.main(args=argv, prog_name="otio-heygen", standalone_mode=False)
    except OtioHeygenError as exc:
        if debug:
            raise
        return _fail(f"otio-heygen: error: {exc.one_line()}", exc.exit_code, json_mode)
    except click.exceptions.Abort as exc:  # click's name for a KeyboardInterrupt (or EOF at a prompt)
        if isinstance(exc.__cause__, StopNow):
            _stop_now(json_mode)
        return _fail("otio-heygen: interrupted", 130, json_mode)
    except click.ClickException as exc:
        message = exc.format_message()
        if type(exc).__name__ == "NoArgsIsHelpError":  # click >= 8.2, a bare command: its help as click shows it
            click.echo(message, err=True)
            return 2
        ctx = getattr(exc, "ctx", None)
        if isinstance(exc, click.UsageError) and ctx is not None:
            message += f" (see `{ctx.command_path} --help`)"
        return _fail(f"otio-heygen: error: {message}", 2, json_mode)
    except StopNow:
        _stop_now(json_mode)
    except KeyboardInterrupt:
        return _fail("otio-heygen: interrupted - run the same command again to resume", 130, json_mode)
    except Exception as exc:  # the last line of defence: no tracebacks for users
        if debug:
            raise
        return _fail(
            f"otio-heygen: internal error: {type(exc).__name__}: {' '.join(str(exc).split())[:300]} "
            "- please report it (set OTIO_HEYGEN_DEBUG=1 for details)",
            INTERNAL_ERROR_EXIT,
            json_mode,
        )
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
