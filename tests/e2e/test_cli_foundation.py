"""Whole runs of the CLI on the bundled sample with the offline preview backend."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import av
import opentimelineio as otio
import pytest

from otio_heygen.cli.main import main
from otio_heygen.urls import url_to_path
from tests.conftest import SAMPLES


@pytest.fixture(scope="module")
def sample_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the bundled sample folder (the tests never write into the repo)."""
    dest = tmp_path_factory.mktemp("sample") / "sample_timelines"
    shutil.copytree(SAMPLES, dest, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return dest


@pytest.fixture(scope="module")
def rendered(sample_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("render") / "out" / "demo_avatar.otio"
    assert main(["render", str(sample_dir / "demo_resolve.otio"), "-o", str(out)]) == 0
    return out


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def marker_frames(timeline: otio.schema.Timeline) -> list[tuple[str, int, int]]:
    """The input's timeline markers as (name, start, end) frames, read straight from OTIO."""
    out = []
    for m in timeline.tracks.markers:
        r = m.marked_range
        out.append((m.name, round(r.start_time.value), round(r.start_time.value + r.duration.value)))
    return out


def avatar_clips(timeline: otio.schema.Timeline, name: str = "Avatar IV") -> list[otio.schema.Clip]:
    tracks = [t for t in timeline.tracks if t.name == name]
    assert len(tracks) == 1, [t.name for t in timeline.tracks]
    return list(tracks[0].find_clips())


def test_render_places_one_clip_per_marker_frame_exactly(sample_dir: Path, rendered: Path) -> None:
    source = otio.adapters.read_from_file(str(sample_dir / "demo_resolve.otio"))
    result = otio.adapters.read_from_file(str(rendered))
    expected = marker_frames(source)
    clips = avatar_clips(result)
    assert len(clips) == len(expected) == 6
    rate = source.global_start_time.rate
    for clip, (name, start, end) in zip(clips, expected, strict=True):
        placed = clip.range_in_parent()
        assert clip.name == name
        assert placed.start_time.rate == rate  # built at the timeline's exact rate object
        assert (placed.start_time.value, placed.end_time_exclusive().value) == (start, end)
    assert result.global_start_time == source.global_start_time


def test_each_clip_decodes_and_lasts_its_section(rendered: Path) -> None:
    result = otio.adapters.read_from_file(str(rendered))
    media_dir = rendered.parent / "demo_avatar_media"
    for clip in avatar_clips(result):
        url = clip.media_reference.target_url
        path = Path(url.removeprefix("file://"))
        assert path.parent == media_dir and path.exists(), url
        section_seconds = clip.source_range.duration.value / clip.source_range.duration.rate
        with av.open(str(path)) as container:
            video = container.streams.video[0]
            frames = sum(1 for _ in container.decode(video))
            fps = float(video.average_rate)
        with av.open(str(path)) as container:
            audio_samples = sum(f.samples for f in container.decode(audio=0))
            sample_rate = container.streams.audio[0].rate
        assert abs(frames / fps - section_seconds) <= 1 / fps, path.name
        assert abs(audio_samples / sample_rate - section_seconds) <= 1 / fps + 0.05, path.name


def test_rest_of_the_timeline_is_unchanged(sample_dir: Path, rendered: Path) -> None:
    source = otio.adapters.read_from_file(str(sample_dir / "demo_resolve.otio"))
    result = otio.adapters.read_from_file(str(rendered))
    kept = [t for t in result.tracks if t.name != "Avatar IV"]
    assert len(kept) == len(source.tracks)
    # the output lives in another folder: the song's relative link must still reach it
    for before, after in zip(source.tracks, kept, strict=True):
        for clip_before, clip_after in zip(before.find_clips(), after.find_clips(), strict=True):
            url_before = getattr(clip_before.media_reference, "target_url", None)
            if url_before is None:
                continue
            url_after = clip_after.media_reference.target_url
            # made an absolute file:// URL, so every NLE relinks it from the output's folder
            assert url_after.startswith("file:///")
            assert Path(url_to_path(url_after)).resolve() == (sample_dir / url_before).resolve()
            clip_after.media_reference.target_url = url_before
        assert before.is_equivalent_to(after)
    assert [m.name for m in result.tracks.markers] == [m.name for m in source.tracks.markers]


def test_rerun_reuses_everything_and_keeps_one_track(sample_dir: Path, rendered: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    media = sorted((rendered.parent / "demo_avatar_media").iterdir())
    stamps = {p.name: p.stat().st_mtime_ns for p in media}
    capsys.readouterr()
    assert main(["render", str(sample_dir / "demo_resolve.otio"), "-o", str(rendered), "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    result = lines[-1]
    assert result["event"] == "result"
    assert result["rendered"] == 0 and result["reused"] == 6
    assert {p.name: p.stat().st_mtime_ns for p in media} == stamps  # finished clips untouched
    avatar_clips(otio.adapters.read_from_file(str(rendered)))  # still exactly one Avatar IV track


def test_plan_json_matches_the_contract(sample_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", str(sample_dir / "demo_resolve.otio"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    source = otio.adapters.read_from_file(str(sample_dir / "demo_resolve.otio"))
    assert [(s["name"], s["start_frame"], s["end_frame"]) for s in data["sections"]] == marker_frames(source)
    for section in data["sections"]:
        assert set(section) >= {"name", "start_frame", "end_frame", "rate", "seconds", "image", "motion_prompt",
                                "job_key"}
        assert section["image"].endswith("artist.png")
        assert len(section["job_key"]) == 64
    assert data["total_seconds"] == pytest.approx(sum(s["seconds"] for s in data["sections"]), abs=0.01)
    assert data["estimated_cost_usd"] == pytest.approx(data["total_seconds"] * 0.10, abs=0.01)
    assert isinstance(data["warnings"], list)
    chorus = next(s for s in data["sections"] if s["name"] == "Chorus 1")
    assert chorus["motion_prompt"].startswith("sings with arms wide, eyes closed")  # note beats config look


@pytest.mark.parametrize("timeline", ["demo_premiere.xml", "demo.edl"])
def test_other_dialects_render_to_the_same_frames(sample_dir: Path, tmp_path: Path, timeline: str) -> None:
    out = tmp_path / "avatar.otio"
    extra = ["--audio", str(sample_dir / "song.wav"), "--rate", "23.976"] if timeline.endswith(".edl") else []
    assert main(["render", str(sample_dir / timeline), "-o", str(out), *extra]) == 0
    result = otio.adapters.read_from_file(str(out))
    clips = avatar_clips(result)
    frames = [(c.range_in_parent().start_time.value, c.range_in_parent().end_time_exclusive().value) for c in clips]
    resolve = otio.adapters.read_from_file(str(sample_dir / "demo_resolve.otio"))
    assert frames == [(s, e) for _, s, e in marker_frames(resolve)]


# ---------------------------------------------------------------------------------------- bad input


def run_bad(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    code = main(argv)
    captured = capsys.readouterr()
    assert code == 2, captured.err
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1, captured.err
    assert "Traceback" not in captured.err
    assert lines[0].startswith("otio-heygen: error: ")
    return lines[0]


def test_missing_timeline(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = run_bad(["render", str(tmp_path / "nope.otio"), "-o", str(tmp_path / "o.otio")], capsys)
    assert "nope.otio" in line
    assert not (tmp_path / "o.otio").exists()


@pytest.mark.parametrize("content", [b"\x89PNG\r\n\x1a\nnot really", b"hello, I am not a timeline\n", b""])
def test_file_that_is_not_a_timeline(tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes) -> None:
    bad = tmp_path / "bad.otio"
    bad.write_bytes(content)
    run_bad(["render", str(bad), "-o", str(tmp_path / "o.otio")], capsys)
    assert bad.read_bytes() == content


def test_timeline_without_markers(sample_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tl = otio.adapters.read_from_file(str(sample_dir / "demo_resolve.otio"))
    tl.tracks.markers.clear()
    path = sample_dir / "no_markers.otio"
    otio.adapters.write_to_file(tl, str(path))
    before = digest(path)
    line = run_bad(["render", str(path), "-o", str(tmp_path / "o.otio")], capsys)
    assert "marker" in line.lower()
    assert digest(path) == before
    assert not list(tmp_path.iterdir())


def test_missing_photo(sample_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = run_bad(["render", str(sample_dir / "demo_resolve.otio"), "-o", str(tmp_path / "o.otio"),
                    "--image", str(tmp_path / "missing.png")], capsys)
    # the config beside the sample sets a default image, but --image beats it
    assert "missing.png" in line
    assert not (tmp_path / "o.otio").exists()


def test_photo_that_is_not_an_image(sample_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fake = tmp_path / "portrait.png"
    fake.write_text("this is not a picture")
    line = run_bad(["render", str(sample_dir / "demo_resolve.otio"), "-o", str(tmp_path / "o.otio"),
                    "--image", str(fake)], capsys)
    assert "portrait.png" in line and "PNG or JPEG" in line


def test_output_equal_to_input(sample_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = sample_dir / "demo_resolve.otio"
    before = digest(path)
    run_bad(["render", str(path), "-o", str(path)], capsys)
    assert digest(path) == before


def test_budget_below_estimate_with_heygen_is_refused_before_spending(
    sample_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # an unroutable API URL: any request would fail loudly, so exit 2 proves nothing was sent
    monkeypatch.setenv("HEYGEN_API_KEY", "sk-test-not-a-real-key")
    monkeypatch.setenv("HEYGEN_API_URL", "http://127.0.0.1:9")
    line = run_bad(["render", str(sample_dir / "demo_resolve.otio"), "-o", str(tmp_path / "o.otio"),
                    "--budget", "1"], capsys)
    assert "budget" in line.lower()
    assert "sk-test-not-a-real-key" not in line


def test_resolve_timeline_with_generators_writes_fcp7_xml(sample_dir: Path, rendered: Path, tmp_path: Path) -> None:
    # reuse the module's finished renders: same folder, another output format
    out = rendered.with_name("demo_avatar.xml")
    assert main(["render", str(sample_dir / "demo_resolve.otio"), "-o", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert "<generatoritem" in text  # Resolve's solid colour survives instead of crashing the adapter
    assert "<pathurl>file://localhost/" in text
    result = otio.adapters.read_from_file(str(out))
    clips = [c for t in result.tracks if t.kind == "Video" for c in t.find_clips()
             if isinstance(c.media_reference, otio.schema.ExternalReference)]
    assert [(c.range_in_parent().start_time.value, c.range_in_parent().end_time_exclusive().value)
            for c in clips] == [(s, e) for _, s, e in marker_frames(
                otio.adapters.read_from_file(str(sample_dir / "demo_resolve.otio")))]


def test_output_format_that_cannot_be_written_fails_before_rendering(
    sample_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "demo.fcpxml"  # the FCPXML adapter cannot write this 23.976 timeline
    line = run_bad(["render", str(sample_dir / "demo_resolve.otio"), "-o", str(out)], capsys)
    assert "demo.fcpxml" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no journal, no media, no output


def test_refused_run_leaves_no_new_output_folder(sample_dir: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "renders" / "v1" / "o.otio"
    run_bad(["render", str(sample_dir / "demo_resolve.otio"), "-o", str(out), "--image",
             str(tmp_path / "missing.png")], capsys)
    assert not (tmp_path / "renders").exists()
    (tmp_path / "keep").mkdir()
    (tmp_path / "keep" / "other.txt").write_text("mine")
    run_bad(["render", str(sample_dir / "demo_resolve.otio"), "-o", str(tmp_path / "keep" / "new" / "o.otio"),
             "--image", str(tmp_path / "missing.png")], capsys)
    assert sorted(p.name for p in (tmp_path / "keep").iterdir()) == ["other.txt"]  # existing folders stay


def test_json_mode_reports_errors_as_json_on_stdout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["render", str(tmp_path / "gone.otio"), "-o", str(tmp_path / "o.otio"), "--json"])
    captured = capsys.readouterr()
    assert code == 2
    (line,) = captured.out.splitlines()
    error = json.loads(line)
    assert error["event"] == "error" and error["exit_code"] == 2 and "gone.otio" in error["message"]
    assert captured.err.startswith("otio-heygen: error: ") and len(captured.err.splitlines()) == 1


def test_timeline_without_markers_or_song_is_told_about_markers_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty.otio"
    otio.adapters.write_to_file(otio.schema.Timeline(name="empty"), str(empty))
    line = run_bad(["render", str(empty), "-o", str(tmp_path / "o.otio")], capsys)
    assert "marker" in line.lower()
