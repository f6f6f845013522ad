"""The CLI as an editor uses it, at the edges: odd paths, other working folders, handles, takes,
regeneration, bad options and damaged media. Offline preview backend; short timelines built here."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import av
import opentimelineio as otio
import pytest

from otio_heygen.cli.main import main
from tests.conftest import SAMPLES

RATE = 24.0
rt = otio.opentime.RationalTime


def span(start: int, length: int) -> otio.opentime.TimeRange:
    return otio.opentime.TimeRange(rt(start, RATE), rt(length, RATE))


def write_timeline(
    root: Path, names: list[str], *, frames: int = 24, song_frames: int | None = None, name: str = "cut.otio"
) -> Path:
    """A 24 fps timeline starting at 01:00:00:00: the sample song on A1 (relative URL) and one ruler
    marker of ``frames`` per name, back to back."""
    root.mkdir(parents=True, exist_ok=True)
    if not (root / "song.wav").exists():
        shutil.copy(SAMPLES / "song.wav", root / "song.wav")
        shutil.copy(SAMPLES / "artist.png", root / "artist.png")
    song_frames = song_frames or len(names) * frames + 24
    timeline = otio.schema.Timeline(name="Cut", global_start_time=rt(86400, RATE))
    song = otio.schema.Clip(
        name="song.wav",
        source_range=span(0, song_frames),
        media_reference=otio.schema.ExternalReference(target_url="song.wav", available_range=span(0, song_frames)),
    )
    timeline.tracks.append(otio.schema.Track(name="A1", kind=otio.schema.TrackKind.Audio, children=[song]))
    for i, marker in enumerate(names):
        timeline.tracks.markers.append(otio.schema.Marker(name=marker, marked_range=span(i * frames, frames)))
    path = root / name
    otio.adapters.write_to_file(timeline, str(path))
    return path


def render(timeline: Path, out: Path | str, *extra: str) -> int:
    return main(
        [
            "render",
            str(timeline),
            "-o",
            str(out),
            "--image",
            str(timeline.parent / "artist.png"),
            "--backend",
            "preview",
            *extra,
        ]
    )


_READ: list[otio.schema.Timeline] = []


def avatar_tracks(output: Path) -> dict[str, list[otio.schema.Clip]]:
    result = otio.adapters.read_from_file(str(output))
    _READ[:] = [result]  # keeps the clips' parents alive while the caller looks at them
    return {t.name: list(t.find_clips()) for t in result.tracks if t.name.startswith("Avatar IV")}


def clip_files(output: Path, track: str = "Avatar IV") -> list[str]:
    return [Path(c.media_reference.target_url).name for c in avatar_tracks(output)[track]]


# ---------------------------------------------------------------- --regenerate and --only


@pytest.fixture(scope="module")
def two_sections(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_timeline(tmp_path_factory.mktemp("two") / "song é", ["Verse", "Chorus 1"])


@pytest.mark.parametrize("command", ["plan", "render"])
def test_only_with_an_unknown_name_lists_the_sections(
    two_sections: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    args = ["-o", str(tmp_path / "out.otio")] if command == "render" else []
    assert main([command, str(two_sections), *args, "--only", "Bridge"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "'Bridge'" in err and "Verse, Chorus 1" in err
    assert not (tmp_path / "out.otio").exists()


def test_regenerate_of_an_unknown_section_is_refused_before_anything_runs(
    two_sections: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.otio"
    assert render(two_sections, out, "--regenerate", "Chorus 9") == 2
    err = capsys.readouterr().err
    assert "Chorus 9" in err and "Verse" in err and "Chorus 1" in err  # names the sections there are
    assert not out.exists() and not (tmp_path / "out_media").exists()


def test_regenerate_of_a_section_left_out_by_only_is_refused(
    two_sections: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.otio"
    assert render(two_sections, out, "--only", "Verse", "--regenerate", "Chorus 1") == 2
    err = capsys.readouterr().err
    assert "Chorus 1" in err and "--only" in err
    assert not out.exists()


# ---------------------------------------------------------------- damaged or missing media


def test_truncated_song_wav_is_refused_not_rendered_as_silence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    timeline = write_timeline(tmp_path / "cut", ["A", "B", "C"])
    song = timeline.parent / "song.wav"
    song.write_bytes(song.read_bytes()[: 44 + 48000 * 2])  # an interrupted copy: ~1 s of a 60 s file
    out = tmp_path / "out" / "cut_avatar.otio"
    assert render(timeline, out) == 2
    err = capsys.readouterr().err
    assert "song.wav" in err and "truncated" in err
    assert not out.exists()
    assert main(["plan", str(timeline), "--image", str(timeline.parent / "artist.png")]) == 0  # plan: a warning
    assert "truncated" in capsys.readouterr().out


# ---------------------------------------------------------------- output paths


def test_output_folder_that_is_a_file_says_so(
    two_sections: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "renders").write_text("not a folder")
    assert render(two_sections, tmp_path / "renders" / "out.otio") == 2
    err = capsys.readouterr().err
    assert "renders" in err and "not a folder" in err


def test_new_output_folders_through_dot_dot_are_made_like_mkdir_p(
    two_sections: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert render(two_sections, Path("new ü") / ".." / "renders" / "out.otio", "--only", "Verse") == 0
    assert clip_files(tmp_path / "renders" / "out.otio") == ["01_Verse_take1.mp4"]


def test_render_json_prints_only_json_lines(
    two_sections: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert render(two_sections, tmp_path / "out.otio", "--json") == 0
    captured = capsys.readouterr()
    events = [json.loads(line) for line in captured.out.splitlines()]  # every line parses
    assert events and all(isinstance(e, dict) and "event" in e for e in events)
    assert events[-1]["event"] == "result" and len(events[-1]["clips"]) == 2
    assert captured.err == ""


def test_relative_paths_from_another_folder_survive_moving_the_output(
    two_sections: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    timeline = Path(os.path.relpath(two_sections, work))
    assert ".." in timeline.parts
    assert render(timeline, Path("job ü") / "cut avatar.otio", "--relative-paths") == 0
    moved = shutil.move(str(work / "job ü"), str(tmp_path / "delivered"))
    output = Path(moved) / "cut avatar.otio"
    clips = avatar_tracks(output)["Avatar IV"]
    assert len(clips) == 2
    for clip in clips:
        url = clip.media_reference.target_url
        assert not url.startswith(("file:", "/")), url
        with av.open(str(output.parent / url)) as container:
            assert container.streams.video and container.streams.audio


# ---------------------------------------------------------------- handles, takes, regeneration


@pytest.fixture(scope="module")
def with_handles(tmp_path_factory: pytest.TempPathFactory) -> Path:
    timeline = write_timeline(tmp_path_factory.mktemp("handles"), ["A", "B", "C"], song_frames=84)
    out = timeline.parent / "out" / "cut_avatar.otio"
    assert render(timeline, out, "--handles", "12") == 0
    return out


def test_handles_are_rendered_and_the_clips_placed_trimmed(with_handles: Path) -> None:
    clips = avatar_tracks(with_handles)["Avatar IV"]
    placed = [(c.range_in_parent().start_time.value, c.range_in_parent().duration.value) for c in clips]
    assert placed == [(0, 24), (24, 24), (48, 24)]  # exactly the markers
    trims = [(c.source_range.start_time.value, c.media_reference.available_range.duration.value) for c in clips]
    # the first section cannot start before the song: no head handle, clamped at 0
    assert trims == [(0, 36), (12, 48), (12, 48)]
    for clip, (_, frames) in zip(clips, trims, strict=True):
        path = otio.url_utils.filepath_from_url(clip.media_reference.target_url)
        with av.open(path) as container:
            stream = container.streams.audio[0]
            samples = sum(frame.samples for frame in container.decode(stream))
            assert abs(samples / stream.sample_rate - frames / RATE) < 0.05  # the audio includes the handles


def test_takes_then_regenerating_twice_keeps_every_take(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    timeline = write_timeline(tmp_path / "cut", ["Verse", "Chorus"], frames=12)
    out = tmp_path / "out" / "cut.otio"
    assert render(timeline, out, "--takes", "2") == 0
    tracks = avatar_tracks(out)
    assert list(tracks) == ["Avatar IV", "Avatar IV take 2"]
    result = otio.adapters.read_from_file(str(out))
    assert [t.enabled for t in result.tracks if t.name.startswith("Avatar IV")] == [True, False]

    for _ in range(2):  # the same command twice: one new take, not two
        assert render(timeline, out, "--takes", "2", "--regenerate", "chorus") == 0
    assert clip_files(out) == ["01_Verse_take1.mp4", "02_Chorus_take3.mp4"]
    assert "for another take use --regenerate 'Chorus=4'" in capsys.readouterr().err
    assert render(timeline, out, "--takes", "2", "--regenerate", "chorus=4") == 0
    tracks = avatar_tracks(out)
    assert clip_files(out) == ["01_Verse_take1.mp4", "02_Chorus_take4.mp4"]  # the newest take is the main clip
    chorus_takes = sorted(
        Path(c.media_reference.target_url).name for clips in tracks.values() for c in clips if c.name == "Chorus"
    )
    assert chorus_takes == [f"02_Chorus_take{n}.mp4" for n in (1, 2, 3, 4)]  # old takes kept as alternates
    assert render(timeline, out, "--takes", "2") == 0  # a plain rerun keeps the newest take first
    assert clip_files(out) == ["01_Verse_take1.mp4", "02_Chorus_take4.mp4"]


def test_only_keeps_the_finished_clips_of_the_other_sections_in_the_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    timeline = write_timeline(tmp_path / "cut", ["Verse", "Chorus", "Outro"], frames=12)
    out = tmp_path / "out" / "cut.otio"
    assert render(timeline, out, "--only", "Verse", "--json") == 0
    assert clip_files(out) == ["01_Verse_take1.mp4"]  # nothing else was rendered yet
    assert render(timeline, out, "--json") == 0
    capsys.readouterr()

    # retrying or checking one section must not drop the others' finished clips from the timeline
    assert render(timeline, out, "--only", "Chorus", "--regenerate", "Chorus", "--json") == 0
    result = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert result["rendered"] == 1
    assert clip_files(out) == ["01_Verse_take1.mp4", "02_Chorus_take2.mp4", "03_Outro_take1.mp4"]
    assert sorted(p.name for p in (out.parent / "cut_media").iterdir()) == [
        "01_Verse_take1.mp4",
        "02_Chorus_take1.mp4",
        "02_Chorus_take2.mp4",
        "03_Outro_take1.mp4",
    ]


@pytest.mark.parametrize(
    ("name", "version", "says"),
    [("out.xml", "0.14.0", "applies to .otio and .otioz"), ("out.otio", "9.9.9", "Unknown OTIO release '9.9.9'"),
     ("out.otioz", "0.13.0", "Unknown OTIO release '0.13.0'")],
)
def test_unusable_otio_version_is_refused_before_rendering(
    two_sections: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, version: str, says: str
) -> None:
    assert render(two_sections, tmp_path / name, "--otio-version", version) == 2
    assert says in capsys.readouterr().err
    assert not (tmp_path / "out_media").exists()  # nothing rendered
    assert not (tmp_path / name).exists()


def test_old_otio_version_is_written_and_read_back(two_sections: Path, tmp_path: Path) -> None:
    out = tmp_path / "old.otio"
    assert render(two_sections, out, "--otio-version", "0.14.0") == 0
    assert '"Clip.1"' in out.read_text() and '"Clip.2"' not in out.read_text()
    assert len(avatar_tracks(out)["Avatar IV"]) == 2


# ---------------------------------------------------------------- usage


def test_no_command_shows_the_help_and_usage_errors_point_to_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    err = capsys.readouterr().err
    assert err.startswith("Usage: otio-heygen") and "error" not in err.splitlines()[0]
    assert "render" in err and "plan" in err
    assert main(["render"]) == 2
    err = capsys.readouterr().err
    assert "TIMELINE" in err and "otio-heygen render --help" in err and len(err.strip().splitlines()) == 1


def test_audio_that_is_not_media_gets_a_plain_message(
    two_sections: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    notes = tmp_path / "lyrics.toml"
    shutil.copy(SAMPLES / "otio-heygen.toml", notes)  # FFmpeg cannot even probe it
    assert render(two_sections, tmp_path / "out.otio", "--audio", str(notes)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "lyrics.toml" in err
    assert "Errno" not in err and err.count("lyrics.toml") == 1  # no raw FFmpeg error text


def test_audio_from_a_video_file_is_used(two_sections: Path, with_handles: Path, tmp_path: Path) -> None:
    video = with_handles.parent / "cut_avatar_media" / "02_B_take1.mp4"  # 2 s of song with picture
    out = tmp_path / "out.otio"
    assert render(two_sections, out, "--audio", str(video)) == 0
    assert len(avatar_tracks(out)["Avatar IV"]) == 2


def write_video(path: Path, video_seconds: float, audio_seconds: float) -> Path:
    """An MP4 whose picture runs longer than its sound (a common music-video export)."""
    import numpy as np

    with av.open(str(path), "w", format="mp4") as out:
        video = out.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = 64, 64, "yuv420p"
        audio = out.add_stream("aac", rate=48000)
        audio.layout = "mono"
        for i in range(round(video_seconds * 25)):
            frame = av.VideoFrame.from_ndarray(np.full((64, 64, 3), i % 256, dtype=np.uint8), format="rgb24")
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        tone = (0.3 * np.sin(np.arange(round(audio_seconds * 48000)) * 0.05)).astype(np.float32)
        for start in range(0, len(tone), 1024):
            block = av.AudioFrame.from_ndarray(tone[start : start + 1024].reshape(1, -1), format="flt", layout="mono")
            block.sample_rate, block.pts = 48000, start
            out.mux(audio.encode(block))
        out.mux(audio.encode(None))
    return path


def test_audio_from_a_video_whose_sound_ends_early_is_accepted(
    two_sections: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    video = write_video(tmp_path / "edit.mp4", video_seconds=6.0, audio_seconds=3.0)
    assert (
        main(
            [
                "plan",
                str(two_sections),
                "--audio",
                str(video),
                "--image",
                str(two_sections.parent / "artist.png"),
                "--json",
            ]
        )
        == 0
    )
    plan = json.loads(capsys.readouterr().out)
    assert [s["name"] for s in plan["sections"]] == ["Verse", "Chorus 1"] and plan["warnings"] == []
    assert render(two_sections, tmp_path / "out.otio", "--audio", str(video)) == 0


def test_song_that_is_not_audio_at_all_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    timeline = write_timeline(tmp_path / "cut", ["A"])
    (timeline.parent / "song.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" + bytes(range(256)) * 40)
    assert render(timeline, tmp_path / "out" / "o.otio") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "song.wav" in err and "Traceback" not in err
    assert not (tmp_path / "out" / "o.otio").exists()


def test_song_moved_to_another_folder_is_relinked_with_media_root(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    timeline = write_timeline(tmp_path / "project", ["A", "B"], frames=12)
    library = tmp_path / "Music Library ü" / "2026"
    library.mkdir(parents=True)
    shutil.move(str(timeline.parent / "song.wav"), str(library / "song.wav"))
    out = tmp_path / "out" / "o.otio"
    assert render(timeline, out) == 2
    assert "--media-root" in capsys.readouterr().err  # says how to fix it
    assert render(timeline, out, "--media-root", str(tmp_path / "Music Library ü")) == 0
    assert clip_files(out) == ["01_A_take1.mp4", "02_B_take1.mp4"]


def test_otioz_output_bundles_the_clips_and_reads_back(two_sections: Path, tmp_path: Path) -> None:
    out = tmp_path / "delivery" / "cut.otioz"
    assert render(two_sections, out) == 0
    unpacked = tmp_path / "unpacked"
    unpacked.mkdir()
    result = otio.adapters.read_from_file(str(out), extract_to_directory=str(unpacked))
    track = next(t for t in result.tracks if t.name == "Avatar IV")
    urls = [c.media_reference.target_url for c in track.find_clips()]
    assert urls == ["media/01_Verse_take1.mp4", "media/02_Chorus_1_take1.mp4"]
    assert all((unpacked / url).stat().st_size > 0 for url in urls)
    placed = [(c.range_in_parent().start_time.value, c.range_in_parent().duration.value) for c in track.find_clips()]
    assert placed == [(0, 24), (24, 24)]


def test_a_bug_is_exit_3_with_one_line_and_no_traceback(
    two_sections: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import otio_heygen

    def broken(*args: object, **kwargs: object) -> None:
        raise KeyError("a bug")  # an exception no module turns into an OtioHeygenError

    monkeypatch.setattr(otio_heygen, "plan_file", broken)
    monkeypatch.delenv("OTIO_HEYGEN_DEBUG", raising=False)
    assert main(["plan", str(two_sections)]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "internal error: KeyError" in err and "please report it" in err
    assert "Traceback" not in err
