"""The Resolve bridge against a fake Resolve (tests/support/resolve_fake.py) and the real pipeline (preview backend)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Any

import opentimelineio as otio
import pytest
from click.testing import CliRunner

from otio_heygen import RenderOptions
from otio_heygen.adapters.resolve import bridge, connect
from otio_heygen.output.conform import is_generated_track
from tests.support.resolve_fake import FakeResolve, make_fake, write_png, write_wav

FPS = 24.0
START = 86400
# (frame, color, name, duration, note): frames relative to the timeline start, as GetMarkers() gives them
MARKERS = [(0, "Blue", "Intro", 36, "motion: smiles"), (48, "Blue", "Verse", 60, "expressiveness: low")]


@pytest.fixture()
def media(tmp_path: Path) -> dict[str, Path]:
    return {"song": write_wav(tmp_path / "song.wav", 5.0), "photo": write_png(tmp_path / "artist.png")}


def _run(resolve: FakeResolve, tmp: Path, photo: Path, **kw: Any) -> bridge.BridgeResult:
    render = RenderOptions(backend="preview", image=photo, **kw.pop("render", {}))
    return bridge.run_bridge(
        resolve, bridge.BridgeOptions(render=render, output_dir=tmp / "out", **kw), log=lambda line: None
    )


def _generated(output: Path) -> list[tuple[int, int, str]]:
    """(record frame, source start frame, media URL) of each clip on the output's generated tracks."""
    tl = otio.adapters.read_from_file(str(output))
    clips = [c for t in tl.video_tracks() if is_generated_track(t) for c in t.find_clips()]
    return [
        (
            round(c.range_in_parent().start_time.value),
            round(c.source_range.start_time.value),
            c.media_reference.target_url,
        )
        for c in clips
    ]


def test_track_mode_exports_renders_imports_and_places_at_the_marker_frames(
    tmp_path: Path, media: dict[str, Path]
) -> None:
    resolve = make_fake(media["song"], MARKERS, fps=FPS, start=START, length=120)
    result = _run(resolve, tmp_path, media["photo"])

    ((path, kind, sub),) = resolve.called("Export")
    assert path.endswith(".otio") and (kind, sub) == (resolve.EXPORT_OTIO, resolve.EXPORT_NONE)
    media_files = sorted(str(c.media) for c in result.summary.clips)
    assert len(media_files) == 2 and all(Path(m).stat().st_size > 1000 for m in media_files)
    ((imported,),) = resolve.called("ImportMedia")
    assert sorted(imported) == media_files
    assert resolve.called("AddSubFolder") == [("Master", "otio-heygen")]
    assert resolve.called("AddTrack") == [("video",)]
    assert resolve.called("SetTrackName") == [("video", 2, "Avatar IV")]

    ((infos,),) = resolve.called("AppendToTimeline")
    by_record = {i["recordFrame"]: i for i in infos}
    assert sorted(by_record) == [START + 0, START + 48]
    for frame, _, _, duration, _ in MARKERS:
        info = by_record[START + frame]
        assert (info["trackIndex"], info["mediaType"]) == (2, 1)
        assert info["endFrame"] - info["startFrame"] == duration
    # every placement equals the clip's range on the output file's generated track
    generated = _generated(result.output_path)
    assert len(generated) == 2
    for record, source_start, url in generated:
        info = by_record[START + record]
        assert info["startFrame"] == source_start
        assert info["mediaPoolItem"].GetClipProperty("File Path") == str(
            connect.url_to_path(url, result.output_path.parent)
        )
    bin_folder = resolve.project.media_pool.root.subfolders[0]
    assert sorted(i.GetClipProperty("File Path") for i in bin_folder.clips) == media_files
    assert resolve.project.media_pool.current is resolve.project.media_pool.root  # restored


def test_markers_turn_green_with_job_ids_and_keep_name_note_duration(tmp_path: Path, media: dict[str, Path]) -> None:
    resolve = make_fake(media["song"], MARKERS, fps=FPS, start=START, length=120)
    result = _run(resolve, tmp_path, media["photo"])
    markers = resolve.project.current.GetMarkers()
    ids = {c.section: (c.job_key, c.video_id) for c in result.summary.clips}
    for frame, _, name, duration, note in MARKERS:
        m = markers[float(frame)]
        assert (m["color"], m["name"], m["note"], m["duration"]) == ("Green", name, note, duration)
        ours = json.loads(m["customData"])["otio_heygen"]
        assert ours["status"] == "rendered" and ours["output"] == str(result.output_path)
        assert (ours["jobs"][0]["job_key"], ours["jobs"][0]["video_id"]) == ids[name]
        assert ids[name][1]


def test_timeline_mode_imports_output_as_a_new_timeline(tmp_path: Path, media: dict[str, Path]) -> None:
    resolve = make_fake(media["song"], MARKERS, fps=FPS, start=START, length=120)
    result = _run(resolve, tmp_path, media["photo"], place="timeline")
    ((path, options),) = resolve.called("ImportTimelineFromFile")
    assert path == str(result.output_path)
    bin_folder = resolve.project.media_pool.root.subfolders[0]
    assert options == {
        "timelineName": "Edit 1 + Avatar IV",
        "importSourceClips": False,
        "sourceClipsFolders": [bin_folder],
    }
    assert resolve.called("ImportMedia") and not resolve.called("AppendToTimeline")
    new = resolve.project.current
    assert new.name == "Edit 1 + Avatar IV" and result.new_timeline_name == new.name
    assert "Avatar IV" in [t["name"] for t in new.video_tracks]
    assert resolve.project.media_pool.root.subfolders[0].timelines == [new]
    assert {m["color"] for m in resolve.project.timelines[0].GetMarkers().values()} == {"Green"}
    resolve.project.current = resolve.project.timelines[0]
    again = _run(resolve, tmp_path, media["photo"], place="timeline")
    assert (
        again.new_timeline_name == "Edit 1 + Avatar IV (2)" and resolve.project.current.name == again.new_timeline_name
    )


def test_timeline_mode_retries_with_source_clips_when_resolve_refuses(tmp_path: Path, media: dict[str, Path]) -> None:
    resolve = make_fake(media["song"], MARKERS, length=120, refuse_import_without_source_clips=True)
    result = _run(resolve, tmp_path, media["photo"], place="timeline")
    first, second = resolve.called("ImportTimelineFromFile")
    assert first[1]["importSourceClips"] is False
    assert second[1] == {
        "timelineName": "Edit 1 + Avatar IV",
        "importSourceClips": True,
        "sourceClipsPath": str(result.summary.media_dir),
    }


def test_rerun_reuses_renders_and_bin_items_and_adds_a_new_track(tmp_path: Path, media: dict[str, Path]) -> None:
    resolve = make_fake(media["song"], MARKERS, fps=FPS, start=START, length=120)
    _run(resolve, tmp_path, media["photo"])
    resolve.calls.clear()
    again = _run(resolve, tmp_path, media["photo"])
    assert (again.summary.rendered, again.summary.reused) == (0, 2)
    assert resolve.called("ImportMedia") == []  # the bin already holds the files
    assert resolve.called("SetTrackName") == [("video", 3, "Avatar IV (2)")]
    ((infos,),) = resolve.called("AppendToTimeline")
    assert sorted(i["recordFrame"] for i in infos) == [START, START + 48]
    assert resolve.called("DeleteMarkerAtFrame") == []  # already green: only custom data is refreshed
    assert len(resolve.called("UpdateMarkerCustomData")) == 2


def test_selecting_by_color_keeps_marker_colors(tmp_path: Path, media: dict[str, Path]) -> None:
    resolve = make_fake(media["song"], MARKERS, length=120)
    result = _run(resolve, tmp_path, media["photo"], render={"colors": ("Blue",)})
    assert {m["color"] for m in resolve.project.current.GetMarkers().values()} == {"Blue"}
    assert resolve.called("DeleteMarkerAtFrame") == [] and len(resolve.called("UpdateMarkerCustomData")) == 2
    assert any("colors" in note for note in result.notes)


def test_absolute_stack_marker_times_are_detected(tmp_path: Path, media: dict[str, Path]) -> None:
    resolve = make_fake(media["song"], MARKERS, fps=FPS, start=START, length=120, absolute_marker_times=True)
    result = _run(resolve, tmp_path, media["photo"])
    ((infos,),) = resolve.called("AppendToTimeline")
    assert sorted(i["recordFrame"] for i in infos) == [START, START + 48]
    assert any("absolute" in note for note in result.notes)


def test_handles_offset_the_source_start(tmp_path: Path, media: dict[str, Path]) -> None:
    resolve = make_fake(media["song"], MARKERS, fps=FPS, start=START, length=120)
    _run(resolve, tmp_path, media["photo"], render={"handles": 6})
    ((infos,),) = resolve.called("AppendToTimeline")
    verse = next(i for i in infos if i["recordFrame"] == START + 48)
    assert (verse["startFrame"], verse["endFrame"]) == (6, 66)


def test_grade_media_are_placed_from_their_first_frame_not_their_timecode(
    tmp_path: Path, media: dict[str, Path]
) -> None:
    resolve = make_fake(media["song"], MARKERS, fps=FPS, start=START, length=120)
    _run(resolve, tmp_path, media["photo"], render={"handles": 6, "media_format": "prores"})
    ((infos,),) = resolve.called("AppendToTimeline")
    verse = next(i for i in infos if i["recordFrame"] == START + 48)
    assert (verse["startFrame"], verse["endFrame"]) == (6, 66)  # the .mov starts at 01:00:01:18, frame 0
    assert verse["mediaPoolItem"].GetClipProperty("File Path").endswith(".mov")


def test_no_timeline_and_refused_export_are_clear_errors(tmp_path: Path, media: dict[str, Path]) -> None:
    resolve = make_fake(media["song"], MARKERS, length=120, refuse_export=True)
    with pytest.raises(connect.ResolveError, match=r"could not export 'Edit 1'.*File > Export > Timeline"):
        _run(resolve, tmp_path, media["photo"])
    resolve.project.current = None
    with pytest.raises(connect.ResolveError, match="No timeline is open"):
        _run(resolve, tmp_path, media["photo"])


# ------------------------------------------------------------------------------------------ pure parts


def test_failed_sections_turn_red_and_takes_are_matched_by_name() -> None:
    markers = {
        0.0: {"name": "Intro", "color": "Blue", "customData": "keep"},
        48.0: {"name": "Verse", "color": "Blue", "customData": '{"other": 1}'},
    }
    updates = bridge.marker_updates(
        markers, [], [("Verse (take 2)", "HeyGen said no")], output_path=Path("/o.otio"), recolor=True
    )
    (u,) = updates
    assert (u.frame, u.color, u.status) == (48.0, "Red", "failed")
    assert json.loads(u.custom_data) == {
        "other": 1,
        "otio_heygen": {"status": "failed", "error": "HeyGen said no", "output": "/o.otio"},
    }


def test_detect_marker_time() -> None:
    tl = otio.schema.Timeline(global_start_time=otio.opentime.RationalTime(START, FPS))
    tl.tracks.markers.append(
        otio.schema.Marker(
            marked_range=otio.opentime.TimeRange(
                otio.opentime.RationalTime(START + 48, FPS), otio.opentime.RationalTime(1, FPS)
            )
        )
    )
    assert bridge.detect_marker_time(tl, {48.0: {}}, START) == "absolute"
    tl.tracks.markers[0].marked_range = otio.opentime.TimeRange(
        otio.opentime.RationalTime(48, FPS), otio.opentime.RationalTime(1, FPS)
    )
    assert bridge.detect_marker_time(tl, {48.0: {}}, START) == "relative"
    assert bridge.detect_marker_time(tl, {7.0: {}}, START) == "auto"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("file:///Users/me/a%20b/x.mp4", "/Users/me/a b/x.mp4"),
        ("file://localhost/Users/me/x.mp4", "/Users/me/x.mp4"),
        ("/abs/x.mp4", "/abs/x.mp4"),
        ("x_media/01_Intro_take1.mp4", "/base/x_media/01_Intro_take1.mp4"),
    ],
)
def test_url_to_path(url: str, expected: str) -> None:
    assert connect.url_to_path(url, Path("/base")) == Path(expected)


def test_scripts_dir_per_os(tmp_path: Path) -> None:
    home = Path("/home/ed")
    assert connect.scripts_dir("darwin", {}, home) == home / (
        "Library/Application Support/Blackmagic Design/DaVinci Resolve/Fusion/Scripts/Edit"
    )
    assert connect.scripts_dir("linux", {}, home) == home / ".local/share/DaVinciResolve/Fusion/Scripts/Edit"
    win = connect.scripts_dir("win32", {"APPDATA": "/appdata"}, home)
    assert win == Path("/appdata/Blackmagic Design/DaVinci Resolve/Support/Fusion/Scripts/Edit")


# -------------------------------------------------------------------------------------------- connect


def test_connect_uses_the_resolve_object_a_menu_script_gets() -> None:
    fake = FakeResolve()

    class App:
        def GetResolve(self) -> FakeResolve:
            return fake

    assert connect.connect({"resolve": fake}) is fake
    assert connect.connect({"app": App()}) is fake


def test_connect_explains_missing_scripting_and_points_to_the_file_route() -> None:
    def no_module(name: str) -> ModuleType:
        raise ImportError(name)

    with pytest.raises(connect.ResolveUnavailableError) as info:
        connect.connect(None, importer=no_module, platform="linux", env={})
    text = info.value.one_line()
    assert "DaVinciResolveScript" in text and "Studio" in text and "21.1" in text
    assert "File > Export > Timeline" in text and "otio-heygen render" in text
    assert info.value.exit_code == 2

    silent = ModuleType("DaVinciResolveScript")
    silent.scriptapp = lambda name: None  # type: ignore[attr-defined]
    with pytest.raises(connect.ResolveUnavailableError, match="did not answer"):
        connect.connect(None, importer=lambda name: silent)


# ------------------------------------------------------------------------------- installed script, CLI


def test_install_script_then_run_it_from_a_terminal_against_resolve(tmp_path: Path, media: dict[str, Path]) -> None:
    """install-script fills the settings; a bare Python (-I: no venv, no PYTHONPATH) runs the copy, which
    finds otio-heygen through SITE_PACKAGES and Resolve through RESOLVE_SCRIPT_API/Modules."""
    from otio_heygen.cli.main import cli

    scripts = tmp_path / "Scripts" / "Edit"
    out = tmp_path / "renders"
    res = CliRunner().invoke(
        cli,
        [
            "resolve",
            "install-script",
            "--dest",
            str(scripts),
            "--backend",
            "preview",
            "--image",
            str(media["photo"]),
            "--output-dir",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    installed = scripts / "otio_heygen_resolve.py"
    text = installed.read_text()
    assert 'BACKEND = "preview"' in text and f"IMAGE = {json.dumps(str(media['photo']))}" in text

    modules = tmp_path / "api" / "Modules"
    modules.mkdir(parents=True)
    calls = tmp_path / "calls.json"
    (modules / "DaVinciResolveScript.py").write_text(
        textwrap.dedent(f"""
        import atexit, json, sys
        from pathlib import Path
        sys.path.insert(0, {str(Path(__file__).parent / "support")!r})
        from resolve_fake import make_fake
        _fake = make_fake(Path({str(media["song"])!r}), {MARKERS!r}, length=120)
        def scriptapp(name):
            return _fake if name == "Resolve" else None
        def _dump():
            Path({str(calls)!r}).write_text(json.dumps([[o, m] for o, m, _ in _fake.calls]))
        atexit.register(_dump)
    """)
    )
    base_python = getattr(sys, "_base_executable", sys.executable)
    env = {**os.environ, "RESOLVE_SCRIPT_API": str(tmp_path / "api")}
    done = subprocess.run(
        [base_python, "-I", str(installed)], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 rendered" in done.stdout
    assert "Intro (take 1): done" in done.stdout and "Verse (take 1): done" in done.stdout
    methods = [m for _, m in json.loads(calls.read_text())]
    assert methods.count("Export") == 1 and "ImportMedia" in methods and "AppendToTimeline" in methods
    assert (out / "Edit_1_avatar.otio").is_file() and len(list((out / "Edit_1_avatar_media").glob("*.mp4"))) == 2


def test_cli_resolve_render_without_resolve_exits_2_with_the_file_route(monkeypatch: pytest.MonkeyPatch) -> None:
    from otio_heygen.cli.main import main

    monkeypatch.setenv("RESOLVE_SCRIPT_API", "/nonexistent")
    monkeypatch.setattr(connect, "module_dirs", lambda platform=None, env=None: [])
    monkeypatch.setitem(sys.modules, "DaVinciResolveScript", None)  # import fails like on a machine without it
    assert main(["resolve", "render", "--backend", "preview"]) == 2


def test_cli_resolve_render_json_against_a_running_resolve(
    tmp_path: Path, media: dict[str, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from otio_heygen.cli.main import main

    fake = make_fake(media["song"], MARKERS, fps=FPS, start=START, length=120)
    module = ModuleType("DaVinciResolveScript")
    module.scriptapp = lambda name: fake  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "DaVinciResolveScript", module)
    args = [
        "resolve",
        "render",
        "--backend",
        "preview",
        "--image",
        str(media["photo"]),
        "--output-dir",
        str(tmp_path / "out"),
        "--place",
        "timeline",
        "--json",
    ]
    assert main(args) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    result = next(x for x in lines if x.get("event") == "result")
    resolve_info = lines[-1]
    assert resolve_info["event"] == "resolve" and resolve_info["timeline"] == "Edit 1 + Avatar IV"
    assert [m["status"] for m in resolve_info["markers"]] == ["rendered", "rendered"]
    assert result["rendered"] == 2 and Path(result["output"]).is_file()


def test_extra_takes_go_on_further_disabled_tracks(tmp_path: Path, media: dict[str, Path]) -> None:
    resolve = make_fake(media["song"], MARKERS[:1], fps=FPS, start=START, length=120)
    result = _run(resolve, tmp_path, media["photo"], render={"takes": 2})
    names = [args[2] for args in resolve.called("SetTrackName")]
    assert len(names) == 2 and names[0] == "Avatar IV" and names[1] != names[0]
    assert resolve.called("SetTrackEnable") == [("video", 3, False)]
    records = [(i["trackIndex"], i["recordFrame"]) for (infos,) in resolve.called("AppendToTimeline") for i in infos]
    assert sorted(records) == [(2, START), (3, START)]
    ours = json.loads(resolve.project.current.GetMarkers()[0.0]["customData"])["otio_heygen"]
    assert [j["take"] for j in ours["jobs"]] == [1, 2] and len({j["job_key"] for j in ours["jobs"]}) == 2
    assert len(result.placements) == 2


def test_media_reported_under_another_path_is_matched_by_name(tmp_path: Path, media: dict[str, Path]) -> None:
    resolve = make_fake(media["song"], MARKERS, length=120, reported_path_prefix=r"D:\Media")
    _run(resolve, tmp_path, media["photo"])
    ((infos,),) = resolve.called("AppendToTimeline")
    names = {i["recordFrame"]: i["mediaPoolItem"].GetClipProperty("File Path") for i in infos}
    assert names == {START: r"D:\Media\01_Intro_take1.mp4", START + 48: r"D:\Media\02_Verse_take1.mp4"}


def test_menu_script_runs_inside_resolve_with_the_injected_app(
    tmp_path: Path, media: dict[str, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from otio_heygen.adapters.resolve import otio_heygen_resolve as script

    fake = make_fake(media["song"], MARKERS, length=120)

    class App:  # what Resolve's Workspace > Scripts hands a script as a global
        def GetResolve(self) -> FakeResolve:
            return fake

    monkeypatch.setattr(script, "BACKEND", "preview")
    monkeypatch.setattr(script, "IMAGE", str(media["photo"]))
    monkeypatch.setattr(script, "OUTPUT_DIR", str(tmp_path / "out"))
    monkeypatch.setattr(script, "PLACE", "timeline")
    assert script.main({"app": App()}, []) == 0
    out = capsys.readouterr().out
    assert "2 rendered" in out and str(tmp_path / "out" / "Edit_1_avatar.otio") in out
    assert fake.called("ImportTimelineFromFile")[0][1]["timelineName"] == "Edit 1 + Avatar IV"

    fake.project.current = None
    assert script.main({"app": App()}, []) == 2
    assert "otio-heygen: No timeline is open in DaVinci Resolve" in capsys.readouterr().out


# ------------------------------------------------------- the documented API (adapters/resolve/API_NOTES.md)


def _placed(resolve: FakeResolve) -> list[tuple[int, int]]:
    """(record frame, length) of every clip the bridge put on the current timeline."""
    return sorted((p.GetStart(), p.GetDuration()) for p in resolve.project.current.placed)


def test_resolve_18_gets_an_inclusive_end_frame(tmp_path: Path, media: dict[str, Path]) -> None:
    resolve = make_fake(media["song"], MARKERS, fps=FPS, start=START, length=120, version=(18, 6, 0, 0, ""))
    _run(resolve, tmp_path, media["photo"])
    ((infos,),) = resolve.called("AppendToTimeline")
    assert sorted(i["endFrame"] - i["startFrame"] for i in infos) == [35, 59]  # inclusive: one less
    assert _placed(resolve) == [(START, 36), (START + 48, 60)]
    assert resolve.called("DeleteClips") == []


def test_an_end_frame_rule_that_disagrees_with_the_version_is_read_back_and_fixed(
    tmp_path: Path, media: dict[str, Path]
) -> None:
    resolve = make_fake(media["song"], MARKERS, fps=FPS, start=START, length=120, end_frame_inclusive=True)
    result = _run(resolve, tmp_path, media["photo"])
    first, second = resolve.called("AppendToTimeline")
    assert [i["endFrame"] - j["endFrame"] for i, j in zip(first[0], second[0], strict=True)] == [1, 1]
    assert len(resolve.called("DeleteClips")) == 1
    assert _placed(resolve) == [(START, 36), (START + 48, 60)]
    assert any("re-placed track 2" in note for note in result.notes)


def test_resolve_before_18_5_cannot_export_otio(tmp_path: Path, media: dict[str, Path]) -> None:
    resolve = make_fake(media["song"], MARKERS, length=120, version=(18, 1, 4, 6, ""))
    with pytest.raises(connect.ResolveError, match=r"cannot export OpenTimelineIO \(this is 18\.1\).*18\.5"):
        _run(resolve, tmp_path, media["photo"])
    assert resolve.called("Export") == []


def test_marker_colors_are_resolve_names(tmp_path: Path, media: dict[str, Path]) -> None:
    resolve = make_fake(media["song"], MARKERS, length=120)
    with pytest.raises(connect.ResolveError, match=r"'Orange' is not a DaVinci Resolve marker color.*Lavender"):
        _run(resolve, tmp_path, media["photo"], rendered_color="Orange")
    assert resolve.calls == []  # refused before touching Resolve
    _run(resolve, tmp_path, media["photo"], rendered_color="mint")
    assert {m["color"] for m in resolve.project.current.GetMarkers().values()} == {"Mint"}


def test_a_refused_marker_update_is_reported(
    tmp_path: Path, media: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    resolve = make_fake(media["song"], MARKERS, length=120)
    monkeypatch.setattr(resolve.project.current, "UpdateMarkerCustomData", lambda frame, data: False)
    result = _run(resolve, tmp_path, media["photo"], render={"colors": ("Blue",)})
    assert any("refused to update the marker(s) Intro, Verse" in note for note in result.notes)
    assert len(result.placements) == 2


def test_the_fake_refuses_what_resolve_refuses(tmp_path: Path, media: dict[str, Path]) -> None:
    """The fake follows the README, so a bridge that passes against it uses the documented API."""
    resolve = make_fake(media["song"], MARKERS, fps=FPS, start=START, length=120)
    pool, timeline = resolve.project.media_pool, resolve.project.current
    (item,) = pool.ImportMedia([str(media["song"])])
    good = {"mediaPoolItem": item, "startFrame": 0, "endFrame": 24, "recordFrame": START, "trackIndex": 1}
    assert pool.AppendToTimeline([{**good, "track": 1}]) is None  # unknown key
    assert pool.AppendToTimeline([{**good, "recordFrame": START + 0.5}]) is None  # fractional frame
    assert pool.AppendToTimeline([{**good, "mediaType": 3}]) is None
    assert pool.AppendToTimeline([{**good, "trackIndex": 9}]) == [None]
    (placed,) = pool.AppendToTimeline([{**good, "recordFrame": float(START)}])  # whole floats are fine
    assert (placed.GetStart(), placed.GetDuration()) == (START, 24)  # absolute record frame, exclusive end
    assert timeline.AddMarker(10.0, "Orange", "x", "", 1.0) is False
    assert timeline.AddMarker(10.0, "Cream", "x", "", 1.0) is True
    assert timeline.AddMarker(10.0, "Cream", "again", "", 1.0) is False  # one marker per frame
    assert timeline.GetMarkers()[10.0]["color"] == "Cream"  # keys are floats relative to the start
    assert timeline.UpdateMarkerCustomData(11.0, "{}") is False and timeline.DeleteMarkerAtFrame(11.0) is False
    with pytest.raises(TypeError):
        timeline.AddMarker(12.0, "Blue", "x", "")  # duration is required
    assert pool.ImportTimelineFromFile(str(tmp_path / "x.otio"), {"name": "x"}) is None  # unknown key
    assert timeline.Export(str(tmp_path / "two_args.otio"), resolve.EXPORT_OTIO)  # subtype ignored for OTIO
    assert not timeline.Export(str(tmp_path / "x.edl"), 2, resolve.EXPORT_NONE)
    assert not hasattr(make_fake(media["song"], [], version=(18, 1, 0, 0, "")), "EXPORT_OTIO")


def test_optional_and_old_style_answers_are_tolerated(
    tmp_path: Path, media: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    resolve = make_fake(media["song"], MARKERS[:1], length=120)
    monkeypatch.setattr(resolve.project.current, "SetTrackEnable", None)  # an unknown attribute reads as None
    result = _run(resolve, tmp_path, media["photo"], render={"takes": 2})
    assert result.track_indices == [2, 3] and resolve.called("SetTrackEnable") == []

    old = make_fake(media["song"], MARKERS, length=120)
    monkeypatch.setattr(old.project.media_pool, "AppendToTimeline", lambda infos: True)  # Resolve 17 answered a bool
    with pytest.raises(connect.ResolveError, match="placed 0 of 2 clips on track 2"):
        _run(old, tmp_path / "old", media["photo"])


def test_install_script_checks_the_photo_like_render(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from otio_heygen.cli.main import main

    not_a_photo = tmp_path / "artist.png"
    not_a_photo.write_text("this is text, not a PNG")
    scripts = tmp_path / "Scripts" / "Edit"
    args = ["resolve", "install-script", "--dest", str(scripts)]
    assert main([*args, "--image", str(not_a_photo)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "artist.png" in err
    assert not (scripts / "otio_heygen_resolve.py").exists()  # nothing installed with a bad photo
    assert main([*args, "--image", str(tmp_path / "missing.png")]) == 2
    assert "photo not found" in capsys.readouterr().err
