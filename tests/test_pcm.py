"""Tests for otio_heygen.media.pcm and the block-by-block paths of ``SongAudio``: the song is decoded
to an unnamed temp file, and hashing, level and upload encoding read it a block at a time with the same
results (the same job keys) as one whole-slice array.

Block sizes are shrunk to a few hundred samples so every slice crosses many block boundaries.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
import wave
from pathlib import Path

import numpy as np
import pytest

from otio_heygen.media import audio, probe
from otio_heygen.media.audio import SongAudio
from otio_heygen.media.pcm import PcmStore
from otio_heygen.media.song import SongClip, SongLayout
from otio_heygen.media.workers import run_media


def write_wav(path: Path, samples: np.ndarray, sample_rate: int) -> Path:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(samples.shape[0])
        wav.setsampwidth(2)
        wav.setframerate(sample_rate)
        wav.writeframes(np.ascontiguousarray(samples.T).tobytes())
    return path


def read_wav(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as wav:
        data = np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16)
        return data.reshape(-1, wav.getnchannels()).T


def noise(n: int, channels: int = 2, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(-20000, 20000, size=(channels, n)).astype(np.int16)


@pytest.fixture()
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(audio, "BLOCK_SAMPLES", 777)
    return 777


@pytest.fixture()
def two_clips(tmp_path: Path) -> tuple[SongAudio, np.ndarray, np.ndarray]:
    """Frames 0-50 from a.wav (from its 1 s point), a 10-frame gap, 60-100 from b.wav; 25 fps, 48 kHz."""
    a, b = noise(4 * 48000, seed=2), noise(2 * 48000, seed=3)
    layout = SongLayout(
        (SongClip(write_wav(tmp_path / "a.wav", a, 48000), 0, 50, 1.0),
         SongClip(write_wav(tmp_path / "b.wav", b, 48000), 60, 40, 0.0)),
        25.0, 100, None,
    )
    return SongAudio(layout), a, b


def expected_song(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The 100-frame song built independently: 1920 samples per frame."""
    song = np.zeros((2, 100 * 1920), dtype=np.int16)
    song[:, : 50 * 1920] = a[:, 48000 : 48000 + 50 * 1920]
    song[:, 60 * 1920 :] = b[:, : 40 * 1920]
    return song


def test_store_reads_back_what_was_written_in_any_range() -> None:
    samples = noise(10_000)
    store = PcmStore(2, [samples[:, :3000], samples[:, 3000:3001], samples[:, 3001:]])
    assert store.frames == 10_000
    assert np.array_equal(store.read(0, 10_000), samples)
    assert np.array_equal(store.read(2999, 5), samples[:, 2999:3004])
    assert store.read(500, 0).shape == (2, 0)
    with pytest.raises(IndexError):
        store.read(9_999, 2)
    with pytest.raises(IndexError):
        store.read(-1, 2)
    store.close()


def test_store_refuses_blocks_of_the_wrong_channel_count() -> None:
    with pytest.raises(ValueError, match="channels"):
        PcmStore(2, [noise(10, channels=1)])


def test_store_reads_are_consistent_across_threads() -> None:
    samples = noise(50_000)
    store = PcmStore(2, [samples])
    wrong: list[int] = []

    def reader(seed: int) -> None:
        rng = np.random.default_rng(seed)
        for _ in range(200):
            start = int(rng.integers(0, 49_000))
            if not np.array_equal(store.read(start, 1000), samples[:, start : start + 1000]):
                wrong.append(start)

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wrong == []


def test_decoded_song_leaves_no_file_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    path = write_wav(tmp_path / "s.wav", noise(48000), 48000)
    with SongAudio(SongLayout((SongClip(path, 0, 25, 0.0),), 25.0, 25, None)) as song:
        assert song.cut(0, 25).shape == (2, 48000)
        if os.name == "posix":
            assert list(scratch.iterdir()) == []  # unnamed while open: a killed run leaves nothing
    assert list(scratch.iterdir()) == []


def test_cut_over_clips_and_gap_matches_an_independent_song(
    two_clips: tuple[SongAudio, np.ndarray, np.ndarray], small_blocks: int
) -> None:
    song, a, b = two_clips
    whole = expected_song(a, b)
    assert np.array_equal(song.cut(0, 100), whole)
    blocks = list(song.blocks(3, 97))
    assert all(block.shape[1] <= small_blocks for block in blocks) and len(blocks) > 100
    assert np.array_equal(np.concatenate(blocks, axis=1), whole[:, 3 * 1920 : 97 * 1920])


@pytest.mark.parametrize(("start", "end"), [(0, 100), (45, 65), (-12, 12), (95, 112), (50, 60), (7, 8)])
def test_digest_block_by_block_is_the_hash_of_the_whole_slice(
    two_clips: tuple[SongAudio, np.ndarray, np.ndarray], small_blocks: int, start: int, end: int
) -> None:
    """The job key of a section must not change with how the slice is read: sha256 of the (channels, n)
    int16 slice, channel after channel, then '|rate|channels' (what every earlier journal holds)."""
    song, a, b = two_clips
    padded = np.zeros((2, 140 * 1920), dtype=np.int16)  # 20 frames of silence each side
    padded[:, 20 * 1920 : 120 * 1920] = expected_song(a, b)
    piece = padded[:, (start + 20) * 1920 : (end + 20) * 1920]
    expected = hashlib.sha256(np.ascontiguousarray(piece).tobytes() + b"|48000|2").hexdigest()
    assert song.slice_digest(start, end) == expected


def test_vocal_energy_block_by_block(tmp_path: Path, small_blocks: int) -> None:
    t = np.arange(48000) / 48000
    tone = (0.5 * 32767 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
    path = write_wav(tmp_path / "tone.wav", np.stack([tone, tone]), 48000)
    song = SongAudio(SongLayout((SongClip(path, 0, 25, 0.0),), 25.0, 50, None))
    assert song.vocal_energy(0, 25) == pytest.approx(20 * np.log10(0.5 / np.sqrt(2)), abs=0.01)
    assert song.vocal_energy(25, 50) == -120.0
    assert song.vocal_energy(10, 10) == -120.0


def test_upload_wav_written_block_by_block_is_exact(
    two_clips: tuple[SongAudio, np.ndarray, np.ndarray], small_blocks: int, tmp_path: Path
) -> None:
    song, a, b = two_clips
    out = song.write_upload(40, 70, tmp_path / "up" / "sec.wav")
    assert out == tmp_path / "up" / "sec.wav"
    assert np.array_equal(read_wav(out), expected_song(a, b)[:, 40 * 1920 : 70 * 1920])
    assert [p.name for p in out.parent.iterdir()] == ["sec.wav"]


def test_upload_over_the_limit_is_mp3_of_the_right_length(
    two_clips: tuple[SongAudio, np.ndarray, np.ndarray], small_blocks: int, tmp_path: Path
) -> None:
    song, _, _ = two_clips
    out = song.write_upload(0, 100, tmp_path / "sec.wav", max_bytes=1000)
    assert out == tmp_path / "sec.mp3"
    assert probe.probe_media(out).duration_seconds == pytest.approx(4.0, abs=0.06)


def test_media_work_runs_on_a_media_thread_and_raises_here() -> None:
    names = run_media(lambda: (threading.current_thread().name, run_media(lambda: threading.current_thread().name)))
    assert names[0].startswith("otio-heygen-media") and names[1] == names[0]  # nested work runs inline

    def boom() -> None:
        raise KeyError("from the media thread")

    with pytest.raises(KeyError, match="from the media thread"):
        run_media(boom)
