"""Whole CLI runs that go wrong: renders failing at HeyGen, credit running out midway, Ctrl-C.

The CLI runs in this process (``main([...])``) against the strict fake HeyGen v3 server on
127.0.0.1 with instant renders (nothing sleeps), or, for Ctrl-C, as a real subprocess with the
offline preview backend. Timelines are short ones built here with OTIO.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import opentimelineio as otio
import pytest
from pytest_httpserver import HTTPServer

from otio_heygen.cli.main import main
from otio_heygen.run.outputs import output_journal_path
from tests.conftest import SAMPLES
from tests.support.heygen_fake import FAKE_API_KEY, FakeHeyGen

RATE = 25.0
SECTION_FRAMES = 25
_SCRIPT = Path(sys.executable).with_name("otio-heygen")
CLI = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "otio_heygen.cli.main"]


def span(start: int, length: int) -> otio.opentime.TimeRange:
    rt = otio.opentime.RationalTime
    return otio.opentime.TimeRange(rt(start, RATE), rt(length, RATE))


def write_timeline(root: Path, sections: int, *, section_frames: int = SECTION_FRAMES) -> Path:
    """A 25 fps timeline: the sample song on A1 and ``sections`` ruler markers 'Part 1'..."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(SAMPLES / "song.wav", root / "song.wav")
    shutil.copy(SAMPLES / "artist.png", root / "artist.png")
    song_frames = sections * section_frames + 25
    timeline = otio.schema.Timeline(name="Cut")
    song = otio.schema.Clip(
        name="song.wav",
        source_range=span(0, song_frames),
        media_reference=otio.schema.ExternalReference(target_url="song.wav", available_range=span(0, song_frames)),
    )
    timeline.tracks.append(otio.schema.Track(name="A1", kind=otio.schema.TrackKind.Audio, children=[song]))
    for i in range(sections):
        timeline.tracks.markers.append(
            otio.schema.Marker(name=f"Part {i + 1}", marked_range=span(i * section_frames, section_frames))
        )
    path = root / "cut.otio"
    otio.adapters.write_to_file(timeline, str(path))
    return path


def heygen_env(monkeypatch: pytest.MonkeyPatch, fake: FakeHeyGen, root: Path) -> None:
    monkeypatch.setenv("HEYGEN_API_KEY", FAKE_API_KEY)
    monkeypatch.setenv("HEYGEN_API_URL", fake.base_url)
    monkeypatch.setenv("OTIO_HEYGEN_ASSET_CACHE", str(root / "assets.sqlite"))
    monkeypatch.setenv("OTIO_HEYGEN_CONCURRENCY", "2")


def json_lines(text: str) -> list[dict[str, object]]:
    """Every stdout line must be a JSON object (no progress noise)."""
    lines = [line for line in text.splitlines() if line.strip()]
    events = [json.loads(line) for line in lines]
    assert all(isinstance(e, dict) for e in events)
    return events


def placed_sections(output: Path) -> list[str]:
    result = otio.adapters.read_from_file(str(output))
    track = next(t for t in result.tracks if t.name == "Avatar IV")
    return [clip.name for clip in track.find_clips()]


def journal_states(output: Path) -> dict[str, str]:
    with sqlite3.connect(str(output_journal_path(output))) as db:
        return {name: state for name, state in db.execute("select section_name, state from jobs")}


def test_some_renders_fail_exit_1_output_kept_rerun_retries_only_those(
    httpserver: HTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FakeHeyGen(httpserver)
    heygen_env(monkeypatch, fake, tmp_path)
    timeline = write_timeline(tmp_path / "cut", 4)
    out = tmp_path / "out" / "cut_avatar.otio"
    fake.fail_render(title="Part 2")
    fake.fail_render(title="Part 4")

    code = main(["render", str(timeline), "-o", str(out), "--image", str(timeline.parent / "artist.png"), "--json"])
    captured = capsys.readouterr()
    assert code == 1, captured.err
    events = json_lines(captured.out)
    result, error = events[-2:]
    assert result["event"] == "result"
    assert error["event"] == "error" and error["exit_code"] == 1  # why the run exits 1, for scripts
    failures = result["failures"]
    assert isinstance(failures, list)
    assert sorted(f["section"] for f in failures) == ["Part 2", "Part 4"]
    assert placed_sections(out) == ["Part 1", "Part 3"]
    failure_lines = [line for line in captured.err.splitlines() if "failed" in line and "Part 2" in line]
    assert len(failure_lines) == 1 and "Part 4" in failure_lines[0]
    assert "again" in failure_lines[0]
    assert fake.creates == 4

    fake._render_rules.clear()  # HeyGen works again
    code = main(["render", str(timeline), "-o", str(out), "--image", str(timeline.parent / "artist.png"), "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    result = json_lines(captured.out)[-1]
    assert result["rendered"] == 2 and result["reused"] == 2
    assert fake.creates == 6  # only the two failed sections were created again
    assert placed_sections(out) == ["Part 1", "Part 2", "Part 3", "Part 4"]
    assert FAKE_API_KEY not in captured.out + captured.err


def test_out_of_credit_midway_stops_creating_keeps_finished_and_names_why(
    httpserver: HTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FakeHeyGen(httpserver)
    heygen_env(monkeypatch, fake, tmp_path)
    monkeypatch.setenv("OTIO_HEYGEN_CONCURRENCY", "1")
    timeline = write_timeline(tmp_path / "cut", 4)
    out = tmp_path / "out" / "cut_avatar.otio"
    create = fake._create

    def credit_runs_out_after_the_first(request: object) -> object:
        if fake.create_requests == 1 and not fake.faults["create"]:
            fake.inject("create", 402)
        return create(request)  # type: ignore[arg-type]

    monkeypatch.setattr(fake, "_create", credit_runs_out_after_the_first)
    args = ["render", str(timeline), "-o", str(out), "--image", str(timeline.parent / "artist.png")]

    code = main(args)
    captured = capsys.readouterr()
    assert code == 1, captured.err
    assert fake.creates == 1
    placed = placed_sections(out)
    assert len(placed) == 1  # the clip paid for is kept
    failed = [line for line in captured.err.splitlines() if line.startswith("failed: ")]
    assert len(failed) == 3
    for line in failed:
        assert "credit" in line
        assert "JobFailed" not in line and "Error:" not in line  # no internal class names
    assert journal_states(out)[placed[0]] == "done"

    monkeypatch.setattr(fake, "_create", create)  # topped up
    code = main(args)
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert fake.creates == 4
    assert placed_sections(out) == ["Part 1", "Part 2", "Part 3", "Part 4"]


def test_api_key_never_appears_in_output_journal_or_messages(
    httpserver: HTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FakeHeyGen(httpserver)
    heygen_env(monkeypatch, fake, tmp_path)
    timeline = write_timeline(tmp_path / "cut", 2)
    out = tmp_path / "out" / "cut_avatar.otio"
    fake.fail_render(title="Part 2")
    args = ["render", str(timeline), "-o", str(out), "--image", str(timeline.parent / "artist.png"), "--json"]
    assert main(args) == 1
    assert main(["status", str(out)]) in (0, 1)
    assert main(["status", str(out), "--json"]) in (0, 1)
    captured = capsys.readouterr()
    assert FAKE_API_KEY not in captured.out + captured.err
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert output_journal_path(out) in written
    for path in written:
        assert FAKE_API_KEY.encode() not in path.read_bytes(), path


def test_ctrl_c_during_a_preview_render_exits_130_and_rerun_resumes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    timeline = write_timeline(tmp_path / "cut", 6)
    out = tmp_path / "out" / "cut_avatar.otio"
    args = [
        "render",
        str(timeline),
        "-o",
        str(out),
        "--image",
        str(timeline.parent / "artist.png"),
        "--backend",
        "preview",
        "--concurrency",
        "1",
        "--json",
    ]
    env = {k: v for k, v in os.environ.items() if k != "HEYGEN_API_KEY"}
    proc = subprocess.Popen([*CLI, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stderr is not None
    lines: list[str] = []
    for line in proc.stdout:
        lines.append(line)
        if json.loads(line).get("state") == "done":
            proc.send_signal(signal.SIGINT)
            break
    lines.extend(proc.stdout)
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 130, err
    events = json_lines("".join(lines))  # still only JSON on stdout
    finished = {e["section"] for e in events if e.get("state") == "done"}
    assert 1 <= len(finished) < 6
    assert "Traceback" not in err
    assert "run the same command again" in err and len(err.strip().splitlines()) == 1
    states = journal_states(out)
    assert {name for name, state in states.items() if state == "done"} == finished

    assert main(args) == 0
    result = json_lines(capsys.readouterr().out)[-1]
    assert result["reused"] == len(finished) and result["rendered"] == 6 - len(finished)
    assert len(placed_sections(out)) == 6


def test_a_rejected_api_key_stops_the_run_before_any_upload(
    httpserver: HTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FakeHeyGen(httpserver)
    heygen_env(monkeypatch, fake, tmp_path)
    monkeypatch.setenv("HEYGEN_API_KEY", "hg_wrong_key_0000")
    timeline = write_timeline(tmp_path / "cut", 3)
    out = tmp_path / "out" / "cut_avatar.otio"
    code = main(["render", str(timeline), "-o", str(out), "--image", str(timeline.parent / "artist.png")])
    err = capsys.readouterr().err
    assert code == 2, err  # bad usage, nothing spent
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "API key" in lines[0] and "HEYGEN_API_KEY" in lines[0]
    assert "hg_wrong_key_0000" not in err
    assert fake.upload_requests == 0 and fake.create_requests == 0
    assert not out.exists()


def test_a_reader_that_stops_reading_json_does_not_turn_a_good_run_into_a_failure(tmp_path: Path) -> None:
    timeline = write_timeline(tmp_path / "cut", 3)
    out = tmp_path / "out" / "cut_avatar.otio"
    args = [
        "render",
        str(timeline),
        "-o",
        str(out),
        "--image",
        str(timeline.parent / "artist.png"),
        "--backend",
        "preview",
        "--json",
    ]
    proc = subprocess.Popen([*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # like `| head -1`
    assert proc.stdout is not None and proc.stderr is not None
    json.loads(proc.stdout.readline())
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0, err  # every section rendered: exit 0, as the contract says
    assert "Traceback" not in err and "Exception" not in err
    assert len(placed_sections(out)) == 3


def test_ctrl_c_while_heygen_renders_then_rerun_pays_nothing_twice(
    httpserver: HTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FakeHeyGen(httpserver, render_seconds=3600.0)  # renders never finish during the first run
    timeline = write_timeline(tmp_path / "cut", 3)
    out = tmp_path / "out" / "cut_avatar.otio"
    args = ["render", str(timeline), "-o", str(out), "--image", str(timeline.parent / "artist.png"), "--json"]
    env = {
        **os.environ,
        "HEYGEN_API_KEY": FAKE_API_KEY,
        "HEYGEN_API_URL": fake.base_url,
        "OTIO_HEYGEN_POLL_INTERVAL": "0.05",
        "OTIO_HEYGEN_ASSET_CACHE": str(tmp_path / "assets.sqlite"),
    }
    proc = subprocess.Popen([*CLI, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stderr is not None
    rendering: set[object] = set()
    for line in proc.stdout:
        event = json.loads(line)
        if event.get("state") == "rendering":
            rendering.add(event["section"])
            if len(rendering) == 3:
                proc.send_signal(signal.SIGINT)
                break
    proc.stdout.read()
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 130, err
    assert "3 still rendering at heygen" in err and "run the same command again" in err
    assert FAKE_API_KEY not in err
    assert fake.creates == 3 and not out.exists()

    fake.finish_all()
    heygen_env(monkeypatch, fake, tmp_path)
    assert main(args) == 0, capsys.readouterr().err
    assert fake.creates == 3  # the paid renders were picked up, none bought again
    assert placed_sections(out) == ["Part 1", "Part 2", "Part 3"]
