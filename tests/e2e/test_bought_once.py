"""Bought once per account: whole CLI runs sharing one account ledger across output folders.

The CLI runs in this process (``main([...])``) against the strict fake HeyGen v3 server on
127.0.0.1, whose clock is injected: its Idempotency-Key replay window is shortened to one second
and passed by moving that clock, so nothing sleeps for it. Every test has its own ledger file
(``tests/conftest.py`` points ``OTIO_HEYGEN_LEDGER`` at it).
"""

from __future__ import annotations

import json
import os
import sqlite3
import wave
from pathlib import Path

import av
import numpy as np
import opentimelineio as otio
import pytest
from pytest_httpserver import HTTPServer

from otio_heygen.cli.main import main
from otio_heygen.run.ledger import account_for_key, open_ledger
from tests.e2e.test_failures_and_interrupts import SECTION_FRAMES, write_timeline
from tests.support.heygen_fake import FAKE_API_KEY, FakeHeyGen


class Clock:
    """The fake server's clock: moved by hand."""

    def __init__(self) -> None:
        self.now = 10_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def use_fake(monkeypatch: pytest.MonkeyPatch, fake: FakeHeyGen, root: Path, concurrency: int = 2) -> None:
    monkeypatch.setenv("HEYGEN_API_KEY", FAKE_API_KEY)
    monkeypatch.setenv("HEYGEN_API_URL", fake.base_url)
    monkeypatch.setenv("OTIO_HEYGEN_ASSET_CACHE", str(root / "assets.sqlite"))
    monkeypatch.setenv("OTIO_HEYGEN_CONCURRENCY", str(concurrency))
    monkeypatch.setenv("OTIO_HEYGEN_POLL_INTERVAL", "0.01")


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[dict[str, object]], str]:
    code = main(list(args))
    captured = capsys.readouterr()
    try:
        return code, [json.loads(captured.out)], captured.err  # one object (plan, ledger)
    except ValueError:
        lines = [json.loads(line) for line in captured.out.splitlines() if line.strip().startswith("{")]
        return code, lines, captured.err  # JSON lines (render)


def render(
    capsys: pytest.CaptureFixture[str], timeline: Path, out: Path, *extra: str
) -> tuple[int, dict[str, object], list]:
    code, events, err = run_cli(
        capsys, "render", str(timeline), "-o", str(out), "--image", str(timeline.parent / "artist.png"), "--json",
        *extra,
    )
    results = [e for e in events if e.get("event") == "result"]
    assert results, err
    return code, results[-1], events


def edit_section_audio(src: Path, dest: Path, section: int) -> Path:
    """A copy of the timeline's folder whose song differs only inside section ``section`` (1-based)."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("cut.otio", "artist.png"):
        (dest / name).write_bytes((src / name).read_bytes())
    with wave.open(str(src / "song.wav"), "rb") as song:
        params = song.getparams()
        data = np.frombuffer(song.readframes(params.nframes), dtype=np.int16).copy()
    per_frame = params.framerate * params.nchannels // 25
    start, end = (section - 1) * SECTION_FRAMES * per_frame, section * SECTION_FRAMES * per_frame
    data[start:end] = (data[start:end] // 2).astype(np.int16)  # the singer is quieter there: a new take
    with wave.open(str(dest / "song.wav"), "wb") as out:
        out.setparams(params)
        out.writeframes(data.tobytes())
    return dest / "cut.otio"


def check_frame_exact(output: Path, sections: int) -> None:
    """Every clip sits on its marker's frames, its media inside this output's folder, decodable."""
    result = otio.adapters.read_from_file(str(output))
    track = next(t for t in result.tracks if t.name == "Avatar IV")
    clips = list(track.find_clips())
    assert [c.name for c in clips] == [f"Part {i + 1}" for i in range(sections)]
    for i, clip in enumerate(clips):
        placed = clip.trimmed_range_in_parent()
        assert placed is not None
        assert placed.start_time.to_frames() == i * SECTION_FRAMES
        assert placed.duration.to_frames() == SECTION_FRAMES
        media = Path(otio.url_utils.filepath_from_url(clip.media_reference.target_url))
        assert media.parent == output.parent / f"{output.stem}_media"
        with av.open(str(media)) as container:
            assert container.streams.audio
            frames = sum(1 for _ in container.decode(video=0))
        assert frames >= SECTION_FRAMES - 1


def test_new_folder_after_the_replay_window_buys_nothing_and_an_edit_buys_one(
    httpserver: HTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    clock: Clock,
) -> None:
    fake = FakeHeyGen(httpserver, clock=clock, replay_window_s=1.0)
    use_fake(monkeypatch, fake, tmp_path)
    timeline = write_timeline(tmp_path / "cut", 4)

    code, result, _ = render(capsys, timeline, tmp_path / "A" / "cut_avatar.otio")
    assert code == 0 and fake.creates == 4
    assert result["bought"] == {"count": 4, "seconds": 4.0, "usd": 0.4}

    clock.now += 2.0  # HeyGen has forgotten every Idempotency-Key: a resend would bill again
    requests = fake.create_requests
    code, result, events = render(capsys, timeline, tmp_path / "B" / "cut_avatar.otio")
    assert code == 0
    assert fake.creates == 4 and fake.create_requests == requests  # nothing bought, nothing even sent
    assert result["bought"] == {"count": 0, "seconds": 0.0, "usd": 0.0} and result["spent_usd"] == 0
    assert result["reused"] == 4 and result["reused_seconds"] == 4.0
    check_frame_exact(tmp_path / "B" / "cut_avatar.otio", 4)
    assert all(e.get("reused") for e in events if e.get("event") == "state" and e.get("state") == "done")
    assert all(c["reused"] and not c["bought"] for c in result["clips"])  # type: ignore[union-attr]
    code, lines, _ = run_cli(capsys, "status", str(tmp_path / "B" / "cut_avatar.otio"), "--json")
    assert code == 0 and lines[0]["bought"]["count"] == 0 and lines[0]["reused"]["count"] == 4  # type: ignore[index]

    edited = edit_section_audio(tmp_path / "cut", tmp_path / "cut_v2", section=2)
    code, planned, _ = run_cli(capsys, "plan", str(edited), "--image", str(edited.parent / "artist.png"), "--json")
    assert code == 0
    plan = planned[0]
    assert [s["status"] for s in plan["sections"]] == ["owned", "new", "owned", "owned"]  # type: ignore[index]
    assert plan["estimated_cost_usd"] == 0.1 and plan["to_buy"] == {"count": 1, "seconds": 1.0, "usd": 0.1}
    assert plan["owned"]["count"] == 3  # type: ignore[index]

    code, result, _ = render(capsys, edited, tmp_path / "C" / "cut_avatar.otio")
    assert code == 0 and fake.creates == 5  # exactly the edited section
    assert result["bought"] == {"count": 1, "seconds": 1.0, "usd": 0.1} and result["reused"] == 3
    check_frame_exact(tmp_path / "C" / "cut_avatar.otio", 4)

    code, lines, _ = run_cli(capsys, "ledger", "--json")
    listing = lines[0]
    assert code == 0 and listing["bought"] == {"count": 5, "seconds": 5.0, "usd": 0.5}
    part1 = [p for p in listing["purchases"] if p["section"] == "Part 1"]  # type: ignore[union-attr]
    assert len(part1) == 1 and {Path(o).parent.name for o in part1[0]["outputs"]} == {"A", "B", "C"}
    ledger_file = Path(os.environ["OTIO_HEYGEN_LEDGER"])
    assert FAKE_API_KEY.encode() not in ledger_file.read_bytes()
    assert account_for_key("heygen", FAKE_API_KEY) == listing["account"]

    # a rerun of a finished output still makes no API call at all
    before = len(fake.requests)
    code, result, _ = render(capsys, timeline, tmp_path / "B" / "cut_avatar.otio")
    assert code == 0 and len(fake.requests) == before and result["reused"] == 4


def test_lost_answer_then_402_then_top_up_renders_nothing_twice(
    httpserver: HTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    fake = FakeHeyGen(httpserver)
    use_fake(monkeypatch, fake, tmp_path, concurrency=1)
    timeline = write_timeline(tmp_path / "cut", 2)
    out = tmp_path / "out" / "cut_avatar.otio"
    fake.inject("create", "drop", after_processing=True)  # billed, but the answer never arrives
    fake.inject("create", 402)  # the retry (same key) is refused before any replay

    code, result, _ = render(capsys, timeline, out)
    assert code == 1 and fake.creates == 1
    assert result["bought"]["count"] == 0  # type: ignore[index]
    first_video = next(iter(fake.videos.values()))
    lost_section = first_video.title.split(" [")[0]  # whichever section reached the create first
    with sqlite3.connect(out.parent / ".otio-heygen" / "journal.sqlite") as db:
        keys = dict(db.execute("SELECT section_name, idempotency_key FROM jobs").fetchall())
    assert keys[lost_section] is not None  # the key that may have reached HeyGen is not thrown away

    # the top-up: HeyGen accepts creates again; the same command
    code, result, _ = render(capsys, timeline, out)
    assert code == 0
    assert fake.creates == 2 and sorted(fake.creates_by_key.values()) == [1, 1]  # no duplicate render
    assert fake.list_requests >= 1  # the lost create was found by its title tag
    placed = otio.adapters.read_from_file(str(out))
    track = next(t for t in placed.tracks if t.name == "Avatar IV")
    ids = {c.name: c.metadata["otio_heygen"]["video_id"] for c in track.find_clips()}
    assert ids[lost_section] == first_video.video_id
    assert result["bought"] == {"count": 2, "seconds": 2.0, "usd": 0.2}  # both renders billed, reported once


def test_owned_video_without_a_copy_is_downloaded_and_a_gone_one_bought_again(
    httpserver: HTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    fake = FakeHeyGen(httpserver)
    use_fake(monkeypatch, fake, tmp_path)
    timeline = write_timeline(tmp_path / "cut", 2)
    assert render(capsys, timeline, tmp_path / "A" / "cut_avatar.otio")[0] == 0
    for clip in (tmp_path / "A" / "cut_avatar_media").iterdir():
        clip.unlink()  # the first folder's clips were deleted
    gone = fake.video_by_title("Part 2").video_id
    fake.delete_video(gone)  # and HeyGen no longer has Part 2
    downloads = fake.downloads_completed

    code, result, events = render(capsys, timeline, tmp_path / "B" / "cut_avatar.otio")
    assert code == 0
    assert fake.creates == 3  # Part 2 bought again, Part 1 not
    assert fake.downloads_completed == downloads + 2  # Part 1 downloaded again by id, Part 2 new
    notices = [str(e["message"]) for e in events if e.get("event") == "notice"]
    assert any(gone in n and "Part 2" in n and "bought again" in n for n in notices)
    assert result["bought"]["count"] == 1 and result["reused"] == 1  # type: ignore[index]
    check_frame_exact(tmp_path / "B" / "cut_avatar.otio", 2)


def test_plan_shows_a_render_in_flight_and_render_adopts_it(
    httpserver: HTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    fake = FakeHeyGen(httpserver)
    use_fake(monkeypatch, fake, tmp_path)
    timeline = write_timeline(tmp_path / "cut", 2)
    assert render(capsys, timeline, tmp_path / "A" / "cut_avatar.otio")[0] == 0
    video = fake.video_by_title("Part 1").video_id
    account = account_for_key("heygen", FAKE_API_KEY)
    store = open_ledger(os.environ["OTIO_HEYGEN_LEDGER"])
    store.set_video_state(account, video, "rendering", now=0.0)  # as if another run were still waiting for it
    entry = store.entry(account, next(p.job_key for p in store.purchases(account) if p.video_id == video))
    assert entry is not None
    for copy in entry.copies:
        store.drop_copy(account, video, copy.path)
    store.close()

    code, lines, _ = run_cli(capsys, "plan", str(timeline), "--image", str(timeline.parent / "artist.png"), "--json")
    plan = lines[0]
    assert [s["status"] for s in plan["sections"]] == ["in_flight", "owned"]  # type: ignore[index]
    assert plan["estimated_cost_usd"] == 0 and plan["in_flight"]["count"] == 1  # type: ignore[index]
    # nothing to buy: a budget of 0 is enough (the budget checks what will be bought)
    code, result, _ = render(capsys, timeline, tmp_path / "B" / "cut_avatar.otio", "--budget", "0")
    assert code == 0 and fake.creates == 2 and result["spent_usd"] == 0 and result["reused"] == 2


def test_previews_have_their_own_namespace_and_keep_their_section_names(
    httpserver: HTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    timeline = write_timeline(tmp_path / "cut", 2)
    image = str(timeline.parent / "artist.png")
    assert main(["render", str(timeline), "-o", str(tmp_path / "P" / "cut.otio"), "--image", image,
                 "--backend", "preview"]) == 0
    # the same sections renamed: same audio and settings, so the same job keys
    cut = otio.adapters.read_from_file(str(timeline))
    cut.tracks.markers[0].name = "Hook"
    renamed = tmp_path / "cut" / "renamed.otio"
    otio.adapters.write_to_file(cut, str(renamed))
    assert main(["render", str(renamed), "-o", str(tmp_path / "Q" / "cut.otio"), "--image", image,
                 "--backend", "preview"]) == 0
    capsys.readouterr()
    p_media = sorted((tmp_path / "P" / "cut_media").iterdir())
    q_media = sorted((tmp_path / "Q" / "cut_media").iterdir())
    assert [m.name for m in q_media] == ["01_Hook_take1.mp4", "02_Part_2_take1.mp4"]
    assert os.path.samefile(p_media[1], q_media[1])  # unchanged preview: linked from the ledger copy
    assert q_media[0].read_bytes() != p_media[0].read_bytes()  # renamed: drawn again with its new name

    # a paid render never takes a preview for a purchase
    fake = FakeHeyGen(httpserver)
    use_fake(monkeypatch, fake, tmp_path)
    code, result, _ = render(capsys, timeline, tmp_path / "H" / "cut.otio")
    assert code == 0 and fake.creates == 2 and result["reused"] == 0
