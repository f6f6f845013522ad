"""The OTIO plugin: discovery through OTIO's own manifest loader, then relinking moved media in a real output."""

from __future__ import annotations

import importlib.metadata as md
import shutil
from pathlib import Path

import opentimelineio as otio
import pytest

from otio_heygen import RenderOptions
from otio_heygen import render_file as render_timeline
from otio_heygen.adapters import otio_plugin
from otio_heygen.output.conform import is_generated_track
from tests.support.resolve_fake import make_fake, write_png, write_wav

LINKER = "otio_heygen_linker"


def test_entry_point_and_manifest_are_discovered_by_otio() -> None:
    (ep,) = [e for e in md.entry_points(group="opentimelineio.plugins") if e.name == "otio_heygen"]
    assert ep.value == "otio_heygen.adapters.otio_plugin"
    manifest = otio.plugins.ActiveManifest(force_reload=True)
    (linker,) = [m for m in manifest.media_linkers if m.name == LINKER]
    assert Path(linker.module_abs_path()).resolve() == Path(otio_plugin.__file__).resolve()
    assert LINKER in otio.media_linker.available_media_linker_names()
    assert callable(otio.media_linker.from_name(LINKER).module().link_media_reference)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real output: a Resolve-style export rendered with the preview backend (2 sections, 4 s)."""
    tmp = tmp_path_factory.mktemp("render")
    song = write_wav(tmp / "song.wav", 4.0)
    resolve = make_fake(song, [(0, "Blue", "Intro", 36, ""), (48, "Blue", "Verse", 48, "")], length=96)
    assert resolve.project is not None and resolve.project.current is not None
    resolve.project.current.Export(str(tmp / "edit.otio"), resolve.EXPORT_OTIO, resolve.EXPORT_NONE)
    out = tmp / "delivery" / "edit_avatar.otio"
    out.parent.mkdir()
    options = RenderOptions(backend="preview", image=write_png(tmp / "artist.png"))
    summary = render_timeline(tmp / "edit.otio", out, options)
    assert summary.rendered == 2 and not summary.failures
    return out


def _generated_urls(timeline: otio.schema.Timeline) -> list[str]:
    return [
        c.media_reference.target_url for t in timeline.video_tracks() if is_generated_track(t) for c in t.find_clips()
    ]


def _moved(rendered: Path, tmp_path: Path) -> Path:
    """The output folder (timeline + ``_media``) moved to another place, as when handed to another machine."""
    dest = tmp_path / "elsewhere" / "job 42"
    shutil.copytree(rendered.parent, dest, ignore=shutil.ignore_patterns(".otio-heygen"))
    return dest / rendered.name


def test_round_trip_relinks_moved_media_and_changes_nothing_else(rendered: Path, tmp_path: Path) -> None:
    moved = _moved(rendered, tmp_path)
    shutil.rmtree(rendered.parent / f"{rendered.stem}_media")  # the old place is gone
    try:
        plain = otio.adapters.read_from_file(str(moved))
        assert not any(otio_plugin._exists(u, None) for u in _generated_urls(plain))

        relinked = otio_plugin.read_relinked(moved)
        urls = _generated_urls(relinked)
        assert len(urls) == 2
        for url in urls:
            path = otio.url_utils.filepath_from_url(url)
            assert Path(path).is_file() and Path(path).parent == moved.parent / f"{moved.stem}_media"
        new_clips = [c for t in relinked.video_tracks() if is_generated_track(t) for c in t.find_clips()]
        assert all(c.media_reference.metadata["otio_heygen"]["relinked_from"] for c in new_clips)
        # everything that is not a generated clip's media reference is exactly as before
        for before, after in zip(plain.tracks, relinked.tracks, strict=True):
            if not is_generated_track(before):
                assert before.is_equivalent_to(after)
        for clip in [c for t in plain.video_tracks() if is_generated_track(t) for c in t.find_clips()]:
            clip.media_reference = new_clips.pop(0).media_reference
        assert plain.is_equivalent_to(relinked)
    finally:
        shutil.copytree(moved.parent / f"{moved.stem}_media", rendered.parent / f"{rendered.stem}_media")


def test_default_linker_env_relinks_from_the_current_folder(
    rendered: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    moved = _moved(rendered, tmp_path)
    old_media = rendered.parent / f"{rendered.stem}_media"
    hidden = old_media.with_name("hidden")
    old_media.rename(hidden)
    try:
        monkeypatch.setenv("OTIO_DEFAULT_MEDIA_LINKER", LINKER)
        monkeypatch.chdir(moved.parent)
        relinked = otio.adapters.read_from_file(moved.name)  # no argument map: cwd + old folder name
        for url in _generated_urls(relinked):
            assert Path(otio.url_utils.filepath_from_url(url)).parent == moved.parent / old_media.name
    finally:
        hidden.rename(old_media)


def test_clips_with_media_present_or_not_ours_are_left_alone(rendered: Path, tmp_path: Path) -> None:
    timeline = otio.adapters.read_from_file(str(rendered))
    for clip in timeline.find_clips():
        assert otio_plugin.link_media_reference(clip, {"timeline_path": str(rendered)}) is None

    foreign = otio.schema.Clip(media_reference=otio.schema.ExternalReference(target_url="/gone/song.wav"))
    (tmp_path / "song.wav").write_bytes(b"x")
    assert otio_plugin.link_media_reference(foreign, {"search_dirs": [str(tmp_path)]}) is None
    found = otio_plugin.link_media_reference(foreign, {"search_dirs": [str(tmp_path)], "all_clips": True})
    assert Path(otio.url_utils.filepath_from_url(found.target_url)) == (tmp_path / "song.wav").resolve()


def test_windows_urls_from_another_machine_relink_by_metadata_file_name(tmp_path: Path) -> None:
    (tmp_path / "03_Chorus_take1.mp4").write_bytes(b"x")
    clip = otio.schema.Clip(
        media_reference=otio.schema.ExternalReference(target_url="file:///D:/Jobs/x_media/old_name.mp4"),
        metadata={"otio_heygen": {"media_file": "03_Chorus_take1.mp4"}},
    )
    found = otio_plugin.link_media_reference(clip, {"search_dirs": [str(tmp_path)]})
    assert found is not None and found.target_url.endswith("/03_Chorus_take1.mp4")
    assert otio_plugin.candidate_dirs("file:///D:/Jobs/x_media/a.mp4", {}, Path("/w"))[:2] == [
        Path("/w/x_media"),
        Path("/w"),
    ]
