"""The README's "Use it from Python" example runs as written: the whole offline round trip on the sample."""

from __future__ import annotations

import contextlib
import io
import re
import shutil
from pathlib import Path

import opentimelineio as otio
import pytest

from tests.conftest import SAMPLES

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_example() -> str:
    """The first ```python block under the "## Use it from Python" heading."""
    text = README.read_text(encoding="utf-8")
    section = text.split("## Use it from Python", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```python\n(.*?)```", section, flags=re.S)
    assert match, "no python block in the README's 'Use it from Python' section"
    return match.group(1)


def test_the_example_is_short() -> None:
    lines = [line for line in readme_example().splitlines() if line.strip()]
    assert len(lines) < 10, lines


def test_the_readme_example_does_the_whole_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(SAMPLES, tmp_path / "sample_timelines", ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    monkeypatch.chdir(tmp_path)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(readme_example(), str(README), "exec"), {"__name__": "readme_example"})

    out = otio.adapters.read_from_file(str(tmp_path / "out" / "demo_avatar.otio"))
    track = next(t for t in out.tracks if t.name == "Avatar IV")
    clips = list(track.find_clips())
    lines = printed.getvalue().splitlines()
    assert len(clips) == len(lines) == 6
    for clip, line in zip(clips, lines, strict=True):
        placed = clip.range_in_parent()
        assert line.startswith(f"{clip.name} {round(placed.start_time.value)} "
                               f"{round(placed.end_time_exclusive().value)} ")
        media = Path(otio.url_utils.filepath_from_url(clip.media_reference.target_url))
        assert media.parent == tmp_path / "out" / "demo_media" and media.stat().st_size > 1000
    song = next(c for t in out.audio_tracks() for c in t.find_clips())
    assert Path(song.media_reference.target_url) == tmp_path / "sample_timelines" / "song.wav"
