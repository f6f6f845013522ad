"""Lip-sync check: how far a rendered clip's audio is shifted against the section audio that was sent.

This module owns the offset measurement (FFT cross-correlation with numpy, no I/O in ``measure_offset``)
and ``check_clip_sync``, which decodes both files with PyAV (through ``otio_heygen.media.audio.read_audio``) and
turns the offset into frames at the timeline rate, flagged when more than one frame off.

Method: a coarse lag from the correlation of 1 ms amplitude envelopes (robust to periodic signals and
level/timbre changes), refined by the raw waveform correlation within a few milliseconds of it
(sub-sample precision by parabolic interpolation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from otio_heygen.media.audio import read_audio
from otio_heygen.media.probe import probe_media
from otio_heygen.media.workers import run_media

__all__ = [
    "ANALYSIS_RATE",
    "MIN_CONFIDENCE",
    "SyncResult",
    "check_clip_sync",
    "clip_sync_curve",
    "compensation_frames",
    "correlation_curve",
    "curve_peak",
    "measure_offset",
]

ANALYSIS_RATE = 16000
"""Both files are decoded (resampled by FFmpeg) to this rate for the check."""

MIN_CONFIDENCE = 0.2
"""Below this normalised correlation the measurement is not trusted and never flags a clip."""

_REFINE_MS = 4.0


@dataclass(frozen=True)
class SyncResult:
    offset_ms: float
    offset_frames: float
    confidence: float
    flagged: bool

    def describe(self) -> str:
        """Short text for a marker or status line, e.g. ``audio 200 ms late (5.0 frames)``."""
        if self.confidence < MIN_CONFIDENCE:
            return "sync not measurable (no matching audio)"
        if abs(self.offset_ms) < 0.5:
            return "in sync"
        word = "late" if self.offset_ms > 0 else "early"
        return f"audio {abs(self.offset_ms):.0f} ms {word} ({abs(self.offset_frames):.1f} frames)"


def _mono(samples: np.ndarray) -> np.ndarray:
    arr = np.asarray(samples, dtype=np.float64)
    if arr.ndim == 2:
        arr = arr.mean(axis=0)
    return arr - arr.mean() if arr.size else arr


def _resample(x: np.ndarray, src: int, dst: int) -> np.ndarray:
    """Band-limited resampling of a whole signal by FFT (truncating or zero-padding the spectrum)."""
    if src == dst or x.size == 0:
        return x
    n_out = max(1, round(x.size * dst / src))
    spectrum = np.fft.rfft(x)
    keep = min(spectrum.size, n_out // 2 + 1)
    out_spec = np.zeros(n_out // 2 + 1, dtype=complex)
    out_spec[:keep] = spectrum[:keep]
    return np.asarray(np.fft.irfft(out_spec, n_out) * (n_out / x.size), dtype=np.float64)


def _xcorr(clip: np.ndarray, ref: np.ndarray, max_lag: int) -> tuple[np.ndarray, np.ndarray]:
    """r[L] = sum_t clip[t] * ref[t - L] for L in [-max_lag, max_lag]; returns (lags, r)."""
    n = 1 << math.ceil(math.log2(max(2, clip.size + ref.size)))
    full = np.fft.irfft(np.fft.rfft(clip, n) * np.conj(np.fft.rfft(ref, n)), n)
    max_lag = min(max_lag, n // 2 - 1)
    lags = np.arange(-max_lag, max_lag + 1)
    return lags, full[lags % n]


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    """Dot product without BLAS: render workers check clips in parallel, and OpenBLAS's own threads
    in every one of them make ``np.dot`` some 50 times slower than this single-threaded loop."""
    return float(np.einsum("i,i->", a, b))


def _xcorr_near(clip: np.ndarray, ref: np.ndarray, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    """``_xcorr`` for the lags lo..hi only, summed directly (memory stays at the size of the inputs)."""
    lags = np.arange(lo, hi + 1)
    r = np.zeros(lags.size, dtype=np.float64)
    for i, lag in enumerate(lags):
        t0, t1 = max(0, int(lag)), min(clip.size, ref.size + int(lag))
        if t1 > t0:
            r[i] = _dot(clip[t0:t1], ref[t0 - lag : t1 - lag])
    return lags, r


def _parabolic(r: np.ndarray, i: int) -> float:
    if 0 < i < r.size - 1:
        a, b, c = r[i - 1], r[i], r[i + 1]
        denom = a - 2 * b + c
        if denom < 0:
            return float(0.5 * (a - c) / denom)
    return 0.0


def _overlap_corr(clip: np.ndarray, ref: np.ndarray, lag: int) -> float:
    """Normalised correlation of clip[t] with ref[t - lag] over their overlap."""
    if lag >= 0:
        a, b = clip[lag:], ref
    else:
        a, b = clip, ref[-lag:]
    m = min(a.size, b.size)
    if m == 0:
        return 0.0
    a, b = a[:m], b[:m]
    denom = math.sqrt(_dot(a, a) * _dot(b, b))
    return _dot(a, b) / denom if denom > 0 else 0.0


def _envelope(x: np.ndarray, block: int) -> np.ndarray:
    m = x.size // block
    env = np.abs(x[: m * block]).reshape(m, block).mean(axis=1) if m else np.zeros(0)
    return env - env.mean() if env.size else env


def measure_offset(
    reference: np.ndarray, ref_rate: int, clip: np.ndarray, clip_rate: int, *, max_lag_ms: float = 1000.0
) -> tuple[float, float]:
    """Offset of ``clip`` against ``reference`` in ms (positive = the clip's audio lags, i.e. comes later)
    and a confidence 0..1 (normalised correlation at that offset)."""
    ref = _mono(reference)
    sig = _resample(_mono(clip), clip_rate, ref_rate)
    rate = ref_rate
    if ref.size == 0 or sig.size == 0 or not np.any(ref) or not np.any(sig):
        return 0.0, 0.0
    max_lag = int(max_lag_ms / 1000 * rate)

    # coarse: 1 ms envelopes
    block = max(1, rate // 1000)
    env_ref, env_sig = _envelope(ref, block), _envelope(sig, block)
    coarse = 0
    env_conf = 0.0
    if env_ref.size > 2 and env_sig.size > 2 and np.any(env_ref) and np.any(env_sig):
        lags, r = _xcorr(env_sig, env_ref, max(1, max_lag // block))
        i = int(np.argmax(r))
        coarse = round((lags[i] + _parabolic(r, i)) * block)
        env_conf = max(0.0, _overlap_corr(env_sig, env_ref, int(lags[i])))

    # fine: raw waveform within a few ms of the coarse lag (direct sums: no FFT of the whole clip)
    window = max(2, int(_REFINE_MS / 1000 * rate))
    lags, r = _xcorr_near(sig, ref, max(-max_lag, coarse - window), min(max_lag, coarse + window))
    lag = float(coarse)
    raw_conf = 0.0
    if lags.size:
        i = int(np.argmax(r))
        raw_conf = max(0.0, _overlap_corr(sig, ref, int(lags[i])))
        if raw_conf >= MIN_CONFIDENCE:
            lag = lags[i] + _parabolic(r, i)
    confidence = min(1.0, max(raw_conf, env_conf))
    return float(lag / rate * 1000.0), float(confidence)


def check_clip_sync(clip_path: Path, sent_audio_path: Path, rate: float, *, max_lag_ms: float = 1000.0) -> SyncResult:
    """Decode the rendered clip's audio and the uploaded section audio, and measure their offset.

    Decodes and measures on a media thread (``otio_heygen.media.workers``). A clip without an audio
    stream gives an unconfident, unflagged result. Unreadable files raise
    ``otio_heygen.errors.MediaError``."""
    if not probe_media(Path(clip_path)).has_audio:
        return SyncResult(0.0, 0.0, 0.0, False)

    def measure() -> tuple[float, float]:
        clip, clip_rate = read_audio(Path(clip_path), ANALYSIS_RATE)
        sent, sent_rate = read_audio(Path(sent_audio_path), ANALYSIS_RATE)
        return measure_offset(sent, sent_rate, clip, clip_rate, max_lag_ms=max_lag_ms)

    offset_ms, confidence = run_media(measure)
    frames = offset_ms / 1000.0 * rate
    flagged = abs(frames) > 1.0 and confidence >= MIN_CONFIDENCE
    return SyncResult(float(offset_ms), float(frames), float(confidence), bool(flagged))


def compensation_frames(result: SyncResult) -> int:
    """Whole frames to add to the clip's source-range start so picture and song line up (``--fix-sync``):
    a clip whose audio lags by N frames has the matching content N frames later in the file."""
    return round(result.offset_frames) if result.flagged else 0


def correlation_curve(
    reference: np.ndarray, ref_rate: int, clip: np.ndarray, clip_rate: int, *, max_lag_ms: float = 500.0
) -> tuple[np.ndarray, np.ndarray]:
    """The curve behind ``measure_offset``'s coarse step, for plotting: lags in ms (1 ms apart, within
    +-``max_lag_ms``) and the normalised correlation (-1..1) of the two 1 ms amplitude envelopes at each.
    Its peak sits at the clip's offset (positive = the clip's audio comes later). Empty arrays when
    either signal is silent."""
    ref = _mono(reference)
    sig = _resample(_mono(clip), clip_rate, ref_rate)
    block = max(1, ref_rate // 1000)
    env_ref, env_sig = _envelope(ref, block), _envelope(sig, block)
    empty = np.zeros(0), np.zeros(0)
    if env_ref.size < 3 or env_sig.size < 3 or not np.any(env_ref) or not np.any(env_sig):
        return empty
    lags, r = _xcorr(env_sig, env_ref, max(1, int(max_lag_ms / 1000 * ref_rate) // block))
    norm = math.sqrt(float(np.dot(env_sig, env_sig)) * float(np.dot(env_ref, env_ref)))
    if norm <= 0:
        return empty
    lag_ms = lags * (block / ref_rate * 1000.0)
    return np.asarray(lag_ms, dtype=np.float64), np.clip(np.asarray(r / norm, dtype=np.float64), -1.0, 1.0)


def clip_sync_curve(
    clip_path: Path, sent_audio_path: Path, *, max_lag_ms: float = 500.0
) -> tuple[np.ndarray, np.ndarray]:
    """``correlation_curve`` of a rendered clip against the audio that was sent (decoded with PyAV).
    Empty arrays for a clip without audio; unreadable files raise ``otio_heygen.errors.MediaError``."""
    if not probe_media(Path(clip_path)).has_audio:
        return np.zeros(0), np.zeros(0)
    clip, clip_rate = read_audio(Path(clip_path), ANALYSIS_RATE)
    sent, sent_rate = read_audio(Path(sent_audio_path), ANALYSIS_RATE)
    return correlation_curve(sent, sent_rate, clip, clip_rate, max_lag_ms=max_lag_ms)


def curve_peak(lags_ms: np.ndarray, values: np.ndarray) -> tuple[float, float]:
    """The offset (ms, sub-millisecond by parabolic interpolation) and height of a ``correlation_curve``'s
    peak: the envelope-level estimate of ``measure_offset`` without its waveform refinement (which moves
    it by at most a few ms). ``(0.0, 0.0)`` for an empty curve."""
    if lags_ms.size == 0:
        return 0.0, 0.0
    i = int(np.argmax(values))
    step = float(lags_ms[1] - lags_ms[0]) if lags_ms.size > 1 else 1.0
    return float(lags_ms[i] + _parabolic(values, i) * step), float(max(0.0, values[i]))
