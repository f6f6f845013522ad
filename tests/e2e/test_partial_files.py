"""No partial file outlives a run: Ctrl-C twice during a download, or a SIGKILL, then a rerun.

``otio-heygen render`` runs as a real subprocess against the fake HeyGen v3 server (threaded, in this
process). A gate on the fake's download endpoint sends the first chunk of every clip and then holds the
rest until the test opens it, so the clip's hidden temp file exists and is being written when the
signals arrive. Every step waits on an event (the gate's, or a JSON progress line), never on a timer.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from otio_heygen.cli.main import main
from otio_heygen.fsutil import parse_temp_name
from tests.e2e.test_failures_and_interrupts import CLI, heygen_env, json_lines, placed_sections, write_timeline
from tests.support.heygen_fake import FAKE_API_KEY, FakeHeyGen

SECTIONS = 2
WAIT_S = 60.0
"""Only a safety net for a broken run: every wait ends on an event long before."""


class DownloadGate:
    """Holds every download after its first chunk until ``release``; ``arrived`` is set once a first
    chunk went out (the client has its temp file open and is writing it)."""

    def __init__(self, fake: FakeHeyGen) -> None:
        self.arrived = threading.Event()
        self.opened = threading.Event()
        original = fake._download

        def gated(request: Any) -> Any:
            response = original(request)
            if response.status_code != 200:
                return response
            body = response.response

            def held() -> Iterator[bytes]:
                chunks = iter(body)
                yield next(chunks, b"")
                self.arrived.set()
                self.opened.wait(WAIT_S)
                yield from chunks

            response.response = held()
            return response

        fake._download = gated  # type: ignore[method-assign]

    def release(self) -> None:
        self.opened.set()


@pytest.fixture
def server() -> Iterator[HTTPServer]:
    threaded = HTTPServer(host="127.0.0.1", port=0, threaded=True)  # polls go on while a download is held
    threaded.start()
    yield threaded
    threaded.clear()
    threaded.stop()


def start_render(tmp_path: Path, fake: FakeHeyGen) -> tuple[subprocess.Popen[str], list[str]]:
    timeline = write_timeline(tmp_path / "cut", SECTIONS)
    args = ["render", str(timeline), "-o", str(tmp_path / "out" / "cut_avatar.otio"),
            "--image", str(timeline.parent / "artist.png"), "--json"]
    env = {
        **os.environ,
        "HEYGEN_API_KEY": FAKE_API_KEY,
        "HEYGEN_API_URL": fake.base_url,
        "OTIO_HEYGEN_POLL_INTERVAL": "0.05",
        "OTIO_HEYGEN_ASSET_CACHE": str(tmp_path / "assets.sqlite"),
        "OTIO_HEYGEN_CONCURRENCY": str(SECTIONS),
    }
    proc = subprocess.Popen([*CLI, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return proc, args


def hidden_files(out: Path) -> list[Path]:
    """Every hidden file or folder under the output folder except the journal's own folder."""
    return sorted(p for p in out.rglob(".*") if p.name != ".otio-heygen")


def rerun_buys_nothing_twice(tmp_path: Path, fake: FakeHeyGen, args: list[str], monkeypatch: pytest.MonkeyPatch,
                             capsys: pytest.CaptureFixture[str]) -> None:
    heygen_env(monkeypatch, fake, tmp_path)
    assert main(args) == 0, capsys.readouterr().err
    result = json_lines(capsys.readouterr().out)[-1]
    # each section's render was bought by the stopped run: picked up again (rendered) or found in the
    # account ledger (reused), never bought a second time
    assert result["bought"]["count"] == 0 and result["rendered"] + result["reused"] == SECTIONS, result
    assert fake.creates == SECTIONS and sorted(fake.creates_by_key.values()) == [1] * SECTIONS
    assert placed_sections(tmp_path / "out" / "cut_avatar.otio") == [f"Part {i + 1}" for i in range(SECTIONS)]


def test_ctrl_c_twice_during_a_download_stops_at_once_and_leaves_no_partial_file(
    server: HTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FakeHeyGen(server)
    gate = DownloadGate(fake)
    proc, args = start_render(tmp_path, fake)
    assert proc.stdout is not None and proc.stderr is not None
    out = tmp_path / "out"
    try:
        assert gate.arrived.wait(WAIT_S), proc.stderr.read() if proc.poll() is not None else "no download"
        assert [p for p in hidden_files(out) if p.parent.name == "cut_avatar_media"], "a download in progress"
        proc.send_signal(signal.SIGINT)  # the first: stop gracefully (the held downloads never end)
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if json.loads(line).get("event") == "interrupted":
                break
        proc.send_signal(signal.SIGINT)  # the second, while the run waits for its downloads: stop now
        rest, err = proc.communicate(timeout=WAIT_S)
    finally:
        gate.release()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and "run the same command again" in err, err
    events = json_lines("".join(lines) + rest)
    assert events[-1]["event"] == "error" and events[-1]["exit_code"] == 130
    assert hidden_files(out) == []
    assert fake.creates == SECTIONS

    rerun_buys_nothing_twice(tmp_path, fake, args, monkeypatch, capsys)
    assert hidden_files(out) == []


def test_a_sigkill_during_a_download_leaves_its_temp_file_and_the_rerun_removes_it(
    server: HTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FakeHeyGen(server)
    gate = DownloadGate(fake)
    proc, args = start_render(tmp_path, fake)
    out = tmp_path / "out"
    try:
        assert gate.arrived.wait(WAIT_S), "no download"
        proc.kill()  # SIGKILL: no handler runs, nothing cleans
        proc.communicate(timeout=WAIT_S)
    finally:
        gate.release()
    left = hidden_files(out)
    assert [p for p in left if p.parent.name == "cut_avatar_media"], "the killed download's temp file is there"

    rerun_buys_nothing_twice(tmp_path, fake, args, monkeypatch, capsys)
    assert hidden_files(out) == []
    # what was left carried its owner's pid: that is how the rerun knew it was not a live run's
    owners = {getattr(parse_temp_name(p.name), "pid", None) for p in left}
    assert owners == {proc.pid}
