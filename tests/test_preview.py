"""Tests for otio_heygen.backends.preview: the offline preview MP4, frame rates, text drawing.

Inputs are real WAV/PNG files written in tmp_path; every output is decoded again with PyAV.
Audio is kept short (about a second) so the whole file runs in a few seconds.
"""

from __future__ import annotations

import os
import wave
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from otio_heygen.backends.preview import draw_text, rate_fraction, render_preview
from otio_heygen.errors import InputError, MediaError, PhotoError
from otio_heygen.planning.types import RenderRequest

NTSC_FILM = 24000 / 1001
NTSC_VIDEO = 30000 / 1001


def write_wav(path: Path, samples: np.ndarray, sample_rate: int) -> Path:
    """``samples``: (channels, n) int16."""
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(samples.shape[0])
        wav.setsampwidth(2)
        wav.setframerate(sample_rate)
        wav.writeframes(np.ascontiguousarray(samples.T).tobytes())
    return path


def tone(seconds: float, sample_rate: int, freq: float, seed: int) -> np.ndarray:
    """A tone with noise bursts (unambiguous to correlate), int16."""
    n = round(seconds * sample_rate)
    t = np.arange(n) / sample_rate
    rng = np.random.default_rng(seed)
    bursts = rng.normal(0, 0.25, n) * (np.sin(2 * np.pi * 3 * t) > 0.6)
    return (np.clip(0.4 * np.sin(2 * np.pi * freq * t) + bursts, -1, 1) * 20000).astype(np.int16)


def write_png(path: Path, rgb: np.ndarray) -> Path:
    with av.open(str(path), mode="w", format="image2") as out:
        stream = out.add_stream("png", rate=1)
        stream.width, stream.height, stream.pix_fmt = rgb.shape[1], rgb.shape[0], "rgb24"
        for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("media")
    photo = np.zeros((600, 600, 3), dtype=np.uint8)
    photo[...] = (200, 30, 40)
    return {
        "photo": write_png(folder / "artist.png", photo),
        "mono": write_wav(folder / "mono.wav", tone(1.3, 48000, 440, 1)[None, :], 48000),
        "stereo": write_wav(
            folder / "stereo.wav", np.stack([tone(0.9, 44100, 330, 2), tone(0.9, 44100, 660, 3)]), 44100
        ),
    }


def request(audio: Path, photo: Path, rate: float, title: str = "Chorus 1") -> RenderRequest:
    return RenderRequest(
        job_key="k" * 64, title=title, image_path=photo, audio_path=audio, seconds=1.0, rate=rate,
        motion_prompt=None, expressiveness="medium", resolution="1080p", aspect_ratio="16:9", fit="cover",
    )


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as wav:
        data = np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16)
        return data.reshape(-1, wav.getnchannels()).T.astype(np.float32) / 32768.0, wav.getframerate()


def decoded_audio(path: Path) -> tuple[np.ndarray, int]:
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        chunks = [frame.to_ndarray() for frame in container.decode(stream)]  # fltp: (channels, n)
        return np.concatenate(chunks, axis=1), int(stream.rate)


def video_frames(path: Path) -> Iterator[np.ndarray]:
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            yield frame.to_ndarray(format="rgb24")


def best_lag(reference: np.ndarray, signal: np.ndarray, max_lag: int) -> tuple[int, float]:
    """Lag (samples) of ``signal`` against ``reference`` with the highest normalised correlation."""
    n = len(reference) - 2 * max_lag
    ref = reference[max_lag : max_lag + n]
    best = (0, -1.0)
    for lag in range(-max_lag, max_lag + 1):
        seg = signal[max_lag + lag : max_lag + lag + n]
        if len(seg) < n:
            continue
        corr = float(np.dot(ref, seg) / (np.linalg.norm(ref) * np.linalg.norm(seg) + 1e-12))
        if corr > best[1]:
            best = (lag, corr)
    return best


# ------------------------------------------------------------------------------------ the MP4


@pytest.mark.parametrize("rate", [NTSC_FILM, 25.0, NTSC_VIDEO])
def test_preview_is_h264_at_the_exact_rate_with_the_right_frame_count(
    tmp_path: Path, media: dict[str, Path], rate: float
) -> None:
    dest = tmp_path / "out" / "01_Chorus_1_take1.mp4"
    render_preview(request(media["mono"], media["photo"], rate), dest)
    pcm, sample_rate = read_wav(media["mono"])
    seconds = pcm.shape[1] / sample_rate
    exact = rate_fraction(rate)
    with av.open(str(dest)) as container:
        video = container.streams.video[0]
        audio = container.streams.audio[0]
        assert video.codec_context.name == "h264"
        assert video.average_rate == exact
        assert (video.codec_context.width, video.codec_context.height) == (640, 360)
        assert audio.codec_context.name == "aac"
        assert audio.rate == 48000
        assert container.duration is not None
        container_seconds = container.duration / av.time_base
        assert video.duration is not None and video.time_base is not None
        video_seconds = float(video.duration * video.time_base)
    frames = sum(1 for _ in video_frames(dest))
    assert frames == round(seconds * exact)
    assert abs(video_seconds - seconds) <= 1 / float(exact) + 1e-6
    assert abs(container_seconds - seconds) <= 1 / float(exact) + 1e-6


def test_mono_audio_matches_the_input(tmp_path: Path, media: dict[str, Path]) -> None:
    dest = tmp_path / "mono.mp4"
    render_preview(request(media["mono"], media["photo"], NTSC_FILM), dest)
    original, sample_rate = read_wav(media["mono"])
    out, out_rate = decoded_audio(dest)
    assert out_rate == sample_rate and out.shape[0] == 1
    assert abs(out.shape[1] - original.shape[1]) <= 2048  # AAC pads to whole 1024-sample frames
    lag, corr = best_lag(original[0], out[0], 1200)
    assert abs(lag) <= 2, f"audio shifted by {lag} samples"
    assert corr > 0.85  # AAC is lossy; the best match being at lag 0 is what shows sync
    n = original.shape[1]
    rms_in = float(np.sqrt(np.mean(original[0] ** 2)))
    rms_out = float(np.sqrt(np.mean(out[0, :n] ** 2)))
    assert rms_out == pytest.approx(rms_in, rel=0.1)


def test_stereo_audio_keeps_both_channels(tmp_path: Path, media: dict[str, Path]) -> None:
    dest = tmp_path / "stereo.mp4"
    render_preview(request(media["stereo"], media["photo"], 25.0), dest)
    original, sample_rate = read_wav(media["stereo"])
    out, out_rate = decoded_audio(dest)
    assert out_rate == sample_rate == 44100 and out.shape[0] == 2
    for ch in (0, 1):
        lag, corr = best_lag(original[ch], out[ch], 1200)
        assert abs(lag) <= 2 and corr > 0.85
    # left and right were not swapped or mixed: each output channel matches its own input best
    _, crossed = best_lag(original[0], out[1], 0)
    assert crossed < 0.5
    frames = sum(1 for _ in video_frames(dest))
    assert frames == round(original.shape[1] / sample_rate * 25)


def test_more_than_two_channels_are_cut_to_stereo(tmp_path: Path, media: dict[str, Path]) -> None:
    three = np.stack([tone(0.5, 48000, f, i) for i, f in enumerate((220.0, 440.0, 880.0))])
    audio = write_wav(tmp_path / "three.wav", three, 48000)
    dest = tmp_path / "three.mp4"
    render_preview(request(audio, media["photo"], 25.0), dest)
    out, _ = decoded_audio(dest)
    assert out.shape[0] == 2
    lag, corr = best_lag(three[1].astype(np.float32) / 32768, out[1], 600)
    assert abs(lag) <= 2 and corr > 0.85


def test_sample_rate_aac_cannot_take_is_resampled(tmp_path: Path, media: dict[str, Path]) -> None:
    odd = 44000  # not an AAC rate: the encoder refuses it as is
    audio = write_wav(tmp_path / "odd.wav", tone(0.8, odd, 440, 4)[None, :], odd)
    dest = tmp_path / "odd.mp4"
    render_preview(request(audio, media["photo"], 25.0), dest)
    out, out_rate = decoded_audio(dest)
    assert out_rate == 48000
    assert out.shape[1] == pytest.approx(0.8 * 48000, abs=2048)
    assert sum(1 for _ in video_frames(dest)) == 20
    original, _ = read_wav(audio)
    expected = np.interp(np.arange(round(0.8 * 48000)) * odd / 48000, np.arange(original.shape[1]), original[0])
    lag, corr = best_lag(expected.astype(np.float32), out[0], 600)
    assert abs(lag) <= 2 and corr > 0.85


def test_unsigned_8_bit_audio_is_centred(tmp_path: Path, media: dict[str, Path]) -> None:
    t = np.arange(24000) / 48000
    samples = (128 + 100 * np.sin(2 * np.pi * 440 * t)).astype(np.uint8)[None, :]
    audio = tmp_path / "u8.wav"
    with wave.open(str(audio), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(1)
        wav.setframerate(48000)
        wav.writeframes(samples.tobytes())
    dest = tmp_path / "u8.mp4"
    render_preview(request(audio, media["photo"], 25.0), dest)
    out, _ = decoded_audio(dest)
    assert abs(float(out.mean())) < 0.02  # no DC offset
    assert float(np.abs(out).max()) == pytest.approx(100 / 128, abs=0.1)


def test_pictures_show_photo_title_and_a_growing_bar(tmp_path: Path, media: dict[str, Path]) -> None:
    dest = tmp_path / "pic.mp4"
    render_preview(request(media["mono"], media["photo"], 25.0, title="Verse"), dest)
    frames = list(video_frames(dest))
    first, last = frames[0].astype(int), frames[-1].astype(int)
    assert np.abs(first[150, 320] - (200, 30, 40)).max() < 30  # the red photo, centred at the top
    assert np.abs(first[150, 10] - (24, 24, 24)).max() < 20  # letterbox background beside it
    title_band = first[312:333, 12:120]
    assert (title_band.min(axis=2) > 200).sum() > 50  # white title text
    bar_first = (first[-3, :, 1] > 150) & (first[-3, :, 0] < 80)
    bar_last = (last[-3, :, 1] > 150) & (last[-3, :, 0] < 80)
    assert bar_first.sum() < 40 < 600 < bar_last.sum()


def test_preview_size_can_be_chosen(tmp_path: Path, media: dict[str, Path]) -> None:
    dest = tmp_path / "small.mp4"
    render_preview(request(media["stereo"], media["photo"], 25.0), dest, width=320, height=240)
    with av.open(str(dest)) as container:
        ctx = container.streams.video[0].codec_context
        assert (ctx.width, ctx.height) == (320, 240)


# ------------------------------------------------------------------------------------ atomic writes


def test_no_temp_files_left_and_dest_replaced(tmp_path: Path, media: dict[str, Path]) -> None:
    folder = tmp_path / "media"
    folder.mkdir()
    dest = folder / "clip.mp4"
    dest.write_bytes(b"old")
    render_preview(request(media["stereo"], media["photo"], 25.0), dest)
    assert [p.name for p in folder.iterdir()] == ["clip.mp4"]
    assert dest.read_bytes()[4:8] == b"ftyp"


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_permissions_follow_the_umask(tmp_path: Path, media: dict[str, Path], umask: int) -> None:
    old = os.umask(umask)
    try:
        dest = tmp_path / "perm.mp4"
        render_preview(request(media["stereo"], media["photo"], 25.0), dest)
        assert os.umask(umask) == umask  # rendering left the process umask alone
    finally:
        os.umask(old)
    assert dest.stat().st_mode & 0o777 == 0o666 & ~umask


@pytest.mark.parametrize("content", [b"", b"RIFF\x00\x00\x00\x00WAVEjunk" + b"\x01" * 500, b"not audio at all" * 50])
def test_unreadable_audio_is_a_media_error_and_writes_nothing(
    tmp_path: Path, media: dict[str, Path], content: bytes
) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_bytes(content)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(MediaError) as info:
        render_preview(request(bad, media["photo"], 25.0), out / "clip.mp4")
    assert isinstance(info.value, InputError) and "bad.wav" in str(info.value)
    assert list(out.iterdir()) == []


def test_audio_without_samples_is_a_media_error(tmp_path: Path, media: dict[str, Path]) -> None:
    empty = write_wav(tmp_path / "empty.wav", np.zeros((1, 0), dtype=np.int16), 48000)
    with pytest.raises(MediaError, match="no samples"):
        render_preview(request(empty, media["photo"], 25.0), tmp_path / "out" / "clip.mp4")
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


def test_missing_audio_keeps_an_existing_dest(tmp_path: Path, media: dict[str, Path]) -> None:
    dest = tmp_path / "clip.mp4"
    dest.write_bytes(b"previous render")
    with pytest.raises(MediaError):
        render_preview(request(tmp_path / "gone.wav", media["photo"], 25.0), dest)
    assert dest.read_bytes() == b"previous render"
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]


def test_bad_photo_is_a_photo_error_and_writes_nothing(tmp_path: Path, media: dict[str, Path]) -> None:
    photo = tmp_path / "broken.png"
    photo.write_bytes(media["photo"].read_bytes()[:200])
    out = tmp_path / "out"
    with pytest.raises(PhotoError):
        render_preview(request(media["mono"], photo, 25.0), out / "clip.mp4")
    assert not out.exists() or list(out.iterdir()) == []


# ------------------------------------------------------------------------------------ rate_fraction


@pytest.mark.parametrize(
    ("rate", "expected"),
    [
        (24000 / 1001, Fraction(24000, 1001)), (23.976, Fraction(24000, 1001)),
        (30000 / 1001, Fraction(30000, 1001)), (29.97, Fraction(30000, 1001)),
        (60000 / 1001, Fraction(60000, 1001)), (59.94, Fraction(60000, 1001)),
        (120000 / 1001, Fraction(120000, 1001)),
        (24.0, Fraction(24)), (25.0, Fraction(25)), (30.0, Fraction(30)), (50.0, Fraction(50)),
        (60.0, Fraction(60)), (12.5, Fraction(25, 2)), (48000 / 1001, Fraction(48000, 1001)),
    ],
)
def test_rate_fraction(rate: float, expected: Fraction) -> None:
    assert rate_fraction(rate) == expected


# ------------------------------------------------------------------------------------ draw_text


def canvas(h: int, w: int) -> np.ndarray:
    return np.zeros((h, w, 3), dtype=np.uint8)


def test_draw_text_draws_the_glyph() -> None:
    c = canvas(7, 5)
    draw_text(c, "i", 0, 0, 1, (255, 0, 0))  # lower case is drawn upper case
    drawn = c[..., 0] == 255
    rows = ["01110", "00100", "00100", "00100", "00100", "00100", "01110"]
    expected = np.array([[ch == "1" for ch in row] for row in rows])
    assert np.array_equal(drawn, expected)
    assert not c[..., 1:].any()


def test_draw_text_scales_and_advances() -> None:
    c = canvas(20, 40)
    draw_text(c, "II", 1, 2, 2, (9, 9, 9))
    drawn = c[..., 0] == 9
    assert drawn.sum() == 2 * 11 * 4  # two glyphs of 11 pixels, each pixel 2x2
    assert drawn[2:16, 1:11].sum() == 44 and drawn[2:16, 13:23].sum() == 44
    assert not drawn[:2].any() and not drawn[16:].any()


def test_unknown_characters_draw_a_question_mark() -> None:
    a, b = canvas(7, 5), canvas(7, 5)
    draw_text(a, "€", 0, 0, 1, (1, 1, 1))
    draw_text(b, "?", 0, 0, 1, (1, 1, 1))
    assert a.any() and np.array_equal(a, b)


@pytest.mark.parametrize(("x", "y"), [(-7, -3), (95, 2), (2, 56), (-1000, 0), (0, 1000), (1000, 1000), (-3, 58)])
def test_draw_text_clips_at_the_edges(x: int, y: int) -> None:
    c = canvas(60, 100)
    draw_text(c, "HELLO WORLD", x, y, 2, (255, 255, 255))
    full = canvas(300, 400)
    draw_text(full, "HELLO WORLD", x + 150, y + 120, 2, (255, 255, 255))
    # what lands on the small canvas is exactly the matching window of an unclipped drawing
    assert np.array_equal(c, full[120:180, 150:250])


def test_draw_text_off_canvas_draws_nothing() -> None:
    c = canvas(30, 30)
    draw_text(c, "ABC", 31, 0, 1, (255, 255, 255))
    draw_text(c, "ABC", 0, -8, 1, (255, 255, 255))
    draw_text(c, "", 0, 0, 1, (255, 255, 255))
    assert not c.any()
