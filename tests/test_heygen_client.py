"""HeyGenClient against FakeHeyGen: every failure HeyGen v3 can produce, with injected time."""

from __future__ import annotations

import json
import logging
import random
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from otio_heygen.backends.heygen.client import HeyGenClient
from otio_heygen.backends.heygen.errors import (
    APIConnectionError,
    AuthenticationError,
    BadRequestError,
    InsufficientCreditError,
    InternalServerError,
    InvalidVideoError,
    NotFoundError,
    PayloadTooLargeError,
    RateLimitError,
    RequestInProgressError,
    UnreachableError,
)
from otio_heygen.backends.heygen.http import CREATE_TIMEOUT, build_http_client
from otio_heygen.backends.heygen.models import (
    AccountInfo,
    CreateVideoData,
    CreateVideoRequest,
    ImageAssetRef,
    VideoData,
)
from otio_heygen.backends.heygen.retry import MAX_RETRY_DELAY, RETRY_BUDGET_S
from otio_heygen.errors import ApiError, MediaError, PhotoError
from otio_heygen.media.files import sniff_mime
from tests.support.clock import FakeTime
from tests.support.heygen_fake import FAKE_API_KEY, FakeHeyGen, http_date, write_test_png, write_test_wav

WALL = 1_795_000_000.0  # a fixed "now" for Retry-After dates


@pytest.fixture
def ft() -> FakeTime:
    return FakeTime(500.0)


@pytest.fixture
def fake(httpserver: Any, ft: FakeTime) -> FakeHeyGen:
    return FakeHeyGen(httpserver, clock=ft.clock)


def make_client(base_url: str, ft: FakeTime, key: str = FAKE_API_KEY) -> HeyGenClient:
    http = build_http_client(key, base_url, concurrency=2)
    return HeyGenClient(http, sleep=ft.sleep, clock=ft.clock, wall_clock=lambda: WALL, rng=random.Random(7))


@pytest.fixture
def client(fake: FakeHeyGen, ft: FakeTime) -> Iterator[HeyGenClient]:
    client = make_client(fake.base_url, ft)
    yield client
    client.close()


@pytest.fixture
def assets(client: HeyGenClient, tmp_path: Path) -> tuple[str, str]:
    image = client.upload_asset(write_test_png(tmp_path / "p.png"), "image")
    audio = client.upload_asset(write_test_wav(tmp_path / "a.wav", seconds=0.3), "audio")
    assert (image.mime_type, audio.mime_type) == ("image/png", "audio/wav")
    return image.asset_id, audio.asset_id


def body(assets: tuple[str, str], title: str = "Chorus 1", **kw: Any) -> CreateVideoRequest:
    values: dict[str, Any] = dict(
        image=ImageAssetRef(asset_id=assets[0]),
        audio_asset_id=assets[1],
        title=title,
        resolution="720p",
        aspect_ratio="9:16",
        fit="contain",
        motion_prompt=None,
        expressiveness="medium",
    )
    values.update(kw)
    return CreateVideoRequest(**values)


def test_happy_path_status_and_download(httpserver: Any, ft: FakeTime, tmp_path: Path) -> None:
    fake = FakeHeyGen(httpserver, render_seconds=240.0, clock=ft.clock)
    client = make_client(fake.base_url, ft)
    ids = (
        client.upload_asset(write_test_png(tmp_path / "p.png"), "image").asset_id,
        client.upload_asset(write_test_wav(tmp_path / "a.wav"), "audio").asset_id,
    )
    created = client.create_video(body(ids), idempotency_key="otioheygen:happy")
    assert created.status == "waiting"  # undocumented status, tolerated
    assert client.get_video(created.video_id).status == "pending"
    ft.now += 130.0
    assert [(i.video_id, i.status) for i in client.get_statuses([created.video_id])] == [
        (created.video_id, "processing")
    ]
    ft.now += 110.0
    assert client.get_statuses([created.video_id])[0].status == "completed"
    video = client.get_video(created.video_id)
    assert video.status == "completed" and video.video_url and ft.sleeps == []
    probe = client.download_video(created.video_id, tmp_path / "clip.mp4", video=video)
    assert probe.fps == 25.0 and probe.has_audio and (probe.width, probe.height) == (64, 64)
    assert fake.downloads_with_key == 0 and fake.rejected == [] and fake.creates == 1


def test_429_retry_after_seconds(client: HeyGenClient, fake: FakeHeyGen, ft: FakeTime, assets: tuple[str, str]) -> None:
    fake.inject("create", 429, retry_after="7")
    created = client.create_video(body(assets), idempotency_key="otioheygen:r429")
    assert ft.sleeps == [7.0]
    assert fake.create_requests_by_key["otioheygen:r429"] == 2 and fake.creates == 1
    assert created.video_id in fake.videos


def test_429_retry_after_http_date(client: HeyGenClient, fake: FakeHeyGen, ft: FakeTime) -> None:
    fake.inject("status", 429, retry_after=http_date(WALL + 12))
    fake.inject("account", 429, retry_after=http_date(WALL - 30))  # a date in the past: retry now
    with pytest.raises(ApiError):
        client.get_video("v_missing")  # after the 429, a real 404
    assert client.get_account().balance == 42.5
    assert ft.sleeps == [12.0, 0.0]


def test_429_exhausted_raises_rate_limit_with_retry_after(client: HeyGenClient, fake: FakeHeyGen, ft: FakeTime) -> None:
    fake.inject("account", 429, retry_after="3", times=100)
    with pytest.raises(RateLimitError) as info:
        client.get_account()
    assert info.value.retry_after == 3.0 and info.value.status_code == 429
    # retried for as long as the time budget allows: 20 waits of 3 s fill the 60 s
    assert ft.sleeps == [3.0] * int(RETRY_BUDGET_S / 3.0) and fake.counts["account"] == len(ft.sleeps) + 1


def test_retry_after_longer_than_the_budget_is_left_to_the_caller(
    client: HeyGenClient, fake: FakeHeyGen, ft: FakeTime
) -> None:
    fake.inject("account", 429, retry_after=str(RETRY_BUDGET_S + 30))
    with pytest.raises(RateLimitError) as info:
        client.get_account()
    assert info.value.retry_after == RETRY_BUDGET_S + 30 and ft.sleeps == []


def test_a_burst_of_transient_faults_is_ridden_out(client: HeyGenClient, fake: FakeHeyGen, ft: FakeTime) -> None:
    """More faults in a row than the old retry count allowed: the time budget gets through them."""
    for kind in (500, "drop", 503, 429, "drop", 502, 500):
        fake.inject("account", kind, retry_after="1" if kind == 429 else None)
    assert client.get_account().balance == 42.5
    assert len(ft.sleeps) == 7 and sum(ft.sleeps) < RETRY_BUDGET_S


def test_500_on_get_retried_with_backoff(client: HeyGenClient, fake: FakeHeyGen, ft: FakeTime) -> None:
    fake.inject("account", 500, times=2)
    fake.inject("account", "drop")
    assert client.get_account().currency == "USD"
    assert len(ft.sleeps) == 3
    assert all(0 < s <= MAX_RETRY_DELAY for s in ft.sleeps) and ft.sleeps[2] > ft.sleeps[0]


def test_500_on_get_gives_up_when_the_time_budget_is_spent(
    client: HeyGenClient, fake: FakeHeyGen, ft: FakeTime
) -> None:
    fake.inject("status", 503, times=100)
    with pytest.raises(InternalServerError, match="server error"):
        client.get_video("v_x")
    assert fake.status_requests == len(ft.sleeps) + 1
    assert RETRY_BUDGET_S - MAX_RETRY_DELAY < sum(ft.sleeps) <= RETRY_BUDGET_S
    assert max(ft.sleeps) <= MAX_RETRY_DELAY


@pytest.mark.parametrize("fault", [500, "drop"])
def test_create_failure_after_processing_retried_with_same_key(
    client: HeyGenClient, fake: FakeHeyGen, ft: FakeTime, assets: tuple[str, str], fault: int | str
) -> None:
    fake.inject("create", fault, after_processing=True)
    created = client.create_video(body(assets), idempotency_key="otioheygen:same")
    assert fake.create_requests == 2 and fake.create_requests_by_key == {"otioheygen:same": 2}
    assert fake.creates == 1 and list(fake.videos) == [created.video_id]
    assert fake.key_body_mismatches == 0 and len(ft.sleeps) == 1


def test_409_in_progress_waits_and_retries_same_key(
    client: HeyGenClient, fake: FakeHeyGen, ft: FakeTime, assets: tuple[str, str]
) -> None:
    fake.inject("create", 409, times=3)
    client.create_video(body(assets), idempotency_key="otioheygen:k409")
    assert fake.create_requests_by_key["otioheygen:k409"] == 4 and fake.creates == 1
    assert len(ft.sleeps) == 3


def test_409_without_end_raises(client: HeyGenClient, fake: FakeHeyGen, assets: tuple[str, str]) -> None:
    fake.inject("create", 409, times=50)
    with pytest.raises(RequestInProgressError):
        client.create_video(body(assets), idempotency_key="otioheygen:stuck409")
    assert fake.creates == 0


def test_401_and_402_are_not_retried(
    client: HeyGenClient, fake: FakeHeyGen, ft: FakeTime, assets: tuple[str, str]
) -> None:
    fake.inject("create", 402)
    with pytest.raises(InsufficientCreditError, match="Out of HeyGen credit - top up; finished clips are kept"):
        client.create_video(body(assets), idempotency_key="otioheygen:k1")
    fake.inject("status", 401)
    with pytest.raises(AuthenticationError, match="check HEYGEN_API_KEY"):
        client.get_video("v_1")
    assert ft.sleeps == [] and fake.create_requests == 1 and fake.status_requests == 1


def test_400_shows_server_message_and_field(
    client: HeyGenClient, fake: FakeHeyGen, ft: FakeTime, assets: tuple[str, str]
) -> None:
    fake.inject("create", 400, message="expressiveness must be one of high, medium, low", param="expressiveness")
    with pytest.raises(BadRequestError) as info:
        client.create_video(body(assets), idempotency_key="otioheygen:k400")
    text = str(info.value)
    assert "expressiveness must be one of high, medium, low" in text and "(field: expressiveness)" in text
    assert "creating 'Chorus 1'" in text and info.value.param == "expressiveness"
    # a real validation error from the strict server: the image asset does not exist
    with pytest.raises(BadRequestError, match=r"Image asset not found \(field: image.asset_id\)"):
        client.create_video(body(("a_nope", assets[1])), idempotency_key="otioheygen:k400b")
    assert fake.creates == 0 and ft.sleeps == []


def test_failed_and_stuck_renders_in_single_and_bulk_status(httpserver: Any, ft: FakeTime, tmp_path: Path) -> None:
    fake = FakeHeyGen(httpserver, render_seconds=60.0, clock=ft.clock)
    client = make_client(fake.base_url, ft)
    ids = (
        client.upload_asset(write_test_png(tmp_path / "p.png"), "image").asset_id,
        client.upload_asset(write_test_wav(tmp_path / "a.wav"), "audio").asset_id,
    )
    fake.fail_render("face_not_detected", "No face was detected in the image.")
    failed = client.create_video(body(ids, title="Bridge"), idempotency_key="otioheygen:f").video_id
    fake.stick_pending()
    stuck = client.create_video(body(ids, title="Verse 2"), idempotency_key="otioheygen:s").video_id
    ft.now += 61.0
    video = client.get_video(failed)
    assert (video.status, video.failure_code, video.failure_message) == (
        "failed", "face_not_detected", "No face was detected in the image."
    )
    items = {i.video_id: i for i in client.get_statuses([failed, stuck, "v_nobody"])}
    assert {k: v.status for k, v in items.items()} == {failed: "failed", stuck: "queued", "v_nobody": "not_found"}
    assert items[failed].error == {"code": "face_not_detected", "message": "No face was detected in the image."}


def test_bulk_status_pages_and_chunks_of_100(httpserver: Any, ft: FakeTime, tmp_path: Path) -> None:
    fake = FakeHeyGen(httpserver, render_seconds=10.0, clock=ft.clock, statuses_page_size=40)
    client = make_client(fake.base_url, ft)
    ids = (
        client.upload_asset(write_test_png(tmp_path / "p.png"), "image").asset_id,
        client.upload_asset(write_test_wav(tmp_path / "a.wav"), "audio").asset_id,
    )
    made = [client.create_video(body(ids, title=f"S{i}"), idempotency_key=f"otioheygen:b{i}").video_id
            for i in range(3)]  # fmt: skip
    wanted = made + [f"v_unknown{i}" for i in range(147)] + [made[0]]  # 150 distinct ids, one repeated
    items = client.get_statuses(wanted)
    assert [i.video_id for i in items] == list(dict.fromkeys(wanted))
    assert {i.status for i in items[:3]} == {"queued"} and {i.status for i in items[3:]} == {"not_found"}
    # 100 ids: pages of 40, 40, 20; then 50 ids: pages of 40, 10
    assert fake.statuses_requests == 5 and fake.rejected == []
    assert client.get_statuses([]) == [] and fake.statuses_requests == 5


def test_bulk_status_refused_by_a_server_without_it(httpserver: Any, ft: FakeTime) -> None:
    fake = FakeHeyGen(httpserver, clock=ft.clock, refuse_statuses=405)
    client = make_client(fake.base_url, ft)
    with pytest.raises(ApiError) as info:
        client.get_statuses(["v_1"])
    assert getattr(info.value, "status_code", None) == 405 and ft.sleeps == []


def test_expired_url_is_refreshed(
    client: HeyGenClient, fake: FakeHeyGen, assets: tuple[str, str], tmp_path: Path
) -> None:
    vid = client.create_video(body(assets), idempotency_key="otioheygen:e").video_id
    old = client.get_video(vid)
    fake.inject("download", 403)
    dest = tmp_path / "media" / "clip.mp4"
    client.download_video(vid, dest, video=old)
    assert dest.read_bytes() == fake._mp4(fake.videos[vid])
    assert fake.download_requests == 2 and fake.status_requests == 2
    fake.expire_urls()
    fake.inject("download", 403)
    client.download_video(vid, tmp_path / "again.mp4", video=old)  # stale URL, then an expiring one
    assert fake.download_requests == 5 and fake.status_requests == 4


def test_download_follows_redirect_without_key(
    client: HeyGenClient, fake: FakeHeyGen, assets: tuple[str, str], tmp_path: Path
) -> None:
    vid = client.create_video(body(assets), idempotency_key="otioheygen:rd").video_id
    fake.inject("download", "redirect")
    client.download_video(vid, tmp_path / "clip.mp4")
    assert (tmp_path / "clip.mp4").read_bytes() == fake._mp4(fake.videos[vid])
    assert fake.download_requests == 2 and fake.downloads_with_key == 0


@pytest.mark.parametrize("fault", ["truncate", "drop", 503])
def test_broken_download_is_retried(
    client: HeyGenClient, fake: FakeHeyGen, ft: FakeTime, assets: tuple[str, str], tmp_path: Path, fault: int | str
) -> None:
    vid = client.create_video(body(assets), idempotency_key="otioheygen:t").video_id
    fake.inject("download", fault, times=2)
    dest = tmp_path / "clip.mp4"
    client.download_video(vid, dest)
    assert dest.read_bytes() == fake._mp4(fake.videos[vid])
    assert fake.download_requests == 3 and len(ft.sleeps) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.wav", "clip.mp4", "p.png"]


def test_download_that_never_completes_leaves_nothing(
    client: HeyGenClient, fake: FakeHeyGen, ft: FakeTime, assets: tuple[str, str], tmp_path: Path
) -> None:
    vid = client.create_video(body(assets), idempotency_key="otioheygen:t2").video_id
    fake.inject("download", "truncate", times=100)
    out = tmp_path / "out"
    with pytest.raises(APIConnectionError, match="Downloading video"):
        client.download_video(vid, out / "clip.mp4")
    assert list(out.iterdir()) == []
    assert fake.download_requests == len(ft.sleeps) + 1 and sum(ft.sleeps) <= RETRY_BUDGET_S


def test_downloads_survive_truncation_and_short_lived_urls(httpserver: Any, ft: FakeTime, tmp_path: Path) -> None:
    """URLs valid 2 s and 30 % of bodies cut short, as in the issue's fault mix: every download lands."""
    fake = FakeHeyGen(httpserver, clock=ft.clock, url_ttl_s=2.0)
    drawn = fake.fault_mix(3, server_error=0, rate_limit=0, drop=0, truncate=0.3, endpoints=("download",))
    client = make_client(fake.base_url, ft)
    ids = (
        client.upload_asset(write_test_png(tmp_path / "p.png"), "image").asset_id,
        client.upload_asset(write_test_wav(tmp_path / "a.wav", seconds=0.3), "audio").asset_id,
    )
    for i in range(8):
        vid = client.create_video(body(ids, title=f"T{i}"), idempotency_key=f"otioheygen:tt{i}").video_id
        client.download_video(vid, tmp_path / f"{i}.mp4")
        assert (tmp_path / f"{i}.mp4").read_bytes() == fake._mp4(fake.videos[vid])
    assert drawn["truncate"] >= 1
    stale = client.get_video(vid)
    ft.now += 2.5  # the link has expired by the time the download starts
    before = fake.counts["status"]
    client.download_video(vid, tmp_path / "late.mp4", video=stale)
    assert fake.counts["status"] > before and (tmp_path / "late.mp4").stat().st_size > 0


def test_not_a_video_is_refused(httpserver: Any, ft: FakeTime, tmp_path: Path) -> None:
    fake = FakeHeyGen(httpserver, clock=ft.clock, video_bytes=b"<html>oops</html>" * 100)
    client = make_client(fake.base_url, ft)
    ids = (
        client.upload_asset(write_test_png(tmp_path / "p.png"), "image").asset_id,
        client.upload_asset(write_test_wav(tmp_path / "a.wav"), "audio").asset_id,
    )
    vid = client.create_video(body(ids), idempotency_key="otioheygen:n").video_id
    out = tmp_path / "out"
    with pytest.raises(InvalidVideoError):
        client.download_video(
            vid,
            out / "clip.mp4",
            video=VideoData(
                video_id=vid, status="completed", video_url=f"{fake.base_url}/files/{vid}.mp4?Signature=s0"
            ),
        )
    assert list(out.iterdir()) == []


def test_connection_refused(ft: FakeTime) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    client = make_client(f"http://127.0.0.1:{port}", ft)
    with pytest.raises(UnreachableError) as info:
        client.get_account()
    # never reached: nothing would work, so no retries
    assert ft.sleeps == [] and FAKE_API_KEY not in str(info.value)
    assert str(info.value) == (
        f"cannot reach HeyGen at http://127.0.0.1:{port}: check the network or HEYGEN_API_URL"
    )


@pytest.mark.parametrize(
    "failure",
    [httpx.ConnectError("refused"), httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED]"), httpx.ConnectTimeout("t")],
)
def test_first_call_that_cannot_connect_is_unreachable(ft: FakeTime, failure: httpx.TransportError) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise failure

    http = build_http_client("k", "https://api.example.test", transport=httpx.MockTransport(handler))
    with pytest.raises(UnreachableError, match=r"cannot reach HeyGen at https://api\.example\.test"):
        HeyGenClient(http, sleep=ft.sleep, clock=ft.clock).get_account()
    assert ft.sleeps == []


def test_connection_failures_after_the_first_answer_are_retried(ft: FakeTime) -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if 2 <= len(calls) <= 4:
            raise httpx.ConnectError("network blip")
        return httpx.Response(200, json={"data": {"wallet": {"remaining_balance": 3.0}}})

    http = build_http_client("k", "https://api.example.test", transport=httpx.MockTransport(handler))
    client = HeyGenClient(http, sleep=ft.sleep, clock=ft.clock, rng=random.Random(1))
    assert client.get_account().balance == 3.0
    assert client.get_account().balance == 3.0  # three refused connects in a row, then through
    assert len(calls) == 5 and len(ft.sleeps) == 3


def test_api_key_never_in_errors_or_logs(
    httpserver: Any, ft: FakeTime, assets: tuple[str, str], fake: FakeHeyGen, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = make_client(fake.base_url, ft)
    fake.inject("status", 500)
    errors: list[BaseException] = []
    fake.inject("create", 400, message=f"bad key {FAKE_API_KEY} in request", param="x")
    fake.inject("status", 401, message=f"Invalid API key {FAKE_API_KEY}")
    fake.inject("account", 402)
    for call in (
        lambda: client.create_video(body(assets), idempotency_key="otioheygen:s1"),
        lambda: client.get_video("v_1"),
        lambda: client.get_account(),
        lambda: client.get_video("v_unknown"),
    ):
        with pytest.raises(ApiError) as info:
            call()
        errors.append(info.value)
    for err in errors:
        for text in (str(err), repr(err), repr(err.args), str(vars(err))):
            assert FAKE_API_KEY not in text
    assert "bad key *** in request" in str(errors[0])
    assert "retry 1 while checking video v_1 after 500" in caplog.text and FAKE_API_KEY not in caplog.text
    assert FAKE_API_KEY not in repr(client)


def test_timeouts_and_headers_via_mock_transport() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/v3/videos":
            return httpx.Response(200, json={"data": {"id": "v_9", "status": "pending", "extra": 1}})
        return httpx.Response(200, json={"data": {"wallet": {"remaining_balance": 1.5}, "new_field": True}})

    http = build_http_client(
        "k-123", "https://api.example.test/", concurrency=3, transport=httpx.MockTransport(handler)
    )
    client = HeyGenClient(http, sleep=lambda s: None)
    created = client.create_video(body(("a_1", "a_2"), motion_prompt="nods"), idempotency_key="otioheygen:mt")
    account = client.get_account()
    assert isinstance(created, CreateVideoData) and created.video_id == "v_9"
    assert isinstance(account, AccountInfo) and (account.balance, account.currency) == (1.5, "USD")
    create_req, me_req = seen
    assert str(create_req.url) == "https://api.example.test/v3/videos"
    assert create_req.headers["X-Api-Key"] == "k-123" and create_req.headers["Idempotency-Key"] == "otioheygen:mt"
    assert create_req.extensions["timeout"]["read"] == CREATE_TIMEOUT.read == 120.0
    assert me_req.extensions["timeout"]["read"] == 30.0 and "Idempotency-Key" not in me_req.headers


# -- file types ----------------------------------------------------------------------------


def write_mp3(path: Path, seconds: float = 0.5) -> Path:
    import av
    import numpy as np

    with av.open(str(path), "w", format="mp3") as out:
        stream = out.add_stream("libmp3lame", rate=44100)
        stream.layout = "mono"
        t = np.arange(int(seconds * 44100)) / 44100
        samples = (0.3 * np.sin(2 * np.pi * 330 * t)).astype(np.float32)
        for start in range(0, len(samples), 1152):
            frame = av.AudioFrame.from_ndarray(
                samples[start : start + 1152].reshape(1, -1), format="flt", layout="mono"
            )
            frame.sample_rate = 44100
            frame.pts = start
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def write_jpeg(path: Path) -> Path:
    import av
    import numpy as np

    with av.open(str(path), "w", format="image2") as out:
        stream = out.add_stream("mjpeg", rate=1)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuvj420p"
        img = np.full((32, 32, 3), 120, dtype=np.uint8)
        for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def test_jpeg_and_mp3_uploads(client: HeyGenClient, fake: FakeHeyGen, tmp_path: Path) -> None:
    jpeg = client.upload_asset(write_jpeg(tmp_path / "face.jpg"), "image")
    mp3 = client.upload_asset(write_mp3(tmp_path / "song.mp3"), "audio")
    assert (jpeg.mime_type, mp3.mime_type) == ("image/jpeg", "audio/mpeg")
    assert fake.assets[mp3.asset_id].data == (tmp_path / "song.mp3").read_bytes()
    with pytest.raises(MediaError):
        client.upload_asset(tmp_path / "face.jpg", "audio")
    with pytest.raises(PhotoError):
        client.upload_asset(tmp_path / "song.mp3", "image")
    assert fake.upload_requests == 2


@pytest.mark.parametrize(
    ("head", "mime"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00", "image/png"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "image/jpeg"),
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", "audio/wav"),
        (b"RIFF\x24\x00\x00\x00AVI LIST", None),
        (b"ID3\x04\x00\x00\x00\x00", "audio/mpeg"),
        (b"\xff\xfb\x90\x64\x00", "audio/mpeg"),
        (b"\xff\xf3\x90\x64\x00", "audio/mpeg"),
        (b"\xff\xe0\x00\x00", None),
        (b"GIF89a", None),
        (b"", None),
        (b"\x00\x00\x00\x18ftypmp42", None),
    ],
)
def test_sniff_mime(head: bytes, mime: str | None) -> None:
    assert sniff_mime(head) == mime


# -- the fake is as strict as the real service (so "no request rejected" means something) ----


def raw_create(
    fake: FakeHeyGen, payload: Any, key: str | None = "otioheygen:raw", api_key: str = FAKE_API_KEY
) -> httpx.Response:
    headers = {"X-Api-Key": api_key}
    if key is not None:
        headers["Idempotency-Key"] = key
    return httpx.post(f"{fake.base_url}/v3/videos", json=payload, headers=headers)


def test_fake_rejects_what_a_strict_server_rejects(fake: FakeHeyGen, assets: tuple[str, str]) -> None:
    good = body(assets).to_json()
    cases: list[tuple[dict[str, Any], str | None]] = [
        ({**good, "quality": "high"}, "quality"),
        ({**good, "motion_prompt": None}, "motion_prompt"),
        ({**good, "expressiveness": "extreme"}, "expressiveness"),
        ({**good, "resolution": "1080"}, "resolution"),
        ({**good, "image": {"type": "asset_id", "asset_id": assets[0], "x": 1}}, "image.x"),
        ({**good, "image": {"type": "asset_id", "asset_id": assets[1]}}, "image.asset_id"),
        ({**good, "audio_asset_id": assets[0]}, "audio_asset_id"),
        ({**good, "voice_id": "v1"}, "voice_id"),
        ({**good, "script": "hello"}, "audio_asset_id"),
        ({**good, "type": "avatar"}, "type"),
        ({**good, "title": 3}, "title"),
    ]
    for payload, param in cases:
        answer = raw_create(fake, payload)
        assert answer.status_code == 400, payload
        assert answer.json()["error"]["code"] == "invalid_parameter" and answer.json()["error"]["param"] == param
    assert raw_create(fake, good, key="bad key!").json()["error"]["param"] == "Idempotency-Key"
    assert raw_create(fake, good, api_key="nope").status_code == 401
    assert fake.creates == 0 and len(fake.rejected) == len(cases) + 2
    first, again = raw_create(fake, good, key="otioheygen:raw2"), raw_create(fake, good, key="otioheygen:raw2")
    assert first.json() == again.json() and fake.creates == 1 and fake.create_requests_by_key["otioheygen:raw2"] == 2
    assert raw_create(fake, good, key=None).json()["data"]["video_id"] != first.json()["data"]["video_id"]


def test_fake_upload_is_strict(fake: FakeHeyGen, tmp_path: Path) -> None:
    png = write_test_png(tmp_path / "p.png").read_bytes()
    url, headers = f"{fake.base_url}/v3/assets", {"X-Api-Key": FAKE_API_KEY}
    assert httpx.post(url, files={"image": ("p.png", png)}, headers=headers).json()["error"]["param"] == "image"
    extra = httpx.post(url, files={"file": ("p.png", png)}, data={"kind": "photo"}, headers=headers)
    assert extra.json()["error"]["param"] == "kind"
    assert httpx.post(url, files={"file": ("x.txt", b"hello")}, headers=headers).json()["error"]["param"] == "file"
    assert httpx.post(url, json={"file": "x"}, headers=headers).status_code == 400
    assert httpx.post(url, files={"file": ("p.png", png)}).status_code == 401
    assert fake.uploads == 0 and len(fake.rejected) == 5
    assert httpx.post(url, files={"file": ("p.png", png)}, headers=headers).json()["data"]["mime_type"] == "image/png"


# -- models ----------------------------------------------------------------------------------


def test_response_models_are_tolerant() -> None:
    video = VideoData.model_validate({"id": "v_1", "status": "rendering_hd", "new": {"x": 1}})
    assert (video.video_id, video.status) == ("v_1", "rendering_hd")
    assert VideoData.model_validate({"video_id": "v_2", "id": "other"}).video_id == "v_2"
    assert CreateVideoData.model_validate({"id": "v_3"}).video_id == "v_3"
    assert AccountInfo.model_validate({}).balance is None


def test_request_model_is_strict() -> None:
    good = body(("a", "b"))
    assert set(good.to_json()) == {
        "type",
        "image",
        "audio_asset_id",
        "title",
        "resolution",
        "aspect_ratio",
        "fit",
        "expressiveness",
    }
    with pytest.raises(ValidationError):
        CreateVideoRequest(**{**good.model_dump(), "quality": "high"})
    with pytest.raises(ValidationError):
        CreateVideoRequest(**{**good.model_dump(), "fit": "stretch"})
    with pytest.raises(ValidationError):
        ImageAssetRef(asset_id="")


# -- clients that vanish, uploads that fail --------------------------------------------------


def test_client_vanishing_mid_create_leaves_one_render(
    client: HeyGenClient, fake: FakeHeyGen, assets: tuple[str, str]
) -> None:
    payload = json.dumps(body(assets).to_json()).encode()
    host, port = fake.server.host, fake.server.port
    request = (
        f"POST /v3/videos HTTP/1.1\r\nHost: {host}:{port}\r\nX-Api-Key: {FAKE_API_KEY}\r\n"
        f"Idempotency-Key: otioheygen:vanish\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\n\r\n"
    ).encode() + payload
    with socket.create_connection((host, port)) as sock:
        sock.sendall(request)  # ...and the process dies before reading the answer
    # the single-threaded server answers this only after the vanished request was handled
    created = client.create_video(body(assets), idempotency_key="otioheygen:vanish")
    assert fake.creates == 1 and fake.create_requests_by_key["otioheygen:vanish"] == 2
    assert list(fake.videos) == [created.video_id]


@pytest.mark.parametrize("after_processing", [False, True])
def test_upload_retried_on_500_uploads_once(
    client: HeyGenClient, fake: FakeHeyGen, ft: FakeTime, tmp_path: Path, after_processing: bool
) -> None:
    fake.inject("upload", 500, after_processing=after_processing)
    asset = client.upload_asset(write_test_png(tmp_path / "p.png"), "image")
    assert fake.upload_requests == 2 and fake.uploads == 1 and list(fake.assets) == [asset.asset_id]
    assert len(ft.sleeps) == 1


def test_413_from_server_is_not_retried(client: HeyGenClient, fake: FakeHeyGen, ft: FakeTime, tmp_path: Path) -> None:
    fake.inject("upload", 413)
    with pytest.raises(PayloadTooLargeError, match="too large"):
        client.upload_asset(write_test_wav(tmp_path / "a.wav"), "audio")
    assert fake.upload_requests == 1 and ft.sleeps == []


def test_unknown_video_is_not_found(client: HeyGenClient, fake: FakeHeyGen, ft: FakeTime) -> None:
    with pytest.raises(NotFoundError, match="v_gone"):
        client.get_video("v_gone")
    assert ft.sleeps == [] and fake.status_requests == 1


def test_garbled_success_answer(fake: FakeHeyGen, ft: FakeTime) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"<html>proxy login</html>")

    http = build_http_client(FAKE_API_KEY, fake.base_url, transport=httpx.MockTransport(handler))
    with pytest.raises(ApiError, match="does not understand"):
        HeyGenClient(http, sleep=ft.sleep).get_account()
