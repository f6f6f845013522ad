"""``choose``: a take moves to the main track frame-exactly, the others stay disabled, nothing is asked of
HeyGen (the output was rendered against the strict local fake, which counts every request)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import opentimelineio as otio
import pytest
from pytest_httpserver import HTTPServer

from otio_heygen import RenderOptions
from otio_heygen import render_file as render_timeline
from otio_heygen.cli.main import main
from otio_heygen.output.choose import CHOICES_FORMAT, ChoiceError, choose_takes
from tests.conftest import SAMPLES
from tests.support.clock import FakeTime
from tests.support.heygen_fake import FAKE_API_KEY, FakeHeyGen
from tests.support.review_outputs import NO_KEY_ENV, render_sample


def _requests(fake: FakeHeyGen, server: HTTPServer) -> tuple[int, ...]:
    """Every request the fake HeyGen server has seen, in total and per kind."""
    return (len(server.log), fake.upload_requests, fake.create_requests, fake.status_requests,
            fake.statuses_requests, fake.download_requests, sum(fake.counts.values()))


def _generated(timeline: otio.schema.Timeline) -> dict[str, list[tuple[str, int, int, int, int, bool]]]:
    """Per generated track: (media file, start, duration, source start, take, enabled) of each clip."""
    out: dict[str, list[tuple[str, int, int, int, int, bool]]] = {}
    for track in timeline.tracks:
        if "otio_heygen" not in track.metadata:
            continue
        out[track.name] = [
            (Path(c.media_reference.target_url).name, round(c.range_in_parent().start_time.value),
             round(c.source_range.duration.value), round(c.source_range.start_time.value),
             int(c.metadata["otio_heygen"]["take"]), bool(track.enabled))
            for c in track.find_clips()
        ]
    return out


@pytest.fixture
def heygen_output(httpserver: HTTPServer, tmp_path: Path) -> tuple[Path, FakeHeyGen, HTTPServer]:
    sample = tmp_path / "sample"
    shutil.copytree(SAMPLES, sample, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    time = FakeTime(min_step=0.001)
    fake = FakeHeyGen(httpserver, render_seconds=5.0, clock=time.clock)
    env = {"HEYGEN_API_KEY": FAKE_API_KEY, "HEYGEN_API_URL": fake.base_url, "OTIO_HEYGEN_POLL_INTERVAL": "5",
           "OTIO_HEYGEN_ASSET_CACHE": str(tmp_path / "assets.sqlite")}
    out = tmp_path / "out" / "demo_avatar.otio"
    summary = render_timeline(sample / "demo_resolve.otio", out, RenderOptions(backend="heygen", takes=2), env=env,
                              sleep=time.sleep, clock=time.clock)
    assert summary.backend == "heygen" and not summary.failures and fake.creates == 12
    return out, fake, httpserver


def test_choose_moves_the_take_to_the_main_track_frame_exactly_with_no_api_call(
    heygen_output: tuple[Path, FakeHeyGen, HTTPServer],
) -> None:
    out, fake, server = heygen_output
    before_requests = _requests(fake, server)
    before = otio.adapters.read_from_file(str(out))
    layout = _generated(before)
    assert list(layout) == ["Avatar IV", "Avatar IV take 2"]

    chosen = choose_takes(out, [("Chorus 1", 2)])

    assert _requests(fake, server) == before_requests  # not one request: no spend, no network
    assert [(c.section, c.take, c.previous) for c in chosen if c.changed] == [("Chorus 1", 2, 1)]
    after = otio.adapters.read_from_file(str(out))
    moved = _generated(after)
    main, spare = moved["Avatar IV"], moved["Avatar IV take 2"]
    old_main, old_spare = layout["Avatar IV"], layout["Avatar IV take 2"]
    chorus = 2  # third clip on each track
    assert main[chorus] == (*old_spare[chorus][:5], True)  # take 2, same frames, now enabled
    assert spare[chorus] == (*old_main[chorus][:5], False)  # take 1, same frames, disabled
    assert main[chorus][0] == "03_Chorus_1_take2.mp4" and spare[chorus][0] == "03_Chorus_1_take1.mp4"
    others = [i for i in range(len(main)) if i != chorus]
    assert [main[i] for i in others] == [old_main[i] for i in others]
    assert [spare[i] for i in others] == [old_spare[i] for i in others]

    # frame-exact: the clip covers its section's frames, and the track's other items did not move
    track = next(t for t in after.tracks if t.name == "Avatar IV")
    clip = track.find_clips()[chorus]
    prov = clip.metadata["otio_heygen"]
    rng = clip.range_in_parent()
    assert (rng.start_time.value, rng.end_time_exclusive().value) == (
        prov["section"]["start_frame"], prov["section"]["end_frame"])
    assert rng.start_time.rate == before.global_start_time.rate
    assert prov["track_rank"] == 1 and prov["take"] == 2 and prov["video_id"] in fake.videos

    # everything that is not ours is untouched
    theirs = [t for t in after.tracks if "otio_heygen" not in t.metadata]
    original = [t for t in before.tracks if "otio_heygen" not in t.metadata]
    assert [otio.adapters.write_to_string(t, "otio_json") for t in theirs] == [
        otio.adapters.write_to_string(t, "otio_json") for t in original]

    # choosing take 1 again gives back the original timeline
    choose_takes(out, [("3", 1)])
    assert otio.adapters.read_from_file(str(out)).is_equivalent_to(before)
    assert _requests(fake, server) == before_requests


def test_choose_from_a_choice_file_through_the_cli(
    heygen_output: tuple[Path, FakeHeyGen, HTTPServer], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, fake, server = heygen_output
    before_requests = _requests(fake, server)
    choices = tmp_path / "demo_avatar_choices.json"
    choices.write_text(json.dumps({"format": CHOICES_FORMAT, "output": out.name, "choices": [
        {"index": 1, "section": "Intro", "name": "Intro", "take": 2},
        {"index": 6, "section": "Outro", "name": "Outro", "take": 2},
        {"index": 2, "section": "Verse_1", "name": "Verse 1", "take": 1},
    ]}))
    assert main(["choose", str(out), "--from", str(choices)]) == 0
    printed = capsys.readouterr().out
    assert "Intro: take 2 on the main track (was take 1)" in printed and "Verse 1" not in printed
    main_track = _generated(otio.adapters.read_from_file(str(out)))["Avatar IV"]
    assert [clip[4] for clip in main_track] == [2, 1, 1, 1, 1, 2]
    assert _requests(fake, server) == before_requests


def test_unknown_section_or_take_is_exit_2_and_leaves_the_output_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = render_sample(tmp_path)
    original = out.read_bytes()
    assert main(["choose", str(out), "Bridge", "2"]) == 2
    assert "no section 'Bridge' in the output" in capsys.readouterr().err
    assert main(["choose", str(out), "Intro", "3"]) == 2
    assert "section 'Intro' has no take 3 - its takes: 1, 2" in capsys.readouterr().err
    assert main(["choose", str(out), "Intro"]) == 2
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    assert main(["choose", str(out), "--from", str(bad)]) == 2
    assert "not an otio-heygen choice file" in capsys.readouterr().err
    assert out.read_bytes() == original
    with pytest.raises(ChoiceError):
        choose_takes(out, [])


def test_choose_on_an_otioz_bundle_keeps_every_file_inside(tmp_path: Path) -> None:
    out = render_sample(tmp_path, name="demo_avatar.otioz")
    choose_takes(out, [("Verse 2", 2)])
    extracted = tmp_path / "x"
    extracted.mkdir()
    timeline = otio.adapters.read_from_file(str(out), extract_to_directory=str(extracted))
    main_track = next(t for t in timeline.tracks if t.name == "Avatar IV")
    verse = main_track.find_clips()[3]
    assert verse.metadata["otio_heygen"]["take"] == 2
    url = verse.media_reference.target_url
    assert url == "media/04_Verse_2_take2.mp4" and (extracted / url).is_file()  # inside the bundle
    urls = {c.media_reference.target_url for c in timeline.find_clips()
            if isinstance(c.media_reference, otio.schema.ExternalReference)}
    assert len(urls) == 13 and all((extracted / u).is_file() for u in urls)  # 12 takes and the song


def test_a_new_render_keeps_the_chosen_takes_unless_the_section_is_regenerated(tmp_path: Path) -> None:
    out = render_sample(tmp_path)
    choose_takes(out, [("Chorus 1", 2), ("Outro", 2)])
    timeline = tmp_path / "sample" / "demo_resolve.otio"
    again = render_timeline(timeline, out, RenderOptions(backend="preview", takes=2), env=NO_KEY_ENV)
    assert again.rendered == 0
    takes_on_main = [clip[4] for clip in _generated(otio.adapters.read_from_file(str(out)))["Avatar IV"]]
    assert takes_on_main == [1, 1, 2, 1, 1, 2]

    render_timeline(timeline, out, RenderOptions(backend="preview", takes=2, regenerate=("Outro",)),
                    env=NO_KEY_ENV)
    layout = _generated(otio.adapters.read_from_file(str(out)))
    assert [clip[4] for clip in layout["Avatar IV"]] == [1, 1, 2, 1, 1, 3]  # the new take of Outro is main
    assert layout["Avatar IV"][5][0] == "06_Outro_take3.mp4"


def test_a_choice_file_of_another_output_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = render_sample(tmp_path)
    original = out.read_bytes()
    other = tmp_path / "other_choices.json"
    other.write_text(json.dumps({"format": CHOICES_FORMAT, "output": "other.otio", "choices": [
        {"index": 1, "section": "Intro", "name": "Intro", "take": 2},
        {"index": 2, "section": "Bridge", "name": "Bridge", "take": 2},
    ]}))
    assert main(["choose", str(out), "--from", str(other)]) == 2
    assert "no section 'Bridge' in the output" in capsys.readouterr().err
    assert out.read_bytes() == original  # nothing applied, not even the Intro
