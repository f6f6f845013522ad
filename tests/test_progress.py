"""Progress sinks (live view, JSON lines, quiet) and the ``status`` report and command."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console

from otio_heygen.cli.progress import (
    JsonLinesSink,
    LiveProgress,
    QuietSink,
    format_duration,
    make_progress,
    render_status,
    status_report,
)
from otio_heygen.cli.status_cmd import output_dir_for, status
from otio_heygen.planning.types import Job
from otio_heygen.run.journal import Journal
from tests.support.builders import make_job, make_section


def job(index: int, name: str, take: int = 1) -> Job:
    section = make_section(index, name, index * 50, index * 50 + 100)
    return make_job(section, take=take, key=f"{name}-{take}".replace(" ", "_"))


class TTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_make_progress_picks_the_sink() -> None:
    out, err = io.StringIO(), io.StringIO()
    assert isinstance(make_progress(json_output=True, stdout=out, stderr=err), JsonLinesSink)
    assert isinstance(make_progress(stdout=out, stderr=err), QuietSink)
    live = make_progress(stdout=out, stderr=TTY())
    assert isinstance(live, LiveProgress)
    live.close()


def test_json_lines_sink_writes_one_object_per_line() -> None:
    out = io.StringIO()
    sink = JsonLinesSink(out)
    sink({"event": "state", "section": "Chorus", "state": "rendering", "path": Path("/x")})
    sink({"event": "finished", "done": 3})
    lines = out.getvalue().splitlines()
    assert [json.loads(line)["event"] for line in lines] == ["state", "finished"]
    assert json.loads(lines[0])["path"] == "/x"


def test_live_progress_shows_sections_states_cost_and_notes() -> None:
    now = [100.0]
    console = Console(file=io.StringIO(), width=120, force_terminal=False)
    sink = LiveProgress(console, clock=lambda: now[0])
    with sink:
        sink({"event": "plan", "jobs": 3, "estimated_cost_usd": 1.5})
        sink({"event": "state", "key": "a", "section": "Verse", "index": 1, "take": 1, "state": "done"})
        sink(
            {
                "event": "state",
                "key": "b",
                "section": "Chorus",
                "index": 2,
                "take": 2,
                "state": "rendering",
                "cost_usd": 0.5,
            }
        )
        sink(
            {
                "event": "state",
                "key": "b",
                "section": "Chorus",
                "index": 2,
                "take": 2,
                "state": "rendering",
                "remote": "processing",
            }
        )
        sink(
            {
                "event": "state",
                "key": "c",
                "section": "Bridge",
                "index": 3,
                "take": 1,
                "state": "failed",
                "error": "No face was detected",
            }
        )
        sink({"event": "rate_limited", "allowed": 3, "retry_after": 7})
        now[0] += 75
        buffer = io.StringIO()
        Console(file=buffer, width=120).print(sink.render())
    text = buffer.getvalue()
    assert "Chorus (take 2)" in text and "rendering (processing)" in text and "1m15s" in text
    assert "1/3 done, 1 failed" in text and "spent ~$0.50 of ~$1.50" in text
    assert "No face was detected" in text and "3 renders at once" in text


@pytest.mark.parametrize(("seconds", "text"), [(5, "5s"), (75, "1m15s"), (3725, "1h02m"), (-3, "0s")])
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def make_journal(root: Path) -> None:
    clock = [1_000.0]
    with Journal.open(root, now=lambda: clock[0]) as journal:
        old = journal.start_run("heygen")
        journal.ensure(job(9, "Edited away"), backend="heygen", price_per_second=0.1, run_id=old)
        run = journal.start_run("heygen")
        for j in (job(1, "Verse"), job(2, "Chorus"), job(3, "Bridge")):
            journal.ensure(j, backend="heygen", price_per_second=0.1, run_id=run)
        journal.set_state("Verse-1", "done", video_id="v1", billed=1, media_path="/out/01_Verse_take1.mp4")
        journal.set_state("Chorus-1", "rendering", video_id="v2", billed=1)
        journal.set_state("Bridge-1", "failed", error="HeyGen could not render section 'Bridge': no face")
        clock[0] += 880
        journal.heartbeat(run)  # this process, heard from 20 s before the reports below look


def test_status_report_from_the_journal_alone(tmp_path: Path) -> None:
    make_journal(tmp_path)
    with Journal.open(tmp_path, create=False) as journal:
        report = status_report(journal, now=1_000.0 + 900)
    assert [(j["section"], j["state"]) for j in report["jobs"]] == [
        ("Verse", "done"),
        ("Chorus", "rendering"),
        ("Bridge", "failed"),
    ]
    assert report["counts"] == {"done": 1, "running": 1, "interrupted": 0, "failed": 1, "waiting": 0}
    assert report["jobs"][1]["for_s"] == pytest.approx(900.0)
    assert report["spent_usd"] == pytest.approx(0.8)  # two billed renders of 4 s at $0.10
    buffer = io.StringIO()
    render_status(report, Console(file=buffer, width=160))
    text = buffer.getvalue()
    assert "15m00s" in text and "no face" in text and "01_Verse_take1.mp4" in text
    assert "1 done, 1 running, 1 failed, 0 waiting - bought 2 ($0.80), reused 0 (free)" in text
    assert report["bought"] == {"count": 2, "seconds": 8.0, "usd": 0.8} and report["reused"]["count"] == 0
    assert "A render is working on this output now" in text and "Run the same render command again" not in text
    assert "Edited away" not in text and "1 older journal entries" in text
    assert report["last_run"]["alive"] is True and report["last_run"]["pid"] == os.getpid()


@pytest.mark.parametrize(
    ("now", "alive", "why"),
    [(1_900.0, False, "is gone"), (2_000.0, True, "has not been heard from for 120 s")],
    ids=["process-gone", "heartbeat-stale"],
)
def test_status_shows_the_jobs_of_a_dead_run_as_interrupted_not_running(
    tmp_path: Path, now: float, alive: bool, why: str
) -> None:
    make_journal(tmp_path)
    with Journal.open(tmp_path, create=False) as journal:
        report = status_report(journal, now=now, is_alive=lambda pid: alive)
    assert [(j["section"], j["state"]) for j in report["jobs"]] == [
        ("Verse", "done"),
        ("Chorus", "interrupted"),
        ("Bridge", "failed"),
    ]
    assert report["jobs"][1]["journal_state"] == "rendering"
    assert report["counts"] == {"done": 1, "running": 0, "interrupted": 1, "failed": 1, "waiting": 0}
    assert report["last_run"]["alive"] is False and why in report["last_run"]["outcome"]
    buffer = io.StringIO()
    render_status(report, Console(file=buffer, width=160))
    text = buffer.getvalue()
    assert "1 done, 0 running, 1 interrupted, 1 failed, 0 waiting" in text
    assert "video v2 (paid: the next run picks it up)" in text
    assert f"interrupted: process {os.getpid()} on" in text and "Run the same render command again" in text


def test_status_command_table_and_json_of_an_earlier_versions_folder_journal(tmp_path: Path) -> None:
    make_journal(tmp_path)  # the one journal an earlier version shared between the folder's outputs
    (tmp_path / "song_avatar.otio").write_text("{}")
    runner = CliRunner()
    result = runner.invoke(status, [str(tmp_path / "song_avatar.otio")])
    assert result.exit_code == 0, result.output
    assert "Chorus" in result.output and "bought 2 ($0.80)" in result.output
    assert "shared by every output of this folder" in result.output
    result = runner.invoke(status, [str(tmp_path), "--json"])
    assert result.exit_code == 0
    assert [r["counts"]["failed"] for r in json.loads(result.output)["outputs"]] == [1]


def test_status_without_a_journal_says_so(tmp_path: Path) -> None:
    result = CliRunner().invoke(status, [str(tmp_path / "nothing.otio")])
    assert result.exit_code != 0
    assert "was never rendered" in str(result.exception)
    assert not (tmp_path / ".otio-heygen").exists()


def test_output_dir_for(tmp_path: Path) -> None:
    (tmp_path / ".otio-heygen").mkdir()
    assert output_dir_for(tmp_path) == tmp_path
    assert output_dir_for(tmp_path / ".otio-heygen") == tmp_path
    assert output_dir_for(tmp_path / "cut.xml") == tmp_path
    assert output_dir_for(Path("cut.xml")) == Path(".")


def test_live_progress_follows_a_real_run(tmp_path: Path) -> None:
    from tests.support.runner_env import Env, make_jobs

    env = Env(tmp_path)
    buffer = io.StringIO()
    sink = LiveProgress(Console(file=buffer, width=120))
    env.listeners.append(sink)
    with sink:
        report = env.run(make_jobs(tmp_path, 4))
    assert len(report.results) == 4
    final = io.StringIO()
    Console(file=final, width=120).print(sink.render())
    text = final.getvalue()
    assert "4/4 done" in text and "spent ~$0.80 of ~$0.80" in text
    assert text.count("done") >= 5  # four rows and the summary


def test_status_reports_each_clips_lip_sync_offset(tmp_path: Path) -> None:
    make_journal(tmp_path)
    with Journal.open(tmp_path) as journal:
        sync = {"offset_ms": 200.0, "offset_frames": 5.0, "confidence": 0.9, "flagged": True}
        journal.update("Verse-1", finish_info={"media_duration_frames": 100, "provenance": {"sync": sync}})
        report = status_report(journal, now=2_000.0)
    verse = next(j for j in report["jobs"] if j["section"] == "Verse")
    assert verse["sync"] == sync
    assert next(j for j in report["jobs"] if j["section"] == "Chorus")["sync"] is None
    buffer = io.StringIO()
    render_status(report, Console(file=buffer, width=160))
    assert "sync +200 ms (+5.0 fr) OFF" in buffer.getvalue()


def test_live_progress_says_what_a_section_waits_for_on_a_team_ledger() -> None:
    console = Console(file=io.StringIO(), width=200, force_terminal=False)
    sink = LiveProgress(console, clock=lambda: 0.0)
    part = {"event": "state", "section": "Part", "take": 1}
    with sink:
        sink({"event": "plan", "jobs": 3, "estimated_cost_usd": 1.5})
        sink({**part, "key": "a", "index": 1, "state": "uploading"})
        sink({**part, "key": "a", "index": 1, "state": "waiting", "slots_in_use": 10, "slot_limit": 10,
              "waiting_for": "a render slot: 10 of 10 in use across the team (edit-suite-1: 10)"})
        sink({**part, "key": "b", "index": 2, "state": "waiting", "workstation": "edit-suite-2",
              "video_id": "v_123", "waiting_for": "edit-suite-2's render (video v_123)"})
        sink({**part, "key": "c", "index": 3, "state": "waiting", "waiting_for": "edit-suite-2's render"})
        sink({**part, "key": "c", "index": 3, "state": "downloading", "video_id": "v_9"})
        buffer = io.StringIO()
        Console(file=buffer, width=200).print(sink.render())
    text = buffer.getvalue()
    assert "waiting for a render slot: 10 of 10 in use across the team (edit-suite-1: 10)" in text
    assert "waiting for edit-suite-2's render (video v_123)" in text
    assert "downloading" in text and text.count("waiting for") == 2  # a row that moved on says so
