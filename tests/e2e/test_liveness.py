"""A run's process is known to be alive or gone: ``status`` and a second render act on it.

A real ``otio-heygen render`` subprocess works against the fake HeyGen v3 server (renders that
never finish until the test says so). Every step is driven by the run's own ``--json`` events
(all sections rendering at HeyGen), never by a timer. While it lives, ``status`` says a render is
working on the output, and a second render of the same output is refused (exit 2, one line,
nothing bought). Once SIGKILLed, ``status`` shows its sections as interrupted (paid, picked up by
the next run) instead of "running", and the rerun closes the dead run and buys nothing twice.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from otio_heygen.cli.main import main
from otio_heygen.run.outputs import output_journal_path
from tests.e2e.test_failures_and_interrupts import CLI, heygen_env, placed_sections, write_timeline
from tests.support.heygen_fake import FAKE_API_KEY, FakeHeyGen


def status_json(output: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    capsys.readouterr()
    assert main(["status", str(output), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert isinstance(report, dict)
    return report


def test_status_and_a_second_render_know_whether_the_run_is_alive(
    httpserver: HTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FakeHeyGen(httpserver, render_seconds=3600.0)  # nothing finishes while the first run lives
    timeline = write_timeline(tmp_path / "cut", 3)
    out = tmp_path / "out" / "cut_avatar.otio"
    args = ["render", str(timeline), "-o", str(out), "--image", str(timeline.parent / "artist.png"), "--json"]
    env = {
        **os.environ,
        "HEYGEN_API_KEY": FAKE_API_KEY,
        "HEYGEN_API_URL": fake.base_url,
        "OTIO_HEYGEN_ASSET_CACHE": str(tmp_path / "assets.sqlite"),
    }
    proc = subprocess.Popen([*CLI, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        rendering: set[object] = set()
        for line in proc.stdout:
            event = json.loads(line)
            if event.get("state") == "rendering":
                rendering.add(event["section"])
                if len(rendering) == 3:
                    break
        assert len(rendering) == 3 and fake.creates == 3

        live = status_json(out, capsys)
        last = live["last_run"]
        assert isinstance(last, dict) and last["alive"] is True and last["pid"] == proc.pid
        assert live["counts"] == {"done": 0, "running": 3, "interrupted": 0, "failed": 0, "waiting": 0}

        heygen_env(monkeypatch, fake, tmp_path)
        uploads = fake.upload_requests
        assert main(args) == 2  # the same output, while the first run still works on it
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "being rendered by another otio-heygen" in err[0] and str(proc.pid) in err[0]
        assert fake.creates == 3 and fake.upload_requests == uploads  # nothing sent, nothing bought
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)

    dead = status_json(out, capsys)
    last = dead["last_run"]
    assert isinstance(last, dict) and last["alive"] is False
    assert f"interrupted: process {proc.pid} on" in str(last["outcome"]) and "is gone" in str(last["outcome"])
    assert dead["counts"] == {"done": 0, "running": 0, "interrupted": 3, "failed": 0, "waiting": 0}
    assert main(["status", str(out)]) == 0
    text = capsys.readouterr().out
    assert "0 running, 3 interrupted" in text and "Run the same render command again" in text

    fake.finish_all()
    assert main(args) == 0, capsys.readouterr().err
    assert fake.creates == 3  # the dead run's paid renders were picked up
    assert placed_sections(out) == ["Part 1", "Part 2", "Part 3"]
    db = sqlite3.connect(output_journal_path(out))
    outcomes = [row[0] for row in db.execute("SELECT outcome FROM runs ORDER BY id")]
    db.close()
    assert outcomes[0] == "killed" and outcomes[-1] == "complete"
    assert status_json(out, capsys)["counts"] == {"done": 3, "running": 0, "interrupted": 0, "failed": 0, "waiting": 0}
