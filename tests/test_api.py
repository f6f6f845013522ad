"""The front door: ``plan``/``render`` on OTIO objects, the file wrappers, typed results, no default backend."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import av
import opentimelineio as otio
import pytest

import otio_heygen
from otio_heygen.planning.plan import Plan
from otio_heygen.preparing import TimelineSource, prepare
from tests.conftest import SAMPLES


@pytest.fixture
def sample_dir(tmp_path: Path) -> Path:
    dest = tmp_path / "sample"
    shutil.copytree(SAMPLES, dest, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return dest


def _read(path: Path) -> otio.schema.Timeline:
    timeline: otio.schema.Timeline = otio.adapters.read_from_file(str(path))
    return timeline


def test_public_names_are_all_importable_from_the_top() -> None:
    assert len(set(otio_heygen.__all__)) == len(otio_heygen.__all__)
    missing = [name for name in otio_heygen.__all__ if not hasattr(otio_heygen, name)]
    assert missing == []
    assert callable(otio_heygen.plan) and callable(otio_heygen.render)  # no sub-package shadows them


def test_design_note_example_renders_an_in_memory_timeline(
    sample_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    cut = _read(sample_dir / "demo_resolve.otio")
    before = otio.adapters.write_to_string(cut)
    events: list[otio_heygen.ProgressEvent] = []

    result = otio_heygen.render(cut, image=sample_dir / "artist.png", backend="preview", media_dir="out/cut_media",
                                base_dir=sample_dir, on_event=events.append)

    assert otio.adapters.write_to_string(cut) == before  # the input object is never modified
    planned = otio_heygen.plan(cut, base_dir=sample_dir, image=sample_dir / "artist.png")
    assert [(c.section, c.start_frame, c.end_frame) for c in result.clips] == [
        (s.name, s.start_frame, s.end_frame) for s in planned.sections
    ]
    assert len(result.clips) == 6 and not result.failures and result.output_path is None
    for clip in result.clips:
        assert clip.media.parent == (tmp_path / "out" / "cut_media").resolve() and clip.media.stat().st_size > 1000
        assert clip.sync_offset_ms is not None and abs(clip.sync_offset_ms) < 1000 / 24  # within a frame
        assert clip.bought and not clip.reused and clip.cost_usd == 0.0 and clip.video_id
    assert (tmp_path / "out" / ".otio-heygen" / "journal.sqlite").is_file()  # beside media_dir, as render_file

    out = tmp_path / "elsewhere" / "cut_avatar.otio"
    out.parent.mkdir()
    otio.adapters.write_to_file(result.timeline, str(out))
    back = _read(out)
    track = next(t for t in back.tracks if t.name == "Avatar IV")
    assert [(round(c.range_in_parent().start_time.value), c.name) for c in track.find_clips()] == [
        (c.start_frame, c.section) for c in result.clips
    ]
    song = next(c for t in back.audio_tracks() for c in t.find_clips())
    assert Path(song.media_reference.target_url) == (sample_dir / "song.wav").resolve()  # relinks from anywhere

    kinds = {type(e) for e in events}
    assert {otio_heygen.RunStarted, otio_heygen.JobState, otio_heygen.RunFinished} <= kinds
    assert otio_heygen.OtherEvent not in kinds

    again = otio_heygen.render(cut, image=sample_dir / "artist.png", backend="preview", media_dir="out/cut_media",
                               base_dir=sample_dir)
    assert (again.rendered, again.reused) == (0, 6)
    assert all(c.reused and not c.bought for c in again.clips)


def test_relative_media_in_memory_resolve_against_base_dir(sample_dir: Path, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # not the sample folder: the song link "song.wav" is not found from here
    cut = _read(sample_dir / "demo_resolve.otio")
    with pytest.raises(otio_heygen.MediaError):
        otio_heygen.render(cut, image=sample_dir / "artist.png", backend="preview", media_dir="m")
    assert not (tmp_path / "m").exists()
    planned = otio_heygen.plan(cut)
    assert any("song" in w.lower() or "not found" in w.lower() for w in planned.warnings)
    with_base = otio_heygen.plan(cut, base_dir=sample_dir)  # also finds the folder's otio-heygen.toml
    assert all(s.image == (sample_dir / "artist.png").resolve() for s in with_base.sections)


@pytest.mark.parametrize("env", [{}, {"HEYGEN_API_KEY": "sk_V2_hgu_abcdefghijklmnopqrstuvwxyz0123456789"}])
def test_a_library_render_must_name_its_backend(sample_dir: Path, tmp_path: Path, env: dict[str, str]) -> None:
    cut = _read(sample_dir / "demo_resolve.otio")
    with pytest.raises(otio_heygen.ConfigError, match="no backend named"):
        otio_heygen.render(cut, base_dir=sample_dir, media_dir=tmp_path / "m", env=env)
    with pytest.raises(otio_heygen.ConfigError, match="no backend named"):
        otio_heygen.render_file(sample_dir / "demo_resolve.otio", tmp_path / "o" / "x.otio", env=env)
    assert not (tmp_path / "m").exists() and not (tmp_path / "o").exists()  # nothing created, nothing spent


def test_unknown_option_and_unknown_backend_are_clear(sample_dir: Path, tmp_path: Path) -> None:
    cut = _read(sample_dir / "demo_resolve.otio")
    with pytest.raises(TypeError, match=r"unknown RenderOptions option.*imagee"):
        otio_heygen.render(cut, backend="preview", media_dir=tmp_path, imagee="x.png")
    with pytest.raises(otio_heygen.ConfigError, match=r"unknown backend .nope.*heygen, preview"):
        otio_heygen.render(cut, backend="nope", media_dir=tmp_path / "m", base_dir=sample_dir)


def test_plan_result_json_is_the_cli_contract(sample_dir: Path) -> None:
    path = sample_dir / "demo_resolve.otio"
    options = otio_heygen.PlanOptions(handles=3, takes=2)
    internal: Plan = prepare(TimelineSource(_read(path), sample_dir, path), options, for_render=False).plan
    result = otio_heygen.plan_file(path, options)
    assert result.to_json() == internal.to_json()
    assert len(result.sections) == 12 and {s.take for s in result.sections} == {1, 2}


def test_render_file_writes_the_output_and_reports_typed_clips(sample_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "deliver" / "demo_avatar.otio"
    events: list[otio_heygen.ProgressEvent] = []
    result = otio_heygen.render_file(sample_dir / "demo_resolve.otio", out, backend="preview", on_event=events.append,
                                     only=["Chorus 1"])
    assert result.output_path == out and out.is_file()
    assert [c.section for c in result.clips] == ["Chorus 1"]
    assert result.media_dir == out.parent.resolve() / "demo_avatar_media"
    written = [e for e in events if isinstance(e, otio_heygen.TimelineWritten)]
    assert written == [otio_heygen.TimelineWritten(output=str(out), media_dir=str(result.media_dir))]


def test_a_backend_object_can_be_passed_and_is_not_closed(sample_dir: Path, tmp_path: Path) -> None:
    backend = otio_heygen.get_backend("preview", width=64, height=36)
    result = otio_heygen.render(_read(sample_dir / "demo_resolve.otio"), backend=backend, media_dir=tmp_path / "m",
                                base_dir=sample_dir, only=("Intro",))
    assert result.backend == "preview" and len(result.clips) == 1
    with av.open(str(result.clips[0].media)) as container:  # a real MP4 at the size the settings asked
        assert (container.streams.video[0].width, container.streams.video[0].height) == (64, 36)


DESIGN_NOTE_EXAMPLE = '''
import opentimelineio as otio, otio_heygen
cut = otio.adapters.read_from_file("cut.otio")
result = otio_heygen.render(cut, image="artist.png", backend="preview", media_dir="out/cut_media")
otio.adapters.write_to_file(result.timeline, "out/cut_avatar.otio")
for clip in result.clips: print(clip.section, clip.start_frame, clip.sync_offset_ms)
'''


def test_the_design_note_snippet_runs_verbatim(sample_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    (sample_dir / "demo_resolve.otio").rename(sample_dir / "cut.otio")
    monkeypatch.chdir(sample_dir)  # the cut's relative song link resolves against the current folder
    exec(compile(DESIGN_NOTE_EXAMPLE, "design.md", "exec"), {})
    lines = capsys.readouterr().out.splitlines()
    assert [line.rsplit(" ", 2)[0] for line in lines] == ["Intro", "Verse 1", "Chorus 1", "Verse 2", "Chorus 2",
                                                          "Outro"]
    assert (sample_dir / "out" / "cut_avatar.otio").is_file()


def test_importing_the_package_loads_no_pipeline() -> None:
    """OTIO imports ``otio_heygen`` to find its plugin manifest in every process that reads a timeline:
    that must not drag in PyAV, httpx or the pipeline (names load on first use)."""
    script = ("import sys, otio_heygen.adapters.otio_plugin, otio_heygen\n"
              "print(sorted(m for m in ('av', 'httpx', 'numpy', 'otio_heygen.api') if m in sys.modules))\n"
              "otio_heygen.RenderOptions\n"
              "print('otio_heygen.options' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.split() == ["[]", "True"]
