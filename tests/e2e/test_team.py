"""Team mode: two real ``otio-heygen render`` processes share one account through a PostgreSQL
ledger (a real server, ``tests/support/pg.py``) against one HeyGen fake limited to 3 renders.

Each suite has its own HOME, asset cache and output folder; only ``OTIO_HEYGEN_LEDGER`` is
shared. Kills are driven by the fake server's own events, never by timers.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import av
import opentimelineio as otio
import psycopg
import pytest

from tests.e2e.test_crash_resume import write_timeline
from tests.support.heygen_fake import FAKE_API_KEY, FakeHeyGen

pytestmark = pytest.mark.slow

LIMIT = 3
LEASE_S = 2.0
_SCRIPT = Path(sys.executable).with_name("otio-heygen")
CLI = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "otio_heygen.cli.main"]


def suite_env(root: Path, name: str, fake: FakeHeyGen, pg_url: str) -> dict[str, str]:
    home = root / name / "home"
    home.mkdir(parents=True, exist_ok=True)
    return {
        **os.environ,
        "HOME": str(home),
        "HEYGEN_API_KEY": FAKE_API_KEY,
        "HEYGEN_API_URL": fake.base_url,
        "OTIO_HEYGEN_POLL_INTERVAL": "0.05",
        "OTIO_HEYGEN_ASSET_CACHE": str(root / name / "assets.sqlite"),
        "OTIO_HEYGEN_LEDGER": pg_url,
        "OTIO_HEYGEN_WORKSTATION": name,
        "OTIO_HEYGEN_SLOT_LEASE": str(LEASE_S),
    }


def start(root: Path, name: str, timeline: Path, fake: FakeHeyGen, pg_url: str) -> subprocess.Popen[bytes]:
    args = [*CLI, "render", str(timeline), "-o", str(root / name / "out" / "cut_avatar.otio"),
            "--image", str(root / "artist.png"), "--audio", str(root / "song.wav"),
            "--concurrency", str(LIMIT), "--json"]
    return subprocess.Popen(args, env=suite_env(root, name, fake, pg_url), cwd=root / name,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def finish(proc: subprocess.Popen[bytes], *, allow_kill: bool = False) -> int:
    _, err = proc.communicate(timeout=120)
    ok = (0, -signal.SIGKILL) if allow_kill else (0,)
    assert proc.returncode in ok, f"render exited {proc.returncode}: {err.decode(errors='replace')[-3000:]}"
    return proc.returncode


def assert_frame_exact(out: Path, timeline: Path, fake: FakeHeyGen) -> None:
    source = otio.adapters.read_from_file(str(timeline))
    result = otio.adapters.read_from_file(str(out))
    track = next(t for t in result.tracks if t.name == "Avatar IV")
    clips = list(track.find_clips())
    markers = sorted(source.tracks.markers, key=lambda m: m.marked_range.start_time.value)
    assert len(clips) == len(markers)
    ordered = sorted(clips, key=lambda c: c.trimmed_range_in_parent().start_time.value)
    for clip, marker in zip(ordered, markers, strict=True):
        placed = clip.trimmed_range_in_parent()
        assert placed.start_time == marker.marked_range.start_time
        assert placed.duration == marker.marked_range.duration
        assert clip.metadata["otio_heygen"]["video_id"] in fake.videos
        media = Path(clip.media_reference.target_url.removeprefix("file://"))
        if not media.is_absolute():
            media = out.parent / media
        with av.open(str(media)) as container:
            assert container.streams.video and next(container.decode(video=0)) is not None


def held_by(pg_url: str, workstation: str) -> int:
    """Live slot leases and job claims of ``workstation`` (server clock)."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        row = conn.execute(
            """SELECT (SELECT count(*) FROM team_slots WHERE workstation = %s AND holder IS NOT NULL
                       AND lease_until > EXTRACT(EPOCH FROM clock_timestamp()))
                    + (SELECT count(*) FROM team_claims WHERE workstation = %s
                       AND lease_until > EXTRACT(EPOCH FROM clock_timestamp()))""",
            (workstation, workstation),
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_two_suites_share_the_account_limit_and_buy_each_section_once(
    httpserver: Any, tmp_path: Path, pg_url: str
) -> None:
    timeline = write_timeline(tmp_path)
    fake = FakeHeyGen(httpserver, render_seconds=1.0, max_concurrent=LIMIT)
    for name in ("suite-a", "suite-b"):
        (tmp_path / name).mkdir()
    a = start(tmp_path, "suite-a", timeline, fake, pg_url)
    b = start(tmp_path, "suite-b", timeline, fake, pg_url)
    finish(a)
    finish(b)
    sections = len(otio.adapters.read_from_file(str(timeline)).tracks.markers)
    assert fake.creates == sections and sorted(fake.creates_by_key.values()) == [1] * sections
    assert fake.concurrency_refusals == 0
    assert 1 <= fake.max_in_flight <= LIMIT
    assert fake.rejected == []
    for name in ("suite-a", "suite-b"):
        assert_frame_exact(tmp_path / name / "out" / "cut_avatar.otio", timeline, fake)
    assert held_by(pg_url, "suite-a") == held_by(pg_url, "suite-b") == 0  # all given back on exit


def test_sigkill_one_suite_the_other_finishes_without_buying_twice(
    httpserver: Any, tmp_path: Path, pg_url: str
) -> None:
    timeline = write_timeline(tmp_path)
    fake = FakeHeyGen(httpserver, render_seconds=1.0, max_concurrent=LIMIT)
    for name in ("suite-a", "suite-b"):
        (tmp_path / name).mkdir()
    killed_at: list[float] = []
    creates = fake._create
    lock = threading.Lock()
    a: subprocess.Popen[bytes] | None = None

    def create_then_kill_a(request: Any, *args: Any) -> Any:
        response = creates(request, *args)
        with lock:
            # suite A dies right after the server accepted the account's 2nd render: it holds
            # claims and slots, and renders it paid for are still running
            if fake.creates == 2 and not killed_at and a is not None:
                os.kill(a.pid, signal.SIGKILL)
                killed_at.append(time.monotonic())
        return response

    fake._create = create_then_kill_a  # type: ignore[method-assign]
    a = start(tmp_path, "suite-a", timeline, fake, pg_url)
    b = start(tmp_path, "suite-b", timeline, fake, pg_url)
    assert finish(a, allow_kill=True) == -signal.SIGKILL and killed_at
    # the dead suite's slots and claims come back within the lease, with nobody cleaning up
    while held_by(pg_url, "suite-a") and time.monotonic() - killed_at[0] < LEASE_S + 5:
        time.sleep(0.05)
    returned_after = time.monotonic() - killed_at[0]
    assert held_by(pg_url, "suite-a") == 0
    assert returned_after <= LEASE_S + 1.0, returned_after
    finish(b)
    sections = len(otio.adapters.read_from_file(str(timeline)).tracks.markers)
    assert fake.creates == sections and sorted(fake.creates_by_key.values()) == [1] * sections
    assert fake.concurrency_refusals == 0 and fake.max_in_flight <= LIMIT
    assert_frame_exact(tmp_path / "suite-b" / "out" / "cut_avatar.otio", timeline, fake)
    # the killed suite's rerun finishes from what the account owns: nothing bought
    rerun = start(tmp_path, "suite-a", timeline, fake, pg_url)
    finish(rerun)
    assert fake.creates == sections
    assert_frame_exact(tmp_path / "suite-a" / "out" / "cut_avatar.otio", timeline, fake)


def cli(root: Path, name: str, fake: FakeHeyGen, pg_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    (root / name).mkdir(exist_ok=True)
    return subprocess.run([*CLI, *args], env=suite_env(root, name, fake, pg_url), cwd=root / name,
                          capture_output=True, text=True, timeout=60)


def test_team_budget_is_respected_by_every_workstation_and_spending_is_shown_per_suite(
    httpserver: Any, tmp_path: Path, pg_url: str
) -> None:
    import json

    timeline = write_timeline(tmp_path)
    fake = FakeHeyGen(httpserver, render_seconds=0.2, max_concurrent=LIMIT)
    # 10 sections of 2 s at $0.10/s: $2.00 in all; the team allows $1.00
    done = cli(tmp_path, "admin", fake, pg_url, "ledger", "budget", "set", "1")
    assert done.returncode == 0, done.stderr
    assert "$1.00" in done.stdout
    (tmp_path / "suite-a").mkdir()
    proc = start(tmp_path, "suite-a", timeline, fake, pg_url)
    proc.communicate(timeout=120)
    assert proc.returncode == 1  # some sections not started: over the team budget
    assert fake.creates == 5 and fake.concurrency_refusals == 0
    shown = json.loads(cli(tmp_path, "admin", fake, pg_url, "ledger", "budget", "--json").stdout)
    assert (shown["cap_usd"], shown["spent_usd"], shown["left_usd"]) == (1.0, 1.0, 0.0)
    # another suite (the budget raised) buys only what the team does not own yet
    assert cli(tmp_path, "admin", fake, pg_url, "ledger", "budget", "set", "2").returncode == 0
    (tmp_path / "suite-b").mkdir()
    finish(start(tmp_path, "suite-b", timeline, fake, pg_url))
    assert fake.creates == 10
    by_ws = json.loads(cli(tmp_path, "admin", fake, pg_url, "ledger", "--by", "workstation", "--json").stdout)
    assert {g["workstation"]: (g["videos"], round(g["usd"], 2)) for g in by_ws["groups"]} == {
        "suite-a": (5, 1.0), "suite-b": (5, 1.0)}
    by_out = json.loads(cli(tmp_path, "admin", fake, pg_url, "ledger", "--by", "output", "--json").stdout)
    assert sum(g["videos"] for g in by_out["groups"]) == 10
    by_day = json.loads(cli(tmp_path, "admin", fake, pg_url, "ledger", "--by", "day", "--json").stdout)
    assert [g["videos"] for g in by_day["groups"]] == [10] and by_day["bought"]["usd"] == 2.0
    # an embedded (file) ledger has no team budget: one clear line, exit 2
    env = {**suite_env(tmp_path, "admin", fake, pg_url), "OTIO_HEYGEN_LEDGER": str(tmp_path / "l.sqlite")}
    solo = subprocess.run([*CLI, "ledger", "budget", "set", "5"], env=env, capture_output=True, text=True, timeout=60)
    assert solo.returncode == 2 and "needs the team ledger" in solo.stderr


def run_json(root: Path, name: str, timeline: Path, fake: FakeHeyGen, pg_url: str, *, concurrency: int,
             image: Path) -> tuple[subprocess.Popen[str], list[dict[str, Any]], threading.Event]:
    """A suite with ``--json`` whose events are collected as they come (``seen`` is set on each)."""
    import json

    (root / name).mkdir(exist_ok=True)
    args = [*CLI, "render", str(timeline), "-o", str(root / name / "out" / "cut_avatar.otio"),
            "--image", str(image), "--audio", str(root / "song.wav"), "--concurrency", str(concurrency), "--json"]
    proc = subprocess.Popen(args, env=suite_env(root, name, fake, pg_url), cwd=root / name,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    events: list[dict[str, Any]] = []
    seen = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            events.append(json.loads(line))
            seen.set()

    threading.Thread(target=read, daemon=True).start()
    return proc, events, seen


def wait_until(check: Any, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.05)


def test_a_suite_says_whose_render_it_waits_for_and_when_every_slot_is_taken(
    httpserver: Any, tmp_path: Path, pg_url: str
) -> None:
    timeline = write_timeline(tmp_path)
    fake = FakeHeyGen(httpserver, render_seconds=3600.0, max_concurrent=LIMIT)  # renders end when we say
    (tmp_path / "suite-a").mkdir()
    a = start(tmp_path, "suite-a", timeline, fake, pg_url)
    wait_until(lambda: fake.creates == LIMIT, "suite-a has the account's 3 renders running")
    b, events, _ = run_json(tmp_path, "suite-b", timeline, fake, pg_url, concurrency=LIMIT,
                            image=tmp_path / "artist.png")

    def waiting(kind: str) -> list[dict[str, Any]]:
        return [e for e in list(events) if e.get("state") == "waiting" and kind in str(e.get("waiting_for"))]

    # the same sections: B waits for A's renders of them instead of buying them, and says whose
    wait_until(lambda: waiting("suite-a's render (video "), "suite-b waits for suite-a's render")
    first = waiting("suite-a's render (video ")[0]
    assert first["workstation"] == "suite-a" and first["video_id"] in fake.videos
    assert first["waiting_for"] == f"suite-a's render (video {first['video_id']})"
    fake.render_seconds = 0.2
    fake.finish_all()
    finish(a)
    b.communicate(timeout=120)
    assert b.returncode == 0
    sections = len(otio.adapters.read_from_file(str(timeline)).tracks.markers)
    assert fake.creates == sections and sorted(fake.creates_by_key.values()) == [1] * sections
    assert fake.concurrency_refusals == 0

    # another cut (its own portrait: new renders) while suite-a holds every slot of the account
    from tests.support.heygen_fake import write_test_png

    fake.finish_all()  # every render so far is done, whatever the render time says from now on
    fake.render_seconds = 3600.0
    before = fake.creates
    (tmp_path / "suite-a" / "out" / "cut_avatar.otio").unlink()
    a = start(tmp_path, "suite-a", timeline, fake, pg_url)  # reuses its own clips, buys nothing
    finish(a)
    c, events, _ = run_json(tmp_path, "suite-c", timeline, fake, pg_url, concurrency=LIMIT,
                            image=write_test_png(tmp_path / "other.png", size=512, shade=30))
    wait_until(lambda: fake.creates == before + LIMIT or c.poll() is not None, "suite-c has 3 renders running")
    assert c.poll() is None, c.communicate()[1][-3000:]
    d, d_events, _ = run_json(tmp_path, "suite-d", timeline, fake, pg_url, concurrency=LIMIT,
                              image=write_test_png(tmp_path / "third.png", size=512, shade=200))
    events = d_events
    wait_until(lambda: waiting("a render slot"), "suite-d waits for a render slot")
    slot = waiting("a render slot")[0]
    assert slot["waiting_for"] == "a render slot: 3 of 3 in use across the team (suite-c: 3)"
    assert (slot["slots_in_use"], slot["slot_limit"]) == (3, 3)
    fake.render_seconds = 0.2
    while c.poll() is None or d.poll() is None:
        fake.finish_all()
        time.sleep(0.1)
    assert c.returncode == 0 and d.returncode == 0
    assert fake.concurrency_refusals == 0 and fake.max_in_flight <= LIMIT


def test_a_suite_asking_for_fewer_renders_is_never_overrun_by_one_asking_for_more(
    httpserver: Any, tmp_path: Path, pg_url: str
) -> None:
    from tests.support.heygen_fake import write_test_png

    timeline = write_timeline(tmp_path)
    fake = FakeHeyGen(httpserver, render_seconds=0.5, max_concurrent=10)

    def running(workstation: str) -> bool:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            try:
                row = conn.execute("SELECT count(*) FROM team_suites WHERE workstation = %s", (workstation,)).fetchone()
            except psycopg.errors.UndefinedTable:
                return False
        return bool(row and row[0])

    while_careful: list[int] = []  # renders at the account at each create while suite-careful runs
    creates = fake._create

    def create(request: Any, *args: Any) -> Any:
        response = creates(request, *args)
        if running("suite-careful"):  # then every slot in use was taken under its limit
            while_careful.append(fake.in_flight())
        return response

    fake._create = create  # type: ignore[method-assign]
    careful, _, _ = run_json(tmp_path, "suite-careful", timeline, fake, pg_url, concurrency=2,
                             image=tmp_path / "artist.png")
    wait_until(lambda: running("suite-careful"), "suite-careful is running")
    eager, events, _ = run_json(tmp_path, "suite-eager", timeline, fake, pg_url, concurrency=10,
                                image=write_test_png(tmp_path / "other.png", size=512, shade=30))
    careful.communicate(timeout=120)
    eager.communicate(timeout=120)
    assert careful.returncode == 0 and eager.returncode == 0
    sections = len(otio.adapters.read_from_file(str(timeline)).tracks.markers)
    assert fake.creates == 2 * sections and sorted(fake.creates_by_key.values()) == [1] * (2 * sections)
    assert fake.concurrency_refusals == 0
    assert len(while_careful) >= sections and max(while_careful) == 2  # the lowest --concurrency held
    told = [e for e in events if e.get("state") == "waiting" and "lowest --concurrency" in str(e.get("waiting_for"))]
    assert told and "(suite-careful)" in told[0]["waiting_for"]
