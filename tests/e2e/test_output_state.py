"""Each output keeps its own state, and running the same command again never buys twice.

Whole CLI runs (``main([...])``): the offline preview backend for what outputs of one folder see
of each other (status, takes, preview clips), the strict fake HeyGen v3 server on 127.0.0.1 for
what is bought (creates and every request counted). Every test here failed before outputs had
their own journals and ``--regenerate`` became declarative.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import opentimelineio as otio
import pytest
from pytest_httpserver import HTTPServer

from otio_heygen.cli.main import main
from otio_heygen.run.journal import journal_path
from otio_heygen.run.outputs import output_journal_path
from tests.e2e.test_cli_edge_cases import avatar_tracks, clip_files, render, write_timeline
from tests.e2e.test_failures_and_interrupts import heygen_env
from tests.e2e.test_failures_and_interrupts import write_timeline as write_parts
from tests.support.heygen_fake import FakeHeyGen


def status_json(output: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    capsys.readouterr()
    assert main(["status", str(output), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert isinstance(report, dict)
    return report


def takes_in(report: dict[str, object]) -> list[tuple[str, int]]:
    jobs = report["jobs"]
    assert isinstance(jobs, list)
    return sorted((str(j["section"]), int(j["take"])) for j in jobs)


# ---------------------------------------------------------------- two outputs in one folder


def test_takes_and_status_of_one_output_do_not_reach_another_in_the_same_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    timeline = write_timeline(tmp_path / "cut", ["Verse", "Chorus"], frames=12)
    a, b = tmp_path / "out" / "a.otio", tmp_path / "out" / "b.otio"
    assert render(timeline, a, "--takes", "2") == 0
    assert render(timeline, b) == 0

    # b (no --takes) gets neither a second take track nor take 2 as its main clip
    assert list(avatar_tracks(b)) == ["Avatar IV"]
    assert clip_files(b) == ["01_Verse_take1.mp4", "02_Chorus_take1.mp4"]
    # a still has both takes, main clip take 1, after b rendered last
    assert render(timeline, a, "--takes", "2") == 0
    assert list(avatar_tracks(a)) == ["Avatar IV", "Avatar IV take 2"]
    assert clip_files(a) == ["01_Verse_take1.mp4", "02_Chorus_take1.mp4"]

    # status OUTPUT reports that output only, whichever ran last
    assert takes_in(status_json(a, capsys)) == [("Chorus", 1), ("Chorus", 2), ("Verse", 1), ("Verse", 2)]
    assert takes_in(status_json(b, capsys)) == [("Chorus", 1), ("Verse", 1)]
    assert render(timeline, b) == 0
    assert takes_in(status_json(a, capsys)) == [("Chorus", 1), ("Chorus", 2), ("Verse", 1), ("Verse", 2)]

    # the folder lists both outputs
    capsys.readouterr()
    assert main(["status", str(a.parent), "--json"]) == 0
    outputs = json.loads(capsys.readouterr().out)["outputs"]
    assert sorted(Path(r["output"]).name for r in outputs) == ["a.otio", "b.otio"]


def test_status_of_an_output_never_rendered_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    timeline = write_timeline(tmp_path / "cut", ["Verse"], frames=12)
    assert render(timeline, tmp_path / "out" / "a.otio") == 0  # the folder has a journal, c.otio has none
    capsys.readouterr()
    for args in (["status", str(tmp_path / "out" / "c.otio")], ["status", str(tmp_path / "elsewhere" / "c.otio")]):
        assert main(args) == 2
        captured = capsys.readouterr()
        lines = captured.err.strip().splitlines()
        assert len(lines) == 1 and "c.otio was never rendered" in lines[0], captured.err
        assert captured.out == ""
    assert not (tmp_path / "elsewhere").exists()


def clip_path(output: Path, section: str) -> Path:
    clip = next(c for c in avatar_tracks(output)["Avatar IV"] if c.name == section)
    return Path(otio.url_utils.filepath_from_url(clip.media_reference.target_url))


def test_a_preview_clip_is_never_reused_under_another_sections_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the same song slice and photo under two names: one job key, two different preview pictures
    verse = write_timeline(tmp_path / "v1", ["Verse"], frames=12)
    chorus = write_timeline(tmp_path / "v2", ["Chorus"], frames=12)
    keys = []
    for timeline in (verse, chorus):
        capsys.readouterr()
        assert main(["plan", str(timeline), "--image", str(timeline.parent / "artist.png"), "--json"]) == 0
        keys.append(json.loads(capsys.readouterr().out)["sections"][0]["job_key"])
    assert keys[0] == keys[1]

    out = tmp_path / "out"
    assert render(verse, out / "a.otio") == 0
    assert render(chorus, out / "b.otio") == 0
    a_clip, b_clip = clip_path(out / "a.otio", "Verse"), clip_path(out / "b.otio", "Chorus")
    assert b_clip.name == "01_Chorus_take1.mp4"
    assert b_clip.read_bytes() != a_clip.read_bytes()  # drawn with "Chorus", not a's "Verse" linked over

    # a marker renamed in one output: the preview is drawn again with the new name
    before = a_clip.read_bytes()
    write_timeline(tmp_path / "v1", ["Intro"], frames=12)  # the same cut.otio, its marker renamed
    assert render(verse, out / "a.otio") == 0
    assert clip_path(out / "a.otio", "Intro").read_bytes() != before


# ---------------------------------------------------------------- the same command again


def test_the_same_regenerate_command_again_buys_nothing_once_it_succeeded(
    httpserver: HTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FakeHeyGen(httpserver)
    heygen_env(monkeypatch, fake, tmp_path)
    timeline = write_parts(tmp_path / "cut", 2)
    out = tmp_path / "out" / "cut_avatar.otio"
    args = ["render", str(timeline), "-o", str(out), "--image", str(timeline.parent / "artist.png")]
    assert main(args) == 0 and fake.creates == 2

    fake.fail_render()  # the new take fails at HeyGen (not billed); the CLI says: run the same command again
    assert main([*args, "--regenerate", "Part 2"]) == 1
    assert "run the same command again" in capsys.readouterr().err
    assert main([*args, "--regenerate", "Part 2"]) == 0
    assert fake.creates == 4  # the failed take and its retry: take 2 bought once
    assert clip_files(out) == ["01_Part_1_take1.mp4", "02_Part_2_take2.mp4"]

    requests = len(fake.requests)
    for again in ([*args, "--regenerate", "Part 2"], [*args, "--regenerate", "part_2=2"], args):
        assert main(again) == 0
        assert clip_files(out) == ["01_Part_1_take1.mp4", "02_Part_2_take2.mp4"]
    assert len(fake.requests) == requests  # no API call at all, let alone a create

    assert main([*args, "--regenerate", "Part 2=1"]) == 0  # choose take 1 back: nothing bought
    assert clip_files(out) == ["01_Part_1_take1.mp4", "02_Part_2_take1.mp4"]
    assert clip_files(out, "Avatar IV take 2") == ["02_Part_2_take2.mp4"]
    assert main(args) == 0 and clip_files(out) == ["01_Part_1_take1.mp4", "02_Part_2_take1.mp4"]  # the choice stays
    assert main([*args, "--regenerate", "Part 2=3"]) == 0 and fake.creates == 5  # asked for by number: bought once
    assert main([*args, "--regenerate", "Part 2=3"]) == 0 and fake.creates == 5
    assert len(set(fake.creates_by_key)) == 5 and set(fake.creates_by_key.values()) == {1}


def test_a_take_number_out_of_range_is_refused_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    timeline = write_timeline(tmp_path / "cut", ["Verse"], frames=12)
    assert render(timeline, tmp_path / "out" / "a.otio", "--regenerate", "Verse=0") == 2
    assert "the take must be a number from 1 to 99" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def as_earlier_version_left_it(output: Path) -> None:
    """One folder journal (``.otio-heygen/journal.sqlite``) with the schema of earlier versions."""
    legacy = journal_path(output.parent)
    shutil.move(output_journal_path(output), legacy)
    shutil.rmtree(output_journal_path(output).parent)
    db = sqlite3.connect(str(legacy), isolation_level=None)
    db.execute("DROP TABLE take_choices")
    db.execute("DROP TABLE meta")
    for column in ("pid", "host", "heartbeat_at"):
        db.execute(f"ALTER TABLE runs DROP COLUMN {column}")
    db.execute("DELETE FROM _migrations WHERE name NOT IN ('001_jobs', '002_runs_and_timings', '003_key_sent_at')")
    db.close()


def test_an_output_rendered_by_an_earlier_version_reruns_without_any_api_call(
    httpserver: HTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FakeHeyGen(httpserver)
    heygen_env(monkeypatch, fake, tmp_path)
    timeline = write_parts(tmp_path / "cut", 2)
    out = tmp_path / "out" / "cut_avatar.otio"
    args = ["render", str(timeline), "-o", str(out), "--image", str(timeline.parent / "artist.png")]
    assert main(args) == 0
    assert main([*args, "--regenerate", "Part 1"]) == 0 and fake.creates == 3
    as_earlier_version_left_it(out)

    report = status_json(out, capsys)  # still reported, from the folder's shared journal
    assert "shared by every output" in str(report["note"])
    requests = len(fake.requests)
    assert main(args) == 0
    assert len(fake.requests) == requests  # every clip honoured from the earlier journal
    assert clip_files(out) == ["01_Part_1_take2.mp4", "02_Part_2_take1.mp4"]  # its regenerated take stays main
    assert takes_in(status_json(out, capsys)) == [("Part 1", 1), ("Part 1", 2), ("Part 2", 1)]

    # another output of that folder reuses the earlier journal's renders instead of buying them
    assert main([*args[:2], "-o", str(out.with_name("other.otio")), *args[4:]]) == 0
    assert fake.creates == 3
    assert clip_files(out.with_name("other.otio")) == ["01_Part_1_take1.mp4", "02_Part_2_take1.mp4"]


def test_another_output_of_the_folder_adopts_what_the_first_bought_instead_of_buying_it(
    httpserver: HTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FakeHeyGen(httpserver)
    heygen_env(monkeypatch, fake, tmp_path)
    timeline = write_parts(tmp_path / "cut", 2)
    image = str(timeline.parent / "artist.png")
    out = tmp_path / "out"
    assert main(["render", str(timeline), "-o", str(out / "a.otio"), "--image", image]) == 0
    assert main(["render", str(timeline), "-o", str(out / "b.otio"), "--image", image, "--budget", "0"]) == 0
    assert fake.creates == 2  # b bought nothing (a budget of 0 is enough), and its state is its own
    assert clip_files(out / "b.otio") == ["01_Part_1_take1.mp4", "02_Part_2_take1.mp4"]
    assert takes_in(status_json(out / "b.otio", capsys)) == [("Part 1", 1), ("Part 2", 1)]
    # a preview render of a third output does not adopt (or replace) the paid renders
    assert main(["render", str(timeline), "-o", str(out / "c.otio"), "--image", image, "--backend", "preview"]) == 0
    assert main(["render", str(timeline), "-o", str(out / "a.otio"), "--image", image]) == 0
    assert fake.creates == 2
