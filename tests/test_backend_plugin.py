"""A third-party backend, written here only against the public contract (what ``otio_heygen`` exports),
registered through the ``otio_heygen.backends`` entry point for real, renders the sample.

Nothing here imports ``otio_heygen.backends``: the backend makes its own MP4 with PyAV (a solid frame per
frame plus the section audio it was sent), as an outside lip-sync provider's package would.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from fractions import Fraction
from pathlib import Path
from typing import ClassVar

import av
import numpy as np
import opentimelineio as otio
import pytest

import otio_heygen
from otio_heygen import AssetKind, BackendSettings, RemoteStatus, RenderRequest
from tests.conftest import SAMPLES

PRICE = 0.05


class TapeBackend:
    """Renders instantly and locally; remembers every call so the test can count them."""

    name = "tape"
    instances: ClassVar[list[TapeBackend]] = []

    def __init__(self, settings: BackendSettings) -> None:
        self.settings = settings
        self.price_per_second = settings.price_per_second if settings.price_per_second is not None else PRICE
        self.uploads: list[tuple[str, AssetKind]] = []
        self.creates: dict[str, RenderRequest] = {}
        self.lock = threading.Lock()
        TapeBackend.instances.append(self)

    def upload(self, path: Path, kind: AssetKind) -> str:
        with self.lock:
            self.uploads.append((path.name, kind))
        return f"tape:{kind}:{path}"

    def create(self, request: RenderRequest, image_asset: str, audio_asset: str, idempotency_key: str) -> str:
        assert audio_asset == f"tape:audio:{request.audio_path}"
        with self.lock:
            self.creates[idempotency_key] = request
        return f"tape_{len(idempotency_key)}_{idempotency_key[-12:]}"

    def status(self, video_id: str) -> RemoteStatus:
        return RemoteStatus(state="completed", raw_status="done")

    def download(self, video_id: str, request: RenderRequest, dest: Path) -> None:
        tmp = dest.with_name(dest.name + ".part")
        _write_clip(request, tmp)
        tmp.replace(dest)


def _write_clip(request: RenderRequest, path: Path) -> None:
    with av.open(str(request.audio_path)) as source:
        stream = source.streams.audio[0]
        rate = int(stream.rate)
        pcm = np.concatenate([f.to_ndarray().reshape(-1, len(f.layout.channels)).T if not f.format.is_planar
                              else f.to_ndarray() for f in source.decode(stream)], axis=1)
    mono = (pcm[0].astype(np.float32) / (32768.0 if pcm.dtype == np.int16 else 1.0)).reshape(1, -1)
    fps = Fraction(request.rate).limit_denominator(1001)
    with av.open(str(path), mode="w", format="mp4") as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = 64, 64, "yuv420p"
        audio = out.add_stream("aac", rate=rate, layout="mono")
        for i in range(max(1, round(mono.shape[1] / rate * fps))):
            frame = av.VideoFrame.from_ndarray(np.full((64, 64, 3), 40, dtype=np.uint8), format="rgb24")
            frame.pts, frame.time_base = i, 1 / fps
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        for start in range(0, mono.shape[1], 4096):
            chunk = av.AudioFrame.from_ndarray(np.ascontiguousarray(mono[:, start:start + 4096]), format="fltp",
                                               layout="mono")
            chunk.sample_rate, chunk.pts = rate, start
            out.mux(audio.encode(chunk))
        out.mux(audio.encode(None))


def create_tape(settings: BackendSettings) -> TapeBackend:
    """The entry point: ``tape = tests.test_backend_plugin:create_tape``."""
    return TapeBackend(settings)


@pytest.fixture
def tape_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Install a distribution declaring the entry point: a ``*.dist-info`` folder on ``sys.path``."""
    site = tmp_path / "site-packages"
    dist = site / "otio_heygen_tape-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: otio-heygen-tape\nVersion: 1.0\n", encoding="utf-8")
    (dist / "entry_points.txt").write_text(
        f"[{otio_heygen.ENTRY_POINT_GROUP}]\ntape = tests.test_backend_plugin:create_tape\n", encoding="utf-8"
    )
    monkeypatch.syspath_prepend(str(site))  # also invalidates the import caches
    TapeBackend.instances.clear()


def test_without_the_distribution_the_backend_is_unknown() -> None:
    assert "tape" not in otio_heygen.list_backends()
    with pytest.raises(otio_heygen.ConfigError, match="unknown backend 'tape'"):
        otio_heygen.get_backend("tape")


def test_a_plugin_backend_renders_the_sample(tape_installed: None, tmp_path: Path) -> None:
    assert otio_heygen.list_backends() == ["heygen", "preview", "tape"]
    sample = tmp_path / "sample"
    shutil.copytree(SAMPLES, sample, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    cut = otio.adapters.read_from_file(str(sample / "demo_resolve.otio"))
    env = {"HEYGEN_API_KEY": "sk_V2_hgu_abcdefghijklmnopqrstuvwxyz0123456789"}  # HeyGen's, not tape's

    result = otio_heygen.render(cut, backend="tape", media_dir=tmp_path / "out" / "media", base_dir=sample,
                                env=env, concurrency=3)

    (tape,) = TapeBackend.instances
    assert tape.settings.api_key is None and tape.settings.concurrency == 3  # no HeyGen key handed to a plugin
    assert result.backend == "tape" and not result.failures and len(result.clips) == 6
    assert len(tape.creates) == 6 and {kind for _, kind in tape.uploads} == {"image", "audio"}
    for clip in result.clips:
        request = next(r for r in tape.creates.values() if r.job_key == clip.job_key)
        assert clip.bought and clip.cost_usd == pytest.approx(request.seconds * PRICE, abs=1e-6)
        assert clip.sync_offset_ms is not None and abs(clip.sync_offset_ms) < 1000 / 24
    assert result.spent_usd == pytest.approx(sum(c.cost_usd for c in result.clips), abs=1e-6)
    track = next(t for t in result.timeline.tracks if t.name == "Avatar IV")
    assert [round(c.range_in_parent().start_time.value) for c in track.find_clips()] == [
        c.start_frame for c in result.clips
    ]

    again = otio_heygen.render(cut, backend="tape", media_dir=tmp_path / "out" / "media", base_dir=sample)
    assert (again.rendered, again.reused, again.spent_usd) == (0, 6, 0.0)
    assert len(TapeBackend.instances[1].creates) == 0  # the journal knew every clip: nothing bought twice


def test_plugin_settings_pass_through_get_backend(tape_installed: None) -> None:
    backend = otio_heygen.get_backend("tape", price_per_second=0.5, voice="alto", api_key="tape-secret-123")
    assert isinstance(backend, TapeBackend)
    assert backend.price_per_second == 0.5 and backend.settings.options == {"voice": "alto"}
    assert backend.settings.api_key == "tape-secret-123" and "tape-secret-123" not in repr(backend.settings)


def test_rendering_with_a_plugin_loads_no_bundled_backend(tape_installed: None, tmp_path: Path) -> None:
    """In a fresh interpreter: the pipeline finds ``tape`` by entry point and never imports
    ``otio_heygen.backends`` (neither HeyGen's package nor the preview)."""
    sample = tmp_path / "sample"
    shutil.copytree(SAMPLES, sample, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    script = (
        "import sys, opentimelineio as otio, otio_heygen\n"
        "cut = otio.adapters.read_from_file(sys.argv[1])\n"
        "result = otio_heygen.render(cut, backend='tape', media_dir=sys.argv[2], base_dir=sys.argv[3])\n"
        "print(len(result.clips), result.backend, sorted(m for m in sys.modules if 'otio_heygen.backends' in m))\n"
    )
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "site-packages"), str(root)])}
    done = subprocess.run(
        [sys.executable, "-c", script, str(sample / "demo_resolve.otio"), str(tmp_path / "m"), str(sample)],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "6 tape []"
