"""The runner's throughput rules: longest sections first, one bulk poll for every render in flight
(per-render fallback when the bulk endpoint is refused), and a whole-run stop when the service
cannot be reached. Injected time throughout (``tests.test_runner.Env``)."""

from __future__ import annotations

import dataclasses
import threading
import time
from pathlib import Path

import pytest

from otio_heygen.planning.types import Job, RenderRequest
from otio_heygen.run.contract import AssetKind, Unreachable
from otio_heygen.run.runner import AdaptiveLimiter, Event
from tests.support.builders import make_job, make_section
from tests.support.heygen_fake import write_test_png
from tests.support.runner_env import FAST, HEYGEN_FAST, DiskBackend, Env, heygen_env, make_jobs

LENGTHS_S = [1, 4, 2, 8, 3]


@pytest.fixture
def env(tmp_path: Path) -> Env:
    return Env(tmp_path)


def jobs_of_lengths(root: Path, lengths: list[int]) -> list[Job]:
    """Consecutive sections 'S1'... of the given lengths in seconds, in timeline order."""
    photo = write_test_png(root / "face.png")
    jobs, start = [], 0
    for i, seconds in enumerate(lengths, start=1):
        end = start + 25 * seconds
        jobs.append(make_job(make_section(i, f"S{i}", start, end), image=photo))
        start = end
    return jobs


def first_wave(backend: DiskBackend, jobs: list[Job], slots: int = 2) -> set[int]:
    """Section lengths of the first renders created. No render finishes before ``slots`` creates
    were sent (``hold_until_create_calls``), so the first wave is exactly the jobs given the slots
    (later waves race on the fake clock; the limiter's own order is tested below)."""
    seconds = {job.title: job.section.duration_frames // 25 for job in jobs}
    return {seconds[video.title] for video in list(backend.videos.values())[:slots]}


def test_longest_sections_start_first_and_results_keep_timeline_order(env: Env) -> None:
    jobs = jobs_of_lengths(env.root, LENGTHS_S)
    env.new_backend(hold_until_create_calls=2)
    report = env.run(jobs, dataclasses.replace(FAST, concurrency=2))
    assert first_wave(env.backend, jobs) == {8, 4}
    assert [r.job.key for r in report.results] == [j.key for j in jobs]
    assert env.backend.max_active <= 2


def test_marker_order_when_longest_first_is_off(env: Env) -> None:
    jobs = jobs_of_lengths(env.root, LENGTHS_S)
    env.new_backend(hold_until_create_calls=2)
    env.run(jobs, dataclasses.replace(FAST, concurrency=2, longest_first=False))
    assert first_wave(env.backend, jobs) == {1, 4}


def test_equal_lengths_keep_timeline_order(env: Env) -> None:
    jobs = make_jobs(env.root, 6)
    env.new_backend(hold_until_create_calls=2)
    env.run(jobs, dataclasses.replace(FAST, concurrency=2))
    assert {v.title for v in list(env.backend.videos.values())[:2]} == {jobs[0].title, jobs[1].title}


def test_limiter_gives_each_free_slot_to_the_best_ranked_job_waiting_or_on_its_way() -> None:
    cancel = threading.Event()
    limiter = AdaptiveLimiter(1, clock=lambda: 0.0, pause=lambda s: None, cancel=cancel)
    for rank in range(4):
        limiter.expect(rank)
    order: list[int] = []
    lock = threading.Lock()

    def job(rank: int) -> None:
        assert limiter.acquire(rank, expected=True)
        with lock:
            order.append(rank)
        limiter.release()

    threads = {rank: threading.Thread(target=job, args=(rank,)) for rank in range(4)}
    for rank in (3, 2):  # the short ones are ready first...
        threads[rank].start()
    time.sleep(0.3)
    assert order == []  # ...but wait for the longer ones still on their way
    threads[0].start()
    threads[0].join(5)
    limiter.unexpect(1)  # rank 1 failed before asking: it no longer holds anyone back
    for rank in (2, 3):
        threads[rank].join(5)
    assert order == [0, 2, 3]


class UnreachableBackend(DiskBackend):
    def upload(self, path: Path, kind: AssetKind) -> str:
        with self.lock:
            self.uploads += 1
        raise Unreachable("cannot reach Disk at file:///nowhere: check the network or HEYGEN_API_URL")

    def create(self, request: RenderRequest, image_asset: str, audio_asset: str, idempotency_key: str) -> str:
        raise AssertionError("nothing may be created")


def test_unreachable_service_stops_the_whole_run_with_that_one_error(env: Env) -> None:
    backend = UnreachableBackend(env.root / "server")
    jobs = make_jobs(env.root, 12)
    with pytest.raises(Unreachable, match="cannot reach Disk"):
        env.run(jobs, dataclasses.replace(FAST, concurrency=2), backend=backend)
    failed = [e for e in env.events if e.get("state") == "failed"]
    assert failed == [] and backend.uploads <= 4  # no job failed one by one; the others never started
    assert {r.state for r in env.records().values()} <= {"planned", "uploading"}


def test_heygen_renders_are_polled_together_and_fetched_in_full_only_when_done(
    tmp_path: Path, httpserver: object
) -> None:
    env, fake, backend = heygen_env(tmp_path, httpserver)
    jobs = make_jobs(env.root, 8)
    try:
        report = env.run(jobs, HEYGEN_FAST, backend=backend)
    finally:
        backend.close()
    assert len(report.results) == 8 and fake.rejected == []
    # the single-video GET only for the finished ones (their download link), never to poll
    assert fake.counts["status"] == 8
    # one bulk request per poll for all renders in flight: fewer requests than renders x polls each
    assert 1 <= fake.counts["statuses"] < 8 * (10 // 5)


def test_heygen_without_bulk_endpoint_falls_back_to_one_get_per_render(tmp_path: Path, httpserver: object) -> None:
    env, fake, backend = heygen_env(tmp_path, httpserver)
    fake.refuse_statuses = 404
    jobs = make_jobs(env.root, 8)
    try:
        report = env.run(jobs, HEYGEN_FAST, backend=backend)
    finally:
        backend.close()
    assert len(report.results) == 8 and report.failures == []
    assert fake.counts["statuses"] == 1  # refused once, never asked again
    assert fake.counts["status"] >= 8 * 2  # each render polled on its own, then fetched for its link
    assert [r for r in fake.rejected if r[1] != "/v3/videos/statuses"] == []


def test_heygen_video_unknown_to_bulk_is_confirmed_one_by_one(tmp_path: Path, httpserver: object) -> None:
    env, fake, backend = heygen_env(tmp_path, httpserver)
    jobs = make_jobs(env.root, 2)
    events: list[Event] = []
    env.listeners.append(events.append)

    def forget_first(event: Event) -> None:
        if event.get("state") == "rendering" and event.get("video_id") and fake.videos and "gone" not in str(events):
            first = next(iter(fake.videos))
            if event.get("video_id") == first:
                with fake.lock:
                    del fake.videos[first]  # HeyGen lost it (or it was deleted)
                events.append({"event": "gone"})

    env.listeners.append(forget_first)
    try:
        report = env.run(jobs, HEYGEN_FAST, backend=backend)
    finally:
        backend.close()
    assert len(report.results) == 1 and len(report.failures) == 1
    assert "no longer knows video" in report.failures[0].reason
