"""Tests for otio_heygen.media.sync: offsets of synthetic clips shifted by known amounts, and real MP4/AAC files."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from otio_heygen.media import sync
from otio_heygen.media.audio import write_upload_audio
from otio_heygen.media.sync import SyncResult, check_clip_sync, compensation_frames, measure_offset

TOLERANCE_MS = 5.0


def bursts(seconds: float, rate: int, seed: int = 0) -> np.ndarray:
    """Noise bursts of random length and level at random places (a drum-like signal), float in -1..1."""
    rng = np.random.default_rng(seed)
    out = np.zeros(round(seconds * rate))
    t = 0.05
    while t < seconds - 0.1:
        n = int(rng.uniform(0.02, 0.08) * rate)
        i = int(t * rate)
        out[i : i + n] = rng.standard_normal(min(n, out.size - i)) * rng.uniform(0.1, 0.5)
        t += rng.uniform(0.15, 0.4)
    return out


def gated_tone(seconds: float, rate: int, seed: int = 0) -> np.ndarray:
    """A 440 Hz tone switched on and off at random times (periodic, with transients)."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * rate)) / rate
    gate = np.zeros_like(t)
    pos = 0.1
    while pos < seconds:
        length = rng.uniform(0.08, 0.3)
        gate[(t >= pos) & (t < pos + length)] = rng.uniform(0.2, 0.8)
        pos += length + rng.uniform(0.05, 0.3)
    return 0.6 * gate * np.sin(2 * np.pi * 440 * t)


def shifted(x: np.ndarray, ms: float, rate: int) -> np.ndarray:
    """x delayed by ``ms`` (positive: starts later, i.e. lags) keeping the length; fractional samples by FFT."""
    n = x.size
    spec = np.fft.rfft(x, 2 * n)
    freqs = np.fft.rfftfreq(2 * n, 1 / rate)
    y = np.fft.irfft(spec * np.exp(-2j * np.pi * freqs * ms / 1000), 2 * n)[:n]
    return np.asarray(y)


@pytest.mark.parametrize("signal", [bursts, gated_tone])
@pytest.mark.parametrize("shift_ms", [0.0, 40.0, -40.0, 200.0, -200.0, 13.3])
def test_measured_offset_matches_known_shift(signal: object, shift_ms: float) -> None:
    rate = 16000
    ref = signal(4.0, rate, seed=3)  # type: ignore[operator]
    clip = shifted(ref, shift_ms, rate)
    offset, confidence = measure_offset(ref, rate, clip, rate)
    assert offset == pytest.approx(shift_ms, abs=TOLERANCE_MS)
    assert confidence > 0.8


def test_different_rates_and_channel_counts() -> None:
    ref = bursts(3.0, 48000, seed=5)
    clip48 = shifted(ref, 40.0, 48000)
    # the clip comes back at 44.1 kHz stereo
    n = round(clip48.size * 44100 / 48000)
    clip = np.interp(np.arange(n) * 48000 / 44100, np.arange(clip48.size), clip48)
    offset, confidence = measure_offset(np.stack([ref, ref]), 48000, np.stack([clip, clip * 0.5]), 44100)
    assert offset == pytest.approx(40.0, abs=TOLERANCE_MS)
    assert confidence > 0.5


def test_section_starting_with_silence() -> None:
    rate = 16000
    ref = np.concatenate([np.zeros(rate), bursts(2.0, rate, seed=7)])  # 1 s of silence, then the vocal
    for shift_ms in (0.0, 40.0, -40.0, 500.0):
        offset, _ = measure_offset(ref, rate, shifted(ref, shift_ms, rate), rate)
        assert offset == pytest.approx(shift_ms, abs=TOLERANCE_MS), shift_ms


def test_clip_with_leading_silence_and_longer_tail() -> None:
    rate = 16000
    ref = gated_tone(3.0, rate, seed=8)
    clip = np.concatenate([np.zeros(int(0.12 * rate)), ref, np.zeros(rate)])  # starts 120 ms late, runs long
    offset, _ = measure_offset(ref, rate, clip, rate)
    assert offset == pytest.approx(120.0, abs=TOLERANCE_MS)


def test_unrelated_or_silent_audio_is_not_confident() -> None:
    rate = 16000
    rng = np.random.default_rng(1)
    _, confidence = measure_offset(rng.standard_normal(3 * rate), rate, rng.standard_normal(3 * rate), rate)
    assert confidence < sync.MIN_CONFIDENCE
    assert measure_offset(bursts(2.0, rate), rate, np.zeros(2 * rate), rate) == (0.0, 0.0)


def write_wav_float(path: Path, x: np.ndarray, rate: int) -> Path:
    return write_upload_audio(np.stack([x, x]).astype(np.float32), rate, path)


def write_clip_mp4(path: Path, x: np.ndarray, rate: int, *, audio_start_s: float = 0.0, fps: int = 25) -> Path:
    """An H.264 + AAC MP4 like a downloaded render; the audio stream may start late (audio_start_s)."""
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = 32, 32, "yuv420p"
        sound = container.add_stream("aac", rate=rate, layout="mono")
        sound.bit_rate = 128_000
        for i in range(round(x.size / rate * fps)):
            frame = av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24")
            frame.pts = i
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        pcm = x.astype(np.float32)[None, :]
        start = round(audio_start_s * rate)
        for i in range(0, x.size, 1024):
            aframe = av.AudioFrame.from_ndarray(np.ascontiguousarray(pcm[:, i : i + 1024]), format="flt", layout="mono")
            aframe.sample_rate, aframe.pts = rate, start + i
            container.mux(sound.encode(aframe))
        container.mux(sound.encode(None))
    return path


@pytest.mark.parametrize(
    ("shift_ms", "flagged"), [(0.0, False), (200.0, True), (-200.0, True), (30.0, False), (-40.0, False), (45.0, True)]
)
def test_check_clip_sync_wav(tmp_path: Path, shift_ms: float, flagged: bool) -> None:
    rate = 48000
    ref = bursts(3.0, rate, seed=11)
    sent = write_wav_float(tmp_path / "sent.wav", ref, rate)
    clip = write_wav_float(tmp_path / "clip.wav", shifted(ref, shift_ms, rate), rate)
    result = check_clip_sync(clip, sent, 25.0)
    assert result.offset_ms == pytest.approx(shift_ms, abs=TOLERANCE_MS)
    assert result.offset_frames == pytest.approx(result.offset_ms * 0.025)
    assert result.flagged is flagged  # more than one frame (40 ms at 25 fps) off
    assert compensation_frames(result) == (round(shift_ms / 40) if flagged else 0)


@pytest.mark.parametrize(("shift_ms", "audio_start_s"), [(0.0, 0.0), (120.0, 0.0), (-40.0, 0.0), (0.0, 0.1)])
def test_check_clip_sync_mp4_aac_round_trip(tmp_path: Path, shift_ms: float, audio_start_s: float) -> None:
    rate = 48000
    ref = bursts(3.0, rate, seed=12) + gated_tone(3.0, rate, seed=13) * 0.3
    sent = write_wav_float(tmp_path / "sent.wav", ref, rate)
    clip = write_clip_mp4(tmp_path / "render.mp4", shifted(ref, shift_ms, rate), rate, audio_start_s=audio_start_s)
    result = check_clip_sync(clip, sent, 24000 / 1001)
    expected = shift_ms + audio_start_s * 1000
    assert result.offset_ms == pytest.approx(expected, abs=TOLERANCE_MS)
    assert result.confidence > 0.5
    assert result.flagged is (abs(expected) / 1000 * 24000 / 1001 > 1)


def test_clip_without_audio_is_not_flagged(tmp_path: Path) -> None:
    rate = 48000
    sent = write_wav_float(tmp_path / "sent.wav", bursts(1.0, rate), rate)
    path = tmp_path / "silent.mp4"
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = 32, 32, "yuv420p"
        for i in range(25):
            frame = av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24")
            frame.pts = i
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
    assert check_clip_sync(path, sent, 25.0) == SyncResult(0.0, 0.0, 0.0, False)


def test_describe() -> None:
    assert SyncResult(200.0, 5.0, 0.9, True).describe() == "audio 200 ms late (5.0 frames)"
    assert SyncResult(-41.7, -1.0, 0.9, False).describe() == "audio 42 ms early (1.0 frames)"
    assert SyncResult(0.1, 0.0, 0.9, False).describe() == "in sync"
    assert "not measurable" in SyncResult(0.0, 0.0, 0.05, False).describe()


def test_mp3_upload_keeps_timing(tmp_path: Path) -> None:
    """A section sent as MP3 (LAME adds ~1105 samples of encoder delay) lines up with its WAV."""
    rate = 48000
    ref = bursts(3.0, rate, seed=14)
    wav = write_wav_float(tmp_path / "sec.wav", ref, rate)
    mp3 = write_upload_audio(np.stack([ref, ref]).astype(np.float32), rate, tmp_path / "big.wav", max_bytes=0)
    assert mp3.suffix == ".mp3"
    result = check_clip_sync(mp3, wav, 25.0)
    assert abs(result.offset_ms) < TOLERANCE_MS
    assert result.confidence > 0.9 and not result.flagged


@pytest.mark.parametrize(("lo", "hi"), [(-70, 70), (100, 230), (-2600, -2400), (2990, 3010)])
def test_direct_correlation_near_a_lag_equals_the_fft_one(lo: int, hi: int) -> None:
    """The fine search sums only the lags it needs (no FFT of the whole clip): same values."""
    rng = np.random.default_rng(5)
    clip, ref = rng.standard_normal(3000), rng.standard_normal(2500)
    lags, r = sync._xcorr(clip, ref, 6000)
    near_lags, near = sync._xcorr_near(clip, ref, lo, hi)
    keep = (lags >= lo) & (lags <= hi)
    assert np.array_equal(near_lags, lags[keep])
    assert np.allclose(near, r[keep], atol=1e-9)
