"""``otio-heygen review OUTPUT`` (the review page) and ``otio-heygen choose OUTPUT SECTION TAKE``
(swap the keeper onto the main track). Neither needs a key, uses the network or spends anything."""

from __future__ import annotations

import json
import webbrowser
from pathlib import Path

import click

from otio_heygen.output.choose import ChoiceError, choose_takes, describe, read_choices, to_json
from otio_heygen.review import build_review

__all__ = ["choose", "review"]

PATH = click.Path(path_type=Path)


def _size(n: int) -> str:
    return f"{n / 1_000_000:.1f} MB" if n >= 1_000_000 else f"{n / 1000:.0f} kB"


@click.command()
@click.argument("output", type=PATH)
@click.option("--open", "open_page", is_flag=True, help="Open the page in your web browser when it is written.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a sentence.")
def review(output: Path, open_page: bool, as_json: bool) -> None:
    """Make a review page of every section and take of OUTPUT (a rendered timeline).

    Writes OUTPUT's folder/<name>_review/index.html: one row per section with its timecode, length,
    photo and motion prompt; each take as a player with a strip of stills, its lip-sync offset (a
    graph and an OK/OFF badge), cost and video id; which take is on the main track. Tick "Keep this
    take" where another take is better, then download the choices or copy the `otio-heygen choose`
    command the page shows. Works offline, with preview clips as well as HeyGen's; spends nothing.
    """
    page = build_review(output)
    if as_json:
        click.echo(json.dumps({"page": str(page.path), "sections": page.sections, "takes": page.takes,
                               "off_sync": page.off_sync, "size_bytes": page.size_bytes}))
    else:
        off = f", {page.off_sync} with lip-sync OFF" if page.off_sync else ", lip-sync OK everywhere"
        click.echo(f"wrote {page.path} ({page.sections} section(s), {page.takes} take(s){off}; "
                   f"{_size(page.size_bytes)})")
    if open_page:
        webbrowser.open(page.path.resolve().as_uri())


@click.command()
@click.argument("output", type=PATH)
@click.argument("picks", nargs=-1, metavar="[SECTION TAKE]...")
@click.option("--from", "from_file", type=PATH, metavar="CHOICES.json",
              help="Apply the choices downloaded from the review page.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of sentences.")
def choose(output: Path, picks: tuple[str, ...], from_file: Path | None, as_json: bool) -> None:
    """Put the take you prefer of a section on the main track of OUTPUT.

    SECTION is the section's number, name or slug as the review page shows it ("Chorus 1", 3 or
    Chorus_1); TAKE is the take number. Give several pairs at once, or --from the file the review
    page downloads. The other takes stay on the disabled take tracks. OUTPUT is rewritten in
    place (safely: the old file stays until the new one is complete); nothing is rendered,
    downloaded or spent.

    \b
    otio-heygen choose out/cut_avatar.otio "Chorus 1" 2
    otio-heygen choose out/cut_avatar.otio --from cut_avatar_choices.json
    """
    if len(picks) % 2:
        raise ChoiceError("give each SECTION with a TAKE number", hint="e.g. otio-heygen choose OUTPUT 'Chorus 1' 2")
    pairs: list[tuple[str | int, int]] = []
    for section, take in zip(picks[::2], picks[1::2], strict=True):
        if not take.isdigit() or int(take) < 1:
            raise ChoiceError(f"{take!r} is not a take number (1, 2, ...)", hint=f"e.g. choose OUTPUT {section!r} 2")
        pairs.append((section, int(take)))
    if from_file is not None:
        pairs = [*read_choices(from_file), *pairs]
    chosen = choose_takes(output, pairs)
    if as_json:
        click.echo(json.dumps({"output": str(output), "sections": to_json(chosen)}))
        return
    lines = describe(chosen)
    for line in lines:
        click.echo(line)
    click.echo(f"wrote {output}" + ("" if lines else " (no change: every section already had that take)"))
