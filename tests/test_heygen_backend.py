"""HeyGenBackend through the Backend protocol against FakeHeyGen (real httpx, real local server)."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from otio_heygen.backends.heygen.assets import AssetCache, account_fingerprint, default_cache_path
from otio_heygen.backends.heygen.backend import HeyGenBackend, make_heygen_backend
from otio_heygen.backends.heygen.errors import AuthenticationError, InsufficientCreditError
from otio_heygen.backends.heygen.probe import probe_video
from otio_heygen.errors import MediaError, PhotoError
from otio_heygen.media.files import file_sha256
from otio_heygen.planning.types import RenderRequest
from otio_heygen.run.contract import Backend, idempotency_key_for
from tests.support.clock import FakeTime
from tests.support.heygen_fake import FAKE_API_KEY, FakeHeyGen, fake_heygen, write_test_png, write_test_wav


@pytest.fixture
def ft() -> FakeTime:
    return FakeTime()


@pytest.fixture
def fake(httpserver: Any, ft: FakeTime) -> FakeHeyGen:
    return FakeHeyGen(httpserver, render_seconds=0.0, clock=ft.clock)


@pytest.fixture
def media(tmp_path: Path) -> tuple[Path, Path]:
    return write_test_png(tmp_path / "face.png"), write_test_wav(tmp_path / "chorus.wav", seconds=0.6)


def make_backend(fake: FakeHeyGen, ft: FakeTime, cache: Path, key: str = FAKE_API_KEY) -> HeyGenBackend:
    return make_heygen_backend(
        key,
        fake.base_url,
        concurrency=2,
        price_per_second=0.1,
        asset_cache_path=cache,
        sleep=ft.sleep,
        clock=ft.clock,
        wall_clock=ft.clock,
        rng=random.Random(1),
    )


def request_for(image: Path, audio: Path, title: str = "Chorus 1", **kw: Any) -> RenderRequest:
    values: dict[str, Any] = dict(
        job_key="ab" * 32,
        title=title,
        image_path=image,
        audio_path=audio,
        seconds=0.6,
        rate=25.0,
        motion_prompt="sways to the beat",
        expressiveness="high",
        resolution="1080p",
        aspect_ratio="16:9",
        fit="cover",
    )
    values.update(kw)
    return RenderRequest(**values)


def test_happy_path_through_protocol(fake: FakeHeyGen, ft: FakeTime, media: tuple[Path, Path], tmp_path: Path) -> None:
    backend: Backend = make_backend(fake, ft, tmp_path / "assets.sqlite3")
    image, audio = media
    req = request_for(image, audio)
    image_id = backend.upload(image, "image")
    audio_id = backend.upload(audio, "audio")
    video_id = backend.create(req, image_id, audio_id, idempotency_key_for(req.job_key))
    status = backend.status(video_id)
    assert status.state == "completed" and status.video_url and status.duration == pytest.approx(0.6, abs=0.05)
    dest = tmp_path / "out" / "03_Chorus_1_take1.mp4"
    backend.download(video_id, req, dest)
    assert dest.stat().st_size == len(fake._mp4(fake.videos[video_id]))
    assert [p.name for p in dest.parent.iterdir()] == [dest.name]  # no temp file left
    assert isinstance(backend, HeyGenBackend)
    probe = backend.probes[video_id]
    assert probe.fps == 25 and probe.has_audio and probe.duration_s == pytest.approx(0.6, abs=0.05)
    body = fake.videos[video_id].body
    assert body == {
        "type": "image",
        "image": {"type": "asset_id", "asset_id": image_id},
        "audio_asset_id": audio_id,
        "title": "Chorus 1",
        "resolution": "1080p",
        "aspect_ratio": "16:9",
        "fit": "cover",
        "motion_prompt": "sways to the beat",
        "expressiveness": "high",
    }
    assert (fake.uploads, fake.creates, fake.rejected, fake.downloads_with_key) == (2, 1, [], 0)
    assert backend.name == "heygen" and backend.price_per_second == 0.1


def test_motion_prompt_none_is_omitted(
    fake: FakeHeyGen, ft: FakeTime, media: tuple[Path, Path], tmp_path: Path
) -> None:
    backend = make_backend(fake, ft, tmp_path / "assets.sqlite3")
    image, audio = media
    req = request_for(image, audio, motion_prompt=None, expressiveness="low")
    vid = backend.create(req, backend.upload(image, "image"), backend.upload(audio, "audio"), "otioheygen:k1")
    assert "motion_prompt" not in fake.videos[vid].body and fake.rejected == []


def test_status_maps_running_failed_and_unknown(
    httpserver: Any, ft: FakeTime, media: tuple[Path, Path], tmp_path: Path
) -> None:
    fake = FakeHeyGen(httpserver, render_seconds=100.0, clock=ft.clock)
    backend = make_backend(fake, ft, tmp_path / "c.sqlite3")
    image, audio = media
    a, b = backend.upload(image, "image"), backend.upload(audio, "audio")
    fake.fail_render("face_not_detected", "No face was detected in the image.", title="Bridge")
    ok = backend.create(request_for(image, audio), a, b, "otioheygen:ok")
    bad = backend.create(request_for(image, audio, title="Bridge"), a, b, "otioheygen:bad")
    seen = []
    for _ in range(4):
        seen.append(backend.status(ok).raw_status)
        ft.now += 34
    assert seen == ["pending", "waiting", "processing", "completed"]
    assert backend.status(ok).state == "completed"
    failed = backend.status(bad)
    assert (failed.state, failed.failure_code) == ("failed", "face_not_detected")
    assert failed.failure_message == "No face was detected in the image."
    ft.now -= 1000
    assert backend.status(ok).state == "rendering"


def test_same_file_uploaded_once_even_across_instances(
    fake: FakeHeyGen, ft: FakeTime, media: tuple[Path, Path], tmp_path: Path
) -> None:
    image, _audio = media
    cache = tmp_path / "cache" / "assets.sqlite3"
    first = make_backend(fake, ft, cache)
    ids = {first.upload(image, "image") for _ in range(3)}
    copy = tmp_path / "copy_of_face.png"
    copy.write_bytes(image.read_bytes())
    ids.add(first.upload(copy, "image"))
    second = make_backend(fake, ft, cache)
    ids.add(second.upload(image, "image"))
    assert len(ids) == 1 and fake.upload_requests == 1 and fake.uploads == 1
    other_account = make_backend(fake, ft, cache, key=FAKE_API_KEY + "x")
    with pytest.raises(AuthenticationError):
        other_account.upload(image, "image")  # a different account does not reuse the id
    assert FAKE_API_KEY not in cache.read_bytes().decode("latin-1")


def test_stale_cached_asset_is_uploaded_again(
    httpserver: Any, ft: FakeTime, media: tuple[Path, Path], tmp_path: Path
) -> None:
    image, audio = media
    cache = tmp_path / "assets.sqlite3"
    fake = FakeHeyGen(httpserver, clock=ft.clock)
    backend = make_backend(fake, ft, cache)
    a, b = backend.upload(image, "image"), backend.upload(audio, "audio")
    fake.assets.clear()  # the server forgot them (retention, account reset...)
    fresh = make_backend(fake, ft, cache)
    a2, b2 = fresh.upload(image, "image"), fresh.upload(audio, "audio")
    assert (a2, b2) == (a, b)  # from the cache
    vid = fresh.create(request_for(image, audio), a2, b2, "otioheygen:stale")
    assert fake.videos[vid].body["image"]["asset_id"] != a
    assert fake.uploads == 4 and fake.creates == 1
    assert make_backend(fake, ft, cache).upload(image, "image") == fake.videos[vid].body["image"]["asset_id"]


def test_oversize_and_wrong_type_refused_before_sending(
    fake: FakeHeyGen, ft: FakeTime, tmp_path: Path, media: tuple[Path, Path]
) -> None:
    backend = make_backend(fake, ft, tmp_path / "c.sqlite3")
    image, _audio = media
    big = tmp_path / "big.png"
    with big.open("wb") as fh:
        fh.write(image.read_bytes())
        fh.truncate(32 * 1024 * 1024 + 1)
    with pytest.raises(PhotoError, match="32 MB"):
        backend.upload(big, "image")
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    with pytest.raises(PhotoError, match="PNG or JPEG") as info:
        backend.upload(text, "image")
    assert info.value.exit_code == 2
    with pytest.raises(MediaError, match="WAV or MP3"):
        backend.upload(image, "audio")  # a photo is not audio
    with pytest.raises(PhotoError):
        backend.upload(tmp_path / "missing.png", "image")
    assert fake.upload_requests == 0


def test_401_and_402_stop_with_clear_message(
    fake: FakeHeyGen, ft: FakeTime, media: tuple[Path, Path], tmp_path: Path
) -> None:
    image, audio = media
    backend = make_backend(fake, ft, tmp_path / "c.sqlite3")
    a, b = backend.upload(image, "image"), backend.upload(audio, "audio")
    fake.inject("create", 402)
    with pytest.raises(InsufficientCreditError) as credit:
        backend.create(request_for(image, audio), a, b, "otioheygen:k402")
    assert str(credit.value) == "Out of HeyGen credit - top up; finished clips are kept"
    assert fake.create_requests == 1 and fake.creates == 0
    bad = make_backend(fake, ft, tmp_path / "c.sqlite3", key="wrong-key-123")
    with pytest.raises(AuthenticationError) as auth:
        bad.create(request_for(image, audio), a, b, "otioheygen:k401")
    assert str(auth.value) == "HeyGen rejected the API key - check HEYGEN_API_KEY"
    assert fake.rejected == [("POST", "/v3/videos", 401, None)] and ft.sleeps == []
    for err in (credit.value, auth.value):
        assert FAKE_API_KEY not in repr(err) and FAKE_API_KEY not in str(err)
    assert FAKE_API_KEY not in repr(backend) and FAKE_API_KEY not in repr(backend.client)


def test_account_balance(fake: FakeHeyGen, ft: FakeTime, tmp_path: Path) -> None:
    fake.balance = 12.25
    info = make_backend(fake, ft, tmp_path / "c.sqlite3").account()
    assert (info.balance, info.currency) == (12.25, "USD")


def test_idempotency_key_for() -> None:
    key = idempotency_key_for("f" * 64)
    assert key == "otioheygen:" + "f" * 64
    assert idempotency_key_for("0" * 60 + "1") != idempotency_key_for("0" * 60 + "2")
    assert idempotency_key_for("é" * 3 + "x" * 300) == "otioheygen:" + "x" * 200
    assert idempotency_key_for("f" * 64, attempt=2) == key + ":a2"
    assert idempotency_key_for("a b/c") == "otioheygen:abc"


def test_invalid_idempotency_key_refused(
    fake: FakeHeyGen, ft: FakeTime, media: tuple[Path, Path], tmp_path: Path
) -> None:
    backend = make_backend(fake, ft, tmp_path / "c.sqlite3")
    image, audio = media
    for bad in ("", "has space", "x" * 256, "semi;colon"):
        with pytest.raises(ValueError):
            backend.create(request_for(image, audio), "a", "b", bad)
    assert fake.create_requests == 0


@pytest.fixture
def threaded_server() -> Iterator[HTTPServer]:
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    yield server
    server.clear()
    server.stop()


def test_concurrent_jobs_on_threaded_server(threaded_server: HTTPServer, ft: FakeTime, tmp_path: Path) -> None:
    fake = FakeHeyGen(threaded_server, clock=ft.clock)
    backend = make_backend(fake, ft, tmp_path / "assets.sqlite3")
    photo = write_test_png(tmp_path / "face.png")
    songs = [write_test_wav(tmp_path / f"s{i}.wav", seconds=0.2 + 0.04 * i, freq=300 + 50 * i) for i in range(6)]

    def job(i: int) -> Path:
        req = request_for(photo, songs[i], title=f"Section {i}", job_key=hashlib.sha256(b"%d" % i).hexdigest())
        vid = backend.create(
            req, backend.upload(photo, "image"), backend.upload(songs[i], "audio"), idempotency_key_for(req.job_key)
        )
        assert backend.status(vid).state == "completed"
        dest = tmp_path / "media" / f"{i:02d}.mp4"
        backend.download(vid, req, dest)
        return dest

    with ThreadPoolExecutor(max_workers=6) as pool:
        outputs = list(pool.map(job, range(6)))
    assert fake.uploads == fake.upload_requests == 7 and fake.creates == 6 and fake.rejected == []
    assert sorted(fake.creates_by_key.values()) == [1] * 6 and fake.key_body_mismatches == 0
    for i, dest in enumerate(outputs):
        assert probe_video(dest).duration_s == pytest.approx(0.2 + 0.04 * i, abs=0.045)


def test_asset_cache_scopes_and_forget(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "assets.sqlite3"
    cache = AssetCache(path)
    fp = account_fingerprint(FAKE_API_KEY)
    assert len(fp) == 16 and fp != account_fingerprint(FAKE_API_KEY + "2") and FAKE_API_KEY not in fp
    cache.put("http://a", fp, "d1", "image", "a_1")
    cache.put("http://a", fp, "d1", "image", "a_2")  # a newer upload replaces the old id
    assert cache.get("http://a", fp, "d1") == "a_2"
    assert cache.get("http://b", fp, "d1") is None  # another server
    assert cache.get("http://a", "other", "d1") is None  # another account
    assert AssetCache(path).get("http://a", fp, "d1") == "a_2"  # survives a new instance
    assert cache.forget("http://a", fp, "a_2") == 1 and cache.get("http://a", fp, "d1") is None
    assert "otio-heygen" in str(default_cache_path())


def test_file_sha256_matches_hashlib(tmp_path: Path) -> None:
    data = bytes(range(256)) * 5000
    (tmp_path / "f.bin").write_bytes(data)
    assert file_sha256(tmp_path / "f.bin") == hashlib.sha256(data).hexdigest()


def test_importable_fixture_serves_real_clips(fake_heygen: FakeHeyGen, tmp_path: Path) -> None:
    backend = make_heygen_backend(
        FAKE_API_KEY, fake_heygen.base_url, concurrency=1, asset_cache_path=tmp_path / "c.sqlite3"
    )
    image, audio = write_test_png(tmp_path / "p.png"), write_test_wav(tmp_path / "a.wav", seconds=1.2)
    req = request_for(image, audio, seconds=1.2)
    vid = backend.create(req, backend.upload(image, "image"), backend.upload(audio, "audio"), "otioheygen:fx")
    backend.download(vid, req, tmp_path / "clip.mp4")
    assert backend.probes[vid].duration_s == pytest.approx(1.2, abs=0.045)
    backend.close()


_ = fake_heygen  # imported as a fixture
