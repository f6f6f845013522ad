"""Real outputs for the review/choose tests: the bundled sample rendered offline (preview backend),
and a take re-rendered with its audio shifted late, with real media (PyAV), like a render that came back late."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from otio_heygen import RenderOptions
from otio_heygen import render_file as render_timeline
from otio_heygen.backends.preview import render_preview
from otio_heygen.media.audio import read_audio, write_upload_audio
from otio_heygen.output.takes import read_takes
from otio_heygen.planning.types import RenderRequest
from otio_heygen.read.timeline import read_timeline
from otio_heygen.review import sent_audio_for
from tests.conftest import SAMPLES

__all__ = ["make_late_take", "render_sample"]

NO_KEY_ENV = {"OTIO_HEYGEN_KEY_FILE": "/nonexistent/otio-heygen-key"}


def render_sample(folder: Path, *, takes: int = 2, name: str = "demo_avatar.otio") -> Path:
    """Copy the sample timelines into ``folder`` and render them with the offline preview backend."""
    src = folder / "sample"
    shutil.copytree(SAMPLES, src, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    out = folder / "out" / name
    summary = render_timeline(src / "demo_resolve.otio", out, RenderOptions(backend="preview", takes=takes),
                              env=NO_KEY_ENV)
    assert not summary.failures
    return out


def make_late_take(output: Path, section_name: str, take: int, late_ms: float = 200.0) -> Path:
    """Re-render one take's preview clip from the audio that was sent, delayed by ``late_ms`` (silence
    before, the same length): the clip's audio comes ``late_ms`` after the song. Returns its media file."""
    data = read_takes(read_timeline(output), output)
    found = next(t for s in data.sections if s.name == section_name for t in s.takes if t.take == take)
    assert found.media_path is not None
    sent = sent_audio_for(output, str(found.provenance["job_key"]))
    assert sent is not None
    samples, rate = read_audio(sent)
    shift = round(late_ms / 1000 * rate)
    late = np.concatenate([np.zeros((samples.shape[0], shift), dtype=samples.dtype), samples[:, :-shift]], axis=1)
    late_wav = write_upload_audio(late, rate, output.parent / f"late_{found.section_slug}_{take}.wav")
    sec = found.provenance["section"]
    request = RenderRequest(
        job_key=str(found.provenance["job_key"]), title=f"{section_name} late",
        image_path=Path(found.provenance["photo"]),
        audio_path=late_wav, seconds=samples.shape[1] / rate, rate=float(sec["rate"]), motion_prompt=None,
        expressiveness="medium", resolution="1080p", aspect_ratio="16:9", fit="cover",
    )
    render_preview(request, found.media_path)
    late_wav.unlink()
    return found.media_path
