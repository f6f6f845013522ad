"""Whole CLI runs when the network misbehaves: HeyGen unreachable, and a heavy mix of transient faults.

- Unreachable: the real ``otio-heygen`` process, a key set, ``HEYGEN_API_URL`` at a closed port on
  127.0.0.1: one line, exit 1, within seconds, nothing written.
- Fault mix (the issue's: 20 % 5xx, 20 % 429, 10 % dropped connections, 30 % truncated downloads,
  download links valid 2 s) from the fake server's seeded ``fault_mix``, at most three faults in a
  row per endpoint so the test is bounded: the render completes in one go, each section bought once.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from otio_heygen.cli.main import main
from tests.e2e.test_failures_and_interrupts import CLI, placed_sections, write_timeline
from tests.support.heygen_fake import FAKE_API_KEY, FakeHeyGen


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_heygen_unreachable_stops_at_once_with_one_line_and_writes_nothing(tmp_path: Path) -> None:
    timeline = write_timeline(tmp_path / "cut", 4)
    port = closed_port()
    out_root = tmp_path / "new"
    out = out_root / "renders" / "cut_avatar.otio"
    env = {
        **os.environ,
        "HEYGEN_API_KEY": FAKE_API_KEY,
        "HEYGEN_API_URL": f"http://127.0.0.1:{port}",
        "OTIO_HEYGEN_ASSET_CACHE": str(tmp_path / "assets.sqlite"),
    }
    env.pop("OTIO_HEYGEN_DEBUG", None)
    env.pop("OTIO_HEYGEN_POLL_INTERVAL", None)
    started = time.monotonic()
    proc = subprocess.run(
        [*CLI, "render", str(timeline), "-o", str(out), "--image", str(timeline.parent / "artist.png")],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    assert proc.returncode == 1, proc.stderr
    assert elapsed < 15.0, f"took {elapsed:.1f} s"
    assert proc.stderr.strip().splitlines() == [
        f"otio-heygen: error: cannot reach HeyGen at http://127.0.0.1:{port}: check the network or HEYGEN_API_URL"
    ]
    assert "Traceback" not in proc.stdout + proc.stderr and FAKE_API_KEY not in proc.stdout + proc.stderr
    assert not out_root.exists()  # no output folder, journal or media half-written
    assert sorted(p.name for p in timeline.parent.iterdir()) == ["artist.png", "cut.otio", "song.wav"]


@pytest.mark.slow
def test_render_under_the_heavy_fault_mix_completes_in_one_go(
    httpserver: HTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FakeHeyGen(httpserver, render_seconds=0.5, url_ttl_s=2.0)
    drawn = fake.fault_mix(seed=13, server_error=0.2, rate_limit=0.2, drop=0.1, truncate=0.3, max_in_a_row=3)
    timeline = write_timeline(tmp_path / "cut", 5)
    out = tmp_path / "out" / "cut_avatar.otio"
    monkeypatch.setenv("HEYGEN_API_KEY", FAKE_API_KEY)
    monkeypatch.setenv("HEYGEN_API_URL", fake.base_url)
    monkeypatch.setenv("OTIO_HEYGEN_ASSET_CACHE", str(tmp_path / "assets.sqlite"))
    monkeypatch.setenv("OTIO_HEYGEN_POLL_INTERVAL", "0.2")

    code = main(["render", str(timeline), "-o", str(out), "--image", str(timeline.parent / "artist.png"), "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    result = [json.loads(line) for line in captured.out.splitlines() if line.strip()][-1]
    assert result["event"] == "result" and result["failures"] == []
    assert placed_sections(out) == [f"Part {i}" for i in range(1, 6)]
    # every section bought exactly once, although create answers were lost and resent
    assert fake.creates == 5 and set(fake.creates_by_key.values()) == {1} and fake.key_body_mismatches == 0
    assert fake.rejected == []  # the strict server refused nothing it should not
    assert fake.downloads_completed >= 5 and fake.downloads_with_key == 0
    # the faults really happened, of every kind
    assert all(drawn[kind] > 0 for kind in ("429", "drop", "truncate")), drawn
    assert sum(drawn[kind] for kind in ("500", "502", "503")) > 0, drawn
