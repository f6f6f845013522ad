"""SIGKILL ``otio-heygen render`` at many points of a 10-section run, rerun: nothing is paid twice.

The render runs as a real subprocess against the fake HeyGen v3 server (in this process, on
127.0.0.1). A kill switch inside the server's handlers SIGKILLs the process while it is in the
middle of an upload, a create (the server still creates the video: the client dies before it
learns the id), a status poll (bulk, or the single fetch of a finished render) or a download;
some kills come on the n-th request of any kind, so they land wherever the run happens to be.
Every kill is driven by the server's own events, never by a wall-clock timer, so the scenarios
behave the same alone, in the full suite or on a slow machine. After each scenario's kills a
plain rerun must finish with exit code 0, and the server must have created exactly one render
per section. The account ledger (a file per test, see conftest.py)
is shared by the killed runs and the rerun, like the user's own.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import opentimelineio as otio
import pytest

from tests.conftest import SAMPLES
from tests.support.heygen_fake import FAKE_API_KEY, FakeHeyGen

pytestmark = pytest.mark.slow

SECTIONS = 10
RATE = 25.0
SECTION_FRAMES = 50
_SCRIPT = Path(sys.executable).with_name("otio-heygen")
CLI = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "otio_heygen.cli.main"]
ENDPOINTS = {
    "upload": "_upload",
    "create": "_create",
    "status": "_status",
    "statuses": "_statuses",
    "download": "_download",
}


def write_timeline(root: Path) -> Path:
    shutil.copy(SAMPLES / "song.wav", root / "song.wav")
    shutil.copy(SAMPLES / "artist.png", root / "artist.png")
    song_frames = SECTIONS * SECTION_FRAMES + 50

    def span(start: int, length: int) -> otio.opentime.TimeRange:
        rt = otio.opentime.RationalTime
        return otio.opentime.TimeRange(rt(start, RATE), rt(length, RATE))

    timeline = otio.schema.Timeline(name="Crash test")
    song = otio.schema.Clip(
        name="song.wav",
        source_range=span(0, song_frames),
        media_reference=otio.schema.ExternalReference(
            target_url=str(root / "song.wav"), available_range=span(0, song_frames)
        ),
    )
    timeline.tracks.append(otio.schema.Track(name="A1", kind=otio.schema.TrackKind.Audio, children=[song]))
    for i in range(SECTIONS):
        timeline.tracks.markers.append(
            otio.schema.Marker(name=f"Part {i + 1}", marked_range=span(i * SECTION_FRAMES, SECTION_FRAMES))
        )
    path = root / "cut.otio"
    otio.adapters.write_to_file(timeline, str(path))
    return path


class KillSwitch:
    """SIGKILLs the render process on the n-th request to an endpoint (counted per run)."""

    def __init__(self, fake: FakeHeyGen) -> None:
        self.fake = fake
        self.lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.proc: subprocess.Popen[bytes] | None = None
        self.trigger: tuple[str, int] | None = None
        self.fired = False
        for endpoint, attr in ENDPOINTS.items():
            setattr(fake, attr, self._wrap(endpoint, getattr(fake, attr)))

    def _wrap(self, endpoint: str, handler: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(request: Any, *args: Any) -> Any:
            with self.lock:
                self.counts[endpoint] += 1
                self.counts["any"] += 1
                hit = self.trigger is not None and self.trigger[1] == self.counts[self.trigger[0]]
                if hit and self.proc is not None and not self.fired:
                    self.fired = True
                    os.kill(self.proc.pid, signal.SIGKILL)  # the request still reaches the server
            return handler(request, *args)

        return wrapped

    def arm(self, proc: subprocess.Popen[bytes], trigger: tuple[str, int] | None) -> None:
        with self.lock:
            self.counts.clear()
            self.proc, self.trigger, self.fired = proc, trigger, False


def render(root: Path, timeline: Path, fake: FakeHeyGen, switch: KillSwitch, trigger: tuple[str, int] | None) -> int:
    env = {
        **os.environ,
        "HEYGEN_API_KEY": FAKE_API_KEY,
        "HEYGEN_API_URL": fake.base_url,
        "OTIO_HEYGEN_POLL_INTERVAL": "0.05",
        "OTIO_HEYGEN_ASSET_CACHE": str(root / "assets.sqlite"),
        "OTIO_HEYGEN_CONCURRENCY": "4",
    }
    args = [
        *CLI,
        "render",
        str(timeline),
        "-o",
        str(root / "out" / "cut_avatar.otio"),
        "--image",
        str(root / "artist.png"),
        "--audio",
        str(root / "song.wav"),
        "--json",
    ]
    proc = subprocess.Popen(args, env=env, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    switch.arm(proc, trigger)
    _, err = proc.communicate(timeout=60)
    if proc.returncode not in (0, -signal.SIGKILL):
        raise AssertionError(f"render exited {proc.returncode}: {err.decode(errors='replace')[-2000:]}")
    return proc.returncode


SCENARIOS: dict[str, list[tuple[str, int]]] = {
    "creates": [("create", 1), ("create", 3), ("create", 2), ("create", 4)],
    "uploads-and-downloads": [("upload", 2), ("download", 1), ("upload", 4), ("download", 3)],
    # renders in flight are polled together (GET /v3/videos/statuses); a finished one is fetched
    # alone (GET /v3/videos/{id}) for its download link
    "polls": [("statuses", 1), ("create", 5), ("status", 2), ("statuses", 3)],
    # the n-th request of any kind: wherever the run is at that moment (uploads, creates, polls...)
    "after-requests": [("any", 5), ("any", 11), ("any", 17), ("any", 23)],
}


@pytest.mark.parametrize("kills", list(SCENARIOS.values()), ids=list(SCENARIOS))
def test_sigkill_then_rerun_never_creates_twice(httpserver: Any, tmp_path: Path, kills: list[tuple[str, int]]) -> None:
    timeline = write_timeline(tmp_path)
    fake = FakeHeyGen(httpserver, render_seconds=0.3, echo_audio=True)
    switch = KillSwitch(fake)
    killed = 0
    for trigger in kills:
        if render(tmp_path, timeline, fake, switch, trigger) == 0:
            break  # the run finished before reaching that point
        killed += 1
    assert killed >= 2, "the scenario must really interrupt runs"
    assert render(tmp_path, timeline, fake, switch, None) == 0
    assert fake.rejected == []
    assert fake.creates == SECTIONS, fake.creates_by_key
    assert sorted(fake.creates_by_key.values()) == [1] * SECTIONS
    if kills == SCENARIOS["creates"]:
        # killed inside creates (the server created them): the rerun found those renders by the tag
        # their titles carry (GET /v3/videos?title=) instead of sending anything again
        assert fake.list_requests >= 1
        assert max(fake.create_requests_by_key.values()) == 1
    output = otio.adapters.read_from_file(str(tmp_path / "out" / "cut_avatar.otio"))
    track = next(t for t in output.tracks if t.name == "Avatar IV")
    clips = list(track.find_clips())
    assert len(clips) == SECTIONS
    assert {c.metadata["otio_heygen"]["video_id"] for c in clips} == set(fake.videos)
    # and once complete, a rerun is free
    requests = (fake.upload_requests, fake.create_requests)
    assert render(tmp_path, timeline, fake, switch, None) == 0
    assert (fake.upload_requests, fake.create_requests) == requests
