"""Whole ``render`` runs of the bundled sample against a local, strict HeyGen v3 server."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import opentimelineio as otio
import pytest
from pytest_httpserver import HTTPServer

from otio_heygen import RenderOptions
from otio_heygen import plan_file as plan_timeline
from otio_heygen import render_file as render_timeline
from otio_heygen.errors import BudgetExceededError
from tests.conftest import SAMPLES
from tests.support.clock import FakeTime
from tests.support.heygen_fake import FAKE_API_KEY, FakeHeyGen


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    dest = tmp_path / "sample"
    shutil.copytree(SAMPLES, dest, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return dest / "demo_resolve.otio"


HEYGEN = RenderOptions(backend="heygen")  # a library call names its backend (the CLI picks it from the key)


def env_for(fake: FakeHeyGen, cache: Path) -> dict[str, str]:
    return {
        "HEYGEN_API_KEY": FAKE_API_KEY,
        "HEYGEN_API_URL": fake.base_url,
        "OTIO_HEYGEN_POLL_INTERVAL": "5",
        "OTIO_HEYGEN_ASSET_CACHE": str(cache),
    }


def test_whole_render_against_strict_v3_server(httpserver: HTTPServer, sample: Path, tmp_path: Path) -> None:
    time = FakeTime(min_step=0.001)
    fake = FakeHeyGen(httpserver, render_seconds=240.0, clock=time.clock)
    env = env_for(fake, tmp_path / "assets.sqlite")
    out = tmp_path / "out" / "demo_avatar.otio"
    events: list[dict[str, object]] = []

    summary = render_timeline(sample, out, HEYGEN, env=env, on_event=lambda e: events.append(e.to_dict()),
                              sleep=time.sleep, clock=time.clock)

    assert summary.backend == "heygen" and not summary.failures
    assert fake.rejected == []  # no request was refused by the strict server
    assert fake.creates == 6 and fake.create_requests == 6  # exactly one create per section
    assert all(count == 1 for count in fake.creates_by_key.values())
    assert fake.uploads == 7  # one photo + six distinct audio slices, each once
    assert fake.downloads_with_key == 0  # presigned downloads never carry the key
    assert time.slept > 0  # waited on the (fake) clock, never for real

    result = otio.adapters.read_from_file(str(out))
    track = next(t for t in result.tracks if t.name == "Avatar IV")
    plan = plan_timeline(sample, HEYGEN, env=env)
    placed = [(c.range_in_parent().start_time.value, c.range_in_parent().end_time_exclusive().value)
              for c in track.find_clips()]
    assert placed == [(s.start_frame, s.end_frame) for s in plan.sections]
    video_ids = {c.metadata["otio_heygen"]["video_id"] for c in track.find_clips()}
    assert video_ids == set(fake.videos)

    # the key is a secret: nowhere in what we wrote
    for path in [out, *out.parent.rglob("*.sqlite*"), *out.parent.rglob("*.json")]:
        assert FAKE_API_KEY.encode() not in path.read_bytes(), path
    assert FAKE_API_KEY not in repr(events)

    # rerun: zero uploads, zero creates, same output
    before = (fake.upload_requests, fake.create_requests)
    again = render_timeline(sample, out, HEYGEN, env=env, sleep=time.sleep, clock=time.clock)
    assert (fake.upload_requests, fake.create_requests) == before
    assert again.rendered == 0 and again.reused == 6


def test_budget_below_estimate_uploads_and_creates_nothing(
    httpserver: HTTPServer, sample: Path, tmp_path: Path
) -> None:
    time = FakeTime(min_step=0.001)
    fake = FakeHeyGen(httpserver, clock=time.clock)
    env = env_for(fake, tmp_path / "assets.sqlite")
    with pytest.raises(BudgetExceededError) as info:
        render_timeline(sample, tmp_path / "o.otio", RenderOptions(backend="heygen", budget_usd=2.0), env=env,
                        sleep=time.sleep, clock=time.clock)
    assert info.value.exit_code == 2
    assert fake.upload_requests == 0 and fake.create_requests == 0
    assert not (tmp_path / "o.otio").exists()


def test_editing_one_note_rerenders_only_that_section(httpserver: HTTPServer, sample: Path, tmp_path: Path) -> None:
    time = FakeTime(min_step=0.001)
    fake = FakeHeyGen(httpserver, render_seconds=10.0, clock=time.clock)
    env = env_for(fake, tmp_path / "assets.sqlite")
    out = tmp_path / "out.otio"
    render_timeline(sample, out, HEYGEN, env=env, sleep=time.sleep, clock=time.clock)
    assert fake.creates == 6

    edited = otio.adapters.read_from_file(str(sample))
    verse = next(m for m in edited.tracks.markers if m.name == "Verse 2")
    verse.metadata["Resolve_OTIO"]["Note"] = "motion: points at the camera\nexpressiveness: high"
    edited_path = sample.with_name("demo_edited.otio")
    otio.adapters.write_to_file(edited, str(edited_path))

    summary = render_timeline(edited_path, out, HEYGEN, env=env, sleep=time.sleep, clock=time.clock)
    assert fake.creates == 7 and summary.rendered == 1 and summary.reused == 5
    assert fake.uploads == 7  # the photo and the audio slices were already uploaded
    with sqlite3.connect(str(out.parent / ".otio-heygen" / "journal.sqlite")) as db:
        assert db.execute("select count(*) from jobs").fetchone()[0] == 7


def test_warns_when_estimate_exceeds_balance(httpserver: HTTPServer, sample: Path, tmp_path: Path) -> None:
    time = FakeTime(min_step=0.001)
    fake = FakeHeyGen(httpserver, clock=time.clock, balance=1.5)
    events: list[dict[str, object]] = []
    render_timeline(sample, tmp_path / "o.otio", HEYGEN, env=env_for(fake, tmp_path / "a.sqlite"),
                    on_event=lambda e: events.append(e.to_dict()), sleep=time.sleep, clock=time.clock)
    notices = [str(e["message"]) for e in events if e.get("event") == "notice"]
    assert any("more than the account balance $1.50" in n for n in notices), notices
