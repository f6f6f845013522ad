"""The grade-media encoder and the placing step, on real files decoded with PyAV."""

from __future__ import annotations

import io
import math
import wave
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from otio_heygen.errors import MediaError
from otio_heygen.media.grade import place_clips
from otio_heygen.media.transcode import TranscodeSpec, check_frame_size, record_timecode, transcode
from otio_heygen.planning.types import ClipResult
from tests.support.builders import make_job, make_section
from tests.support.heygen_fake import make_test_mp4

NTSC = 24000 / 1001


def _levels(path: Path) -> list[float]:
    with av.open(str(path)) as container:
        return [float(f.to_ndarray(format="gray").mean()) for f in container.decode(video=0)]


@pytest.mark.parametrize(("rate", "frames"), [(NTSC, 40), (30000 / 1001, 50), (50.0, 90), (24.0, 30)])
def test_frame_n_is_the_source_picture_nearest_its_time(tmp_path: Path, rate: float, frames: int) -> None:
    master = tmp_path / "m.mp4"
    master.write_bytes(make_test_mp4(2.0))  # 25 fps, frame i painted with level 7i % 256
    out = tmp_path / "o.mov"
    info = transcode(master, out, TranscodeSpec("prores", rate, frames, None, record_timecode(0, rate), "A"))
    assert info.frames == frames and info.held_frames == 0
    # nearest source frame; on a tie the one on screen at that time (the earlier)
    exact = Fraction(rate).limit_denominator(1001)
    want = [(math.ceil(n * 25 / exact - Fraction(1, 2)) * 7) % 256 for n in range(frames)]
    assert np.max(np.abs(np.array(_levels(out)) - np.array(want))) < 4


def test_a_short_render_holds_its_last_picture_and_audio_is_padded(tmp_path: Path) -> None:
    master = tmp_path / "m.mp4"
    master.write_bytes(make_test_mp4(1.0))
    out = tmp_path / "o.mov"
    info = transcode(master, out, TranscodeSpec("prores", 25.0, 40, (96, 64), "10:00:00:00", "Short"))
    assert info.held_frames == 15 and info.size == (96, 64)  # 25 pictures, then the last one held
    levels = _levels(out)
    assert len(levels) == 40 and levels[-1] == pytest.approx(levels[24], abs=1) and levels[24] > levels[23] + 3
    with av.open(str(out)) as container:
        audio = container.streams.audio[0]
        assert audio.codec_context.name == "pcm_s24le" and audio.duration == 40 * 48000 // 25
        assert container.streams.video[0].metadata["timecode"] == "10:00:00:00"


def test_drop_frame_timecode_and_exact_rate() -> None:
    assert record_timecode(107892, 30000 / 1001) == "01:00:00;00"
    assert record_timecode(86400, 23.976) == "01:00:00:00"


def test_dnxhr_refuses_frames_smaller_than_it_can_encode(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="at least 256x120"):
        check_frame_size("dnxhr", (200, 100))
    check_frame_size("prores", (64, 64))
    check_frame_size("dnxhr", None)


def test_a_clip_that_cannot_be_converted_is_placed_as_delivered(tmp_path: Path) -> None:
    media = tmp_path / "out_media"
    master = media / "masters" / "01_Chorus_1_take1.mp4"
    master.parent.mkdir(parents=True)
    buf = io.BytesIO()
    with wave.open(buf, "wb") as wav:  # a "render" with no picture at all
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(48000)
        wav.writeframes(np.zeros(48000, dtype=np.int16).tobytes())
    master.write_bytes(buf.getvalue())
    job = make_job(make_section(start=0, end=25))
    result = ClipResult(job=job, media_path=master, media_duration_frames=25)
    events: list[dict[str, object]] = []
    placed = place_clips([result], media_format="prores", media_dir=media, rate=25.0, start_frame=0, size=None,
                         sent_audio=lambda j: master, emit=events.append)
    assert placed == [result]  # the paid render is still on the timeline
    assert any(e.get("event") == "warning" and "placed HeyGen's MP4" in str(e.get("message")) for e in events)
    assert not list(media.glob("*.mov")) and not list(media.glob(".*part"))


def test_mp4_places_the_renders_untouched(tmp_path: Path) -> None:
    result = ClipResult(job=make_job(), media_path=tmp_path / "x.mp4", media_duration_frames=10)
    placed = place_clips([result], media_format="mp4", media_dir=tmp_path, rate=25.0, start_frame=0, size=None,
                         sent_audio=lambda j: tmp_path / "a.wav", emit=lambda e: None)
    assert placed == [result]
