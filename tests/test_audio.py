"""Tests for otio_heygen.media.audio, .song and .probe: locating the song, decode-once, sample-exact cuts, upload
encoding, probing.

All media are real files written in tmp_path with the stdlib ``wave`` module or PyAV.
"""

from __future__ import annotations

import wave
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import opentimelineio as otio
import pytest

from otio_heygen.errors import InputError, MediaError
from otio_heygen.media import audio, probe
from otio_heygen.media.audio import SongAudio
from otio_heygen.media.song import SongClip, SongLayout, locate_song
from otio_heygen.media.sync import measure_offset

RT = otio.opentime.RationalTime
TR = otio.opentime.TimeRange
NTSC_FILM = 24000 / 1001
NTSC_VIDEO = 30000 / 1001


def write_wav(path: Path, samples: np.ndarray, sample_rate: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(samples.shape[0])
        wav.setsampwidth(2)
        wav.setframerate(sample_rate)
        wav.writeframes(np.ascontiguousarray(samples.T).tobytes())
    return path


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as wav:
        data = np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16)
        return data.reshape(-1, wav.getnchannels()).T, wav.getframerate()


def noise(seconds: float, sample_rate: int = 48000, channels: int = 2, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(-20000, 20000, size=(channels, round(seconds * sample_rate))).astype(np.int16)


def expected_sample(frame: int, rate: Fraction, sample_rate: int) -> int:
    """Independent reference: exact rational frame -> sample, half up."""
    value = Fraction(frame) * sample_rate / rate
    return int(value + Fraction(1, 2)) if value >= 0 else -int(-value + Fraction(1, 2))


def make_timeline(
    tracks: list[tuple[str, str, list[tuple[int, str | None, int, int]]]],
    rate: float,
    global_start: float | None = None,
) -> otio.schema.Timeline:
    """tracks: (kind, name, [(gap_before, url, source_start, duration)]) in frames at ``rate``."""
    tl = otio.schema.Timeline(name="t")
    if global_start is not None:
        tl.global_start_time = RT(global_start, rate)
    for kind, name, items in tracks:
        track = otio.schema.Track(name=name, kind=kind)
        for gap, url, src, dur in items:
            if gap:
                track.append(otio.schema.Gap(source_range=TR(RT(0, rate), RT(gap, rate))))
            ref: otio.core.MediaReference = (
                otio.schema.ExternalReference(target_url=url) if url else otio.schema.MissingReference()
            )
            track.append(
                otio.schema.Clip(name=f"clip{src}", media_reference=ref, source_range=TR(RT(src, rate), RT(dur, rate)))
            )
        tl.tracks.append(track)
    return tl


@pytest.fixture()
def song(tmp_path: Path) -> tuple[Path, np.ndarray]:
    samples = noise(12.0)
    return write_wav(tmp_path / "media" / "song.wav", samples, 48000), samples


# ---------------------------------------------------------------- cuts


@pytest.mark.parametrize(
    ("rate", "exact", "sample_rate"),
    [
        (NTSC_FILM, Fraction(24000, 1001), 48000),
        (25.0, Fraction(25), 48000),
        (NTSC_VIDEO, Fraction(30000, 1001), 48000),
        (NTSC_FILM, Fraction(24000, 1001), 44100),
    ],
)
def test_cuts_are_sample_exact(tmp_path: Path, rate: float, exact: Fraction, sample_rate: int) -> None:
    samples = noise(10.0, sample_rate)
    path = write_wav(tmp_path / "song.wav", samples, sample_rate)
    frames = int(10 * rate)
    tl = make_timeline([(otio.schema.TrackKind.Audio, "A1", [(0, "song.wav", 0, frames)])], rate)
    layout = locate_song(tl, tmp_path / "edit.otio")
    assert layout.clips[0].path == path.resolve()
    assert layout.end_frame == frames and layout.rate == rate
    songaudio = SongAudio(layout)
    assert songaudio.sample_rate == sample_rate and songaudio.channels == 2
    for start, end in [(0, 1), (17, 113), (101, 202), (frames - 48, frames - 1)]:
        cut = songaudio.cut(start, end)
        s0 = expected_sample(start, exact, sample_rate)
        n = expected_sample(end - start, exact, sample_rate)
        assert cut.shape == (2, n)
        assert np.array_equal(cut, samples[:, s0 : s0 + n])


def test_ntsc_film_frames_map_to_whole_samples() -> None:
    # 24000/1001 at 48 kHz is exactly 2002 samples per frame. A timeline that writes 23.976 counts the
    # same frames and plays at 24000/1001 in every NLE, so its frames land on the same samples.
    assert audio.frame_to_sample(1440, NTSC_FILM, 48000) == 1440 * 2002
    assert audio.frame_to_sample(1440, 23.976, 48000) == 1440 * 2002
    assert audio.frame_to_sample(1441, 29.97, 48000) == round(1441 * 48000 * 1001 / 30000)
    assert audio.frame_to_sample(1440, 23.976024627685547, 48000) == 1440 * 2002


def test_handles_zero_fill_at_song_start_and_end(song: tuple[Path, np.ndarray]) -> None:
    path, samples = song
    layout = SongLayout((SongClip(path, 0, 250, 0.0),), 25.0, 250, None)
    sa = SongAudio(layout)
    head = sa.cut(-12, 25)  # 12-frame handle before the song starts
    assert head.shape == (2, 37 * 1920)
    assert not head[:, : 12 * 1920].any()
    assert np.array_equal(head[:, 12 * 1920 :], samples[:, : 25 * 1920])
    tail = sa.cut(240, 262)  # song (clip) ends at frame 250
    assert np.array_equal(tail[:, : 10 * 1920], samples[:, 240 * 1920 : 250 * 1920])
    assert not tail[:, 10 * 1920 :].any()
    assert not sa.cut(300, 310).any()


def test_trimmed_clip_with_offset_on_timeline(tmp_path: Path, song: tuple[Path, np.ndarray]) -> None:
    path, samples = song
    # Song clip starts at 00:00:04:12 (frame 112 @25), file used from 2 s on; timeline starts 01:00:00:00.
    tl = make_timeline(
        [
            (otio.schema.TrackKind.Video, "V1", [(0, None, 0, 400)]),
            (otio.schema.TrackKind.Audio, "Song", [(112, str(path), 50, 150)]),
        ],
        25.0,
        global_start=90000,
    )
    layout = locate_song(tl, tmp_path / "edit.otio")
    (clip,) = layout.clips
    assert (clip.timeline_start_frame, clip.duration_frames, clip.source_start_seconds) == (112, 150, 2.0)
    assert layout.end_frame == 262 and layout.track_name == "Song"
    sa = SongAudio(layout)
    cut = sa.cut(100, 137)
    assert not cut[:, : 12 * 1920].any()
    assert np.array_equal(cut[:, 12 * 1920 :], samples[:, 96000 : 96000 + 25 * 1920])
    # the clip is trimmed at 150 frames: audio of the file beyond it is not used
    end = sa.cut(250, 270)
    assert np.array_equal(end[:, : 12 * 1920], samples[:, 96000 + 138 * 1920 : 96000 + 150 * 1920])
    assert not end[:, 12 * 1920 :].any()


def test_available_range_with_timecode_start(tmp_path: Path, song: tuple[Path, np.ndarray]) -> None:
    path, samples = song
    tl = make_timeline([(otio.schema.TrackKind.Audio, "A", [(0, str(path), 86400 + 48, 96)])], 24.0)
    clip = tl.audio_tracks()[0].find_clips()[0]
    clip.media_reference.available_range = TR(RT(86400, 24), RT(288, 24))
    layout = locate_song(tl, tmp_path / "e.otio")
    assert layout.clips[0].source_start_seconds == 2.0
    assert np.array_equal(SongAudio(layout).cut(0, 24), samples[:, 96000:144000])


def test_split_song_decodes_once(tmp_path: Path, song: tuple[Path, np.ndarray]) -> None:
    path, samples = song
    tl = make_timeline([(otio.schema.TrackKind.Audio, "A", [(0, str(path), 0, 50), (25, str(path), 75, 50)])], 25.0)
    before = audio.DECODE_COUNTS[path.resolve()]
    sa = SongAudio(locate_song(tl, tmp_path / "e.otio"))
    for start in range(0, 120, 10):
        sa.cut(start, start + 10)
        sa.slice_digest(start, start + 10)
    assert audio.DECODE_COUNTS[path.resolve()] == before + 1
    # the gap (frames 50..75) is silence, the second clip continues the file at 3 s
    cut = sa.cut(45, 80)
    assert np.array_equal(cut[:, : 5 * 1920], samples[:, 45 * 1920 : 50 * 1920])
    assert not cut[:, 5 * 1920 : 30 * 1920].any()
    assert np.array_equal(cut[:, 30 * 1920 :], samples[:, 75 * 1920 : 80 * 1920])


def test_mono_and_stereo_files_share_rate_and_channels(tmp_path: Path) -> None:
    mono = write_wav(tmp_path / "vox.wav", noise(2.0, 24000, 1, seed=3), 24000)
    stereo_samples = noise(2.0, 48000, 2, seed=4)
    stereo = write_wav(tmp_path / "mix.wav", stereo_samples, 48000)
    layout = SongLayout((SongClip(mono, 0, 50, 0.0), SongClip(stereo, 50, 50, 0.0)), 25.0, 100, None)
    sa = SongAudio(layout)
    assert (sa.sample_rate, sa.channels) == (48000, 2)
    first = sa.cut(0, 50)
    assert first.shape == (2, 96000) and np.array_equal(first[0], first[1]) and first.any()
    assert np.array_equal(sa.cut(50, 100), stereo_samples)


def test_digest_and_vocal_energy(tmp_path: Path) -> None:
    t = np.arange(48000 * 2) / 48000
    tone = (0.5 * 32767 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
    samples = np.stack([tone, tone])
    samples[:, 48000:] = 0
    path = write_wav(tmp_path / "tone.wav", samples, 48000)
    sa = SongAudio(SongLayout((SongClip(path, 0, 50, 0.0),), 25.0, 50, None))
    assert sa.vocal_energy(0, 25) == pytest.approx(-9.03, abs=0.05)
    assert sa.vocal_energy(25, 50) == -120.0
    assert sa.slice_digest(0, 10) == sa.slice_digest(0, 10)
    assert sa.slice_digest(0, 10) != sa.slice_digest(1, 11)
    assert sa.slice_digest(30, 40) == sa.slice_digest(40, 50)  # both silent, same length


# ---------------------------------------------------------------- locating media


def test_relative_paths_and_file_urls_resolve(tmp_path: Path) -> None:
    folder = tmp_path / "my project" / "audio"
    target = write_wav(folder / "song mix #1.wav", noise(1.0), 48000).resolve()
    timeline_path = tmp_path / "my project" / "edit.otio"
    encoded = str(target).replace(" ", "%20").replace("#", "%23")
    for url in ["audio/song mix #1.wav", str(target), f"file://{encoded}", f"file://localhost{encoded}"]:
        tl = make_timeline([(otio.schema.TrackKind.Audio, "A", [(0, url, 0, 25)])], 25.0)
        assert locate_song(tl, timeline_path).clips[0].path == target, url


@pytest.mark.parametrize(
    "url",
    [
        "file://localhost/D%3a/Projects/Video/Audio/song%20final.wav",
        "D:\\Projects\\Audio\\song final.wav",
        "/Volumes/RAID/Audio/song final.wav",
        "file:///Users/ed/Music/song%20final.wav",
        "file://D:/Music/song%20final.wav",
        "\\\\server\\share\\song final.wav",
    ],
)
def test_media_root_relinks_by_file_name(tmp_path: Path, url: str) -> None:
    target = write_wav(tmp_path / "here" / "deep" / "song final.wav", noise(1.0), 48000).resolve()
    write_wav(tmp_path / "here" / "other.wav", noise(1.0), 48000)
    tl = make_timeline([(otio.schema.TrackKind.Audio, "A", [(0, url, 0, 25)])], 25.0)
    with pytest.raises(MediaError):
        locate_song(tl, tmp_path / "edit.otio")
    assert locate_song(tl, tmp_path / "edit.otio", media_root=tmp_path / "here").clips[0].path == target


def test_missing_media_names_the_file(tmp_path: Path) -> None:
    tl = make_timeline([(otio.schema.TrackKind.Audio, "A", [(0, "/nowhere/lost_song.wav", 0, 25)])], 25.0)
    with pytest.raises(MediaError) as info:
        locate_song(tl, tmp_path / "edit.otio", media_root=tmp_path)
    assert isinstance(info.value, InputError) and info.value.exit_code == 2
    assert "lost_song.wav" in str(info.value) and "--media-root" in str(info.value)
    assert "\n" not in str(info.value)
    # plan mode: no error, the unresolved path is kept
    layout = locate_song(tl, tmp_path / "edit.otio", require_media=False)
    assert layout.clips[0].path.name == "lost_song.wav" and layout.end_frame == 25


def test_unreadable_media_is_a_media_error(tmp_path: Path) -> None:
    bad = tmp_path / "song.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really audio" * 10)
    tl = make_timeline([(otio.schema.TrackKind.Audio, "A", [(0, "song.wav", 0, 25)])], 25.0)
    with pytest.raises(MediaError, match=r"song\.wav"):
        locate_song(tl, tmp_path / "edit.otio")
    with pytest.raises(MediaError, match=r"song\.wav"):
        probe.probe_media(bad)


def test_no_song_on_timeline(tmp_path: Path) -> None:
    tl = make_timeline([(otio.schema.TrackKind.Video, "V1", [(0, None, 0, 25)])], 25.0)
    with pytest.raises(MediaError, match="--audio"):
        locate_song(tl, tmp_path / "edit.otio")
    assert locate_song(tl, tmp_path / "edit.otio", require_media=False).clips == ()


def test_audio_override(tmp_path: Path, song: tuple[Path, np.ndarray]) -> None:
    path, samples = song
    tl = make_timeline([(otio.schema.TrackKind.Audio, "A", [(0, "/missing.wav", 0, 25)])], NTSC_FILM)
    layout = locate_song(tl, tmp_path / "edit.otio", audio_override=path)
    assert layout.clips == (SongClip(path.resolve(), 0, int(12 * NTSC_FILM), 0.0),)
    assert np.array_equal(SongAudio(layout).cut(10, 20), samples[:, 20020:40040])
    with pytest.raises(MediaError, match=r"nope\.wav"):
        locate_song(tl, tmp_path / "edit.otio", audio_override=tmp_path / "nope.wav")


def test_drive_track_picks_the_vocal_stem(tmp_path: Path) -> None:
    mix = write_wav(tmp_path / "mix.wav", noise(2.0, seed=5), 48000).resolve()
    vox = write_wav(tmp_path / "vocals.wav", noise(2.0, seed=6), 48000).resolve()
    tl = make_timeline(
        [
            (otio.schema.TrackKind.Audio, "Mix", [(0, "mix.wav", 0, 50)]),
            (otio.schema.TrackKind.Audio, "Vocals", [(0, "vocals.wav", 0, 50)]),
        ],
        25.0,
    )
    assert locate_song(tl, tmp_path / "e.otio").clips[0].path == mix
    stem = locate_song(tl, tmp_path / "e.otio", drive_track="Vocals")
    assert stem.clips[0].path == vox and stem.track_name == "Vocals"
    with pytest.raises(MediaError, match="Vox"):
        locate_song(tl, tmp_path / "e.otio", drive_track="Vox")


def test_video_clip_audio_is_the_song_only_without_audio_tracks(tmp_path: Path) -> None:
    mp4 = write_mp4(tmp_path / "shot.mp4", seconds=1.0)
    wav = write_wav(tmp_path / "song.wav", noise(1.0), 48000).resolve()
    only_video = make_timeline([(otio.schema.TrackKind.Video, "V1", [(0, "shot.mp4", 0, 25)])], 25.0)
    assert locate_song(only_video, tmp_path / "e.otio").clips[0].path == mp4.resolve()
    both = make_timeline(
        [
            (otio.schema.TrackKind.Video, "V1", [(0, "shot.mp4", 0, 25)]),
            (otio.schema.TrackKind.Audio, "A1", [(0, "song.wav", 0, 25)]),
        ],
        25.0,
    )
    assert locate_song(both, tmp_path / "e.otio").clips[0].path == wav


# ---------------------------------------------------------------- encoding and probing


def test_write_upload_audio_wav_is_exact_and_atomic(tmp_path: Path) -> None:
    samples = noise(1.5, 44100, seed=7)
    out = audio.write_upload_audio(samples, 44100, tmp_path / "up" / "03_Chorus.wav")
    assert out == tmp_path / "up" / "03_Chorus.wav"
    back, rate = read_wav(out)
    assert rate == 44100 and np.array_equal(back, samples)
    assert [p.name for p in out.parent.iterdir()] == ["03_Chorus.wav"]


def test_write_upload_audio_falls_back_to_mp3(tmp_path: Path) -> None:
    samples = noise(3.0, 48000, seed=8)
    limit = 44 + samples.size * 2 - 1  # one byte too small for the WAV
    out = audio.write_upload_audio(samples, 48000, tmp_path / "sec.wav", max_bytes=limit)
    assert out == tmp_path / "sec.mp3"
    assert out.stat().st_size < limit
    info = probe.probe_media(out)
    assert info.has_audio and not info.has_video and info.duration_seconds == pytest.approx(3.0, abs=0.06)
    decoded, rate = audio.read_audio(out)
    assert rate == 48000 and decoded.shape[0] == 2
    assert [p.name for p in tmp_path.iterdir()] == ["sec.mp3"]
    # exactly at the limit it stays WAV
    assert audio.write_upload_audio(samples, 48000, tmp_path / "x.wav", max_bytes=limit + 1).suffix == ".wav"


def write_mp4(path: Path, seconds: float, fps: int = 25, size: tuple[int, int] = (64, 48)) -> Path:
    sample_rate = 48000
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height = size
        video.pix_fmt = "yuv420p"
        sound = container.add_stream("aac", rate=sample_rate, layout="stereo")
        for i in range(round(seconds * fps)):
            frame = av.VideoFrame.from_ndarray(np.full((size[1], size[0], 3), i % 255, np.uint8), format="rgb24")
            frame.pts = i
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        pcm = noise(seconds, sample_rate, 2, seed=9)
        for i in range(0, pcm.shape[1], 1024):
            aframe = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(pcm[:, i : i + 1024]), format="s16p", layout="stereo"
            )
            aframe.sample_rate, aframe.pts = sample_rate, i
            container.mux(sound.encode(aframe))
        container.mux(sound.encode(None))
    return path


def test_probe_media_on_mp4(tmp_path: Path) -> None:
    info = probe.probe_media(write_mp4(tmp_path / "clip.mp4", seconds=2.0, fps=25, size=(64, 48)))
    assert info.has_video and info.has_audio
    assert info.fps == 25.0 and (info.width, info.height) == (64, 48)
    assert info.duration_seconds == pytest.approx(2.0, abs=0.05)
    decoded, rate = audio.read_audio(tmp_path / "clip.mp4", sample_rate=16000)
    assert rate == 16000 and decoded.shape[0] == 2
    assert decoded.shape[1] == pytest.approx(32000, abs=1100)


def test_probe_media_missing_file(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match=r"gone\.mp4"):
        probe.probe_media(tmp_path / "gone.mp4")


def test_disabled_track_is_not_the_song_and_drive_track_ignores_case(tmp_path: Path) -> None:
    write_wav(tmp_path / "scratch.wav", noise(1.0, seed=1), 48000)
    song = write_wav(tmp_path / "song.wav", noise(1.0, seed=2), 48000).resolve()
    tl = make_timeline(
        [
            (otio.schema.TrackKind.Audio, "Scratch", [(0, "scratch.wav", 0, 25)]),
            (otio.schema.TrackKind.Audio, "Song", [(0, "song.wav", 0, 25)]),
        ],
        25.0,
    )
    tl.audio_tracks()[0].enabled = False
    assert locate_song(tl, tmp_path / "e.otio").clips[0].path == song
    assert locate_song(tl, tmp_path / "e.otio", drive_track="SONG").track_name == "Song"


def test_vocal_stem_silence_is_below_the_no_vocal_threshold(tmp_path: Path) -> None:
    vox = noise(4.0, seed=3) // 8
    vox[:, 48000:96000] = 0  # the singer rests in second 2
    path = write_wav(tmp_path / "vocals.wav", vox, 48000)
    tl = make_timeline([(otio.schema.TrackKind.Audio, "Vocals", [(0, "vocals.wav", 0, 100)])], 25.0)
    stem = SongAudio(locate_song(tl, tmp_path / "e.otio", drive_track="Vocals"))
    assert stem.layout.clips[0].path == path.resolve()
    assert stem.vocal_energy(25, 50) < audio.NO_VOCAL_DBFS < stem.vocal_energy(50, 75)


def test_mp3_song_cuts_line_up_with_the_source(tmp_path: Path) -> None:
    samples = noise(4.0, seed=10) // 4
    wav = write_wav(tmp_path / "song.wav", samples, 48000)
    mp3 = audio.write_upload_audio(samples, 48000, tmp_path / "song.wav.mp3", max_bytes=0)
    exact = SongAudio(SongLayout((SongClip(wav, 0, 100, 0.0),), 25.0, 100, None)).cut(25, 75)
    lossy = SongAudio(SongLayout((SongClip(mp3, 0, 100, 0.0),), 25.0, 100, None)).cut(25, 75)
    assert lossy.shape == exact.shape
    offset_ms, confidence = measure_offset(exact, 48000, lossy, 48000)
    assert abs(offset_ms) < 0.1 and confidence > 0.8  # no encoder delay left in the decoded song
