"""``GET /v3/videos`` through HeyGenClient.list_videos, and the fake's Idempotency-Key replay window."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from otio_heygen.backends.heygen.client import HeyGenClient
from otio_heygen.backends.heygen.http import build_http_client
from otio_heygen.backends.heygen.models import CreateVideoRequest, ImageAssetRef
from tests.support.heygen_fake import FAKE_API_KEY, FakeHeyGen, write_test_png, write_test_wav


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fake(httpserver: Any, clock: Clock) -> FakeHeyGen:
    return FakeHeyGen(httpserver, clock=clock, replay_window_s=1.0)


@pytest.fixture
def client(fake: FakeHeyGen, clock: Clock) -> Iterator[HeyGenClient]:
    http = build_http_client(FAKE_API_KEY, fake.base_url, concurrency=2)
    c = HeyGenClient(http, sleep=clock.sleep, clock=clock, wall_clock=lambda: 1.8e9, rng=random.Random(1))
    yield c
    c.close()


def _body(client: HeyGenClient, tmp_path: Path, title: str) -> CreateVideoRequest:
    image = client.upload_asset(write_test_png(tmp_path / "p.png"), "image").asset_id
    audio = client.upload_asset(write_test_wav(tmp_path / "a.wav", seconds=0.2), "audio").asset_id
    return CreateVideoRequest(image=ImageAssetRef(asset_id=image), audio_asset_id=audio, title=title,
                              resolution="720p", aspect_ratio="16:9", fit="cover", expressiveness="low")


def test_list_paginates_newest_first_and_filters_by_title(
    client: HeyGenClient, fake: FakeHeyGen, tmp_path: Path
) -> None:
    ids = []
    for i in range(7):
        title = f"Verse {i} [oh-{i:010d}]" if i != 3 else "Chorus [oh-cafe000001]"
        ids.append(client.create_video(_body(client, tmp_path, title), idempotency_key=f"k{i}").video_id)
    videos = client.list_videos(page_size=3)
    assert [v.video_id for v in videos] == ids[::-1]  # newest first, across 3 pages
    assert fake.list_requests == 3
    found = client.list_videos(title="[oh-cafe000001]", page_size=3)
    assert [v.video_id for v in found] == [ids[3]] and found[0].title == "Chorus [oh-cafe000001]"
    assert found[0].status == "completed" and found[0].video_url  # items are full video resources
    assert client.list_videos(title="nothing like this") == []
    assert fake.rejected == []


def test_list_stops_after_max_pages(client: HeyGenClient, fake: FakeHeyGen, tmp_path: Path) -> None:
    for i in range(5):
        client.create_video(_body(client, tmp_path, f"S{i}"), idempotency_key=f"m{i}")
    assert len(client.list_videos(page_size=1, max_pages=2)) == 2


def test_list_rejects_unknown_parameters(fake: FakeHeyGen) -> None:
    import httpx

    r = httpx.get(f"{fake.base_url}/v3/videos?sort=asc", headers={"X-Api-Key": FAKE_API_KEY})
    assert r.status_code == 400 and r.json()["error"]["param"] == "sort"


def test_replay_window_then_a_new_billed_video(
    client: HeyGenClient, fake: FakeHeyGen, clock: Clock, tmp_path: Path
) -> None:
    body = _body(client, tmp_path, "Chorus")
    first = client.create_video(body, idempotency_key="same").video_id
    clock.now += 0.5
    assert client.create_video(body, idempotency_key="same").video_id == first  # replayed
    assert fake.creates == 1
    clock.now += 1.0  # past the 1 s window since the key's first use
    second = client.create_video(body, idempotency_key="same").video_id
    assert second != first and fake.creates == 2 and fake.creates_by_key["same"] == 2


def test_deleted_video_is_unknown_everywhere(client: HeyGenClient, fake: FakeHeyGen, tmp_path: Path) -> None:
    from otio_heygen.backends.heygen.errors import NotFoundError

    vid = client.create_video(_body(client, tmp_path, "Gone [oh-0000000001]"), idempotency_key="g").video_id
    fake.delete_video(vid)
    with pytest.raises(NotFoundError):
        client.get_video(vid)
    assert client.list_videos(title="oh-0000000001") == []


def test_refusal_after_a_lost_answer_says_an_earlier_attempt_may_have_reached(
    client: HeyGenClient, fake: FakeHeyGen, tmp_path: Path
) -> None:
    from otio_heygen.run.contract import OutOfCredit

    body = _body(client, tmp_path, "Chorus")
    fake.inject("create", 402)
    with pytest.raises(OutOfCredit) as refused:
        client.create_video(body, idempotency_key="first-send")
    assert refused.value.reached_before is False  # its only send was refused: nothing exists under it
    fake.inject("create", "drop", after_processing=True)  # billed, answer lost
    fake.inject("create", 402)  # the retry with the same key is refused
    with pytest.raises(OutOfCredit) as lost:
        client.create_video(body, idempotency_key="lost-send")
    assert lost.value.reached_before is True and fake.creates_by_key["lost-send"] == 1
