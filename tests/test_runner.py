"""The orchestrator: resume, budget, concurrency cap, 429 adaptation, 401/402, partial failure, Ctrl-C.

The bench (``DiskBackend``, ``Env``, job builders) is in ``tests/support/runner_env.py``.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import threading
from collections import Counter
from pathlib import Path

import pytest
from werkzeug import Request, Response

from otio_heygen.backends.preview import PreviewBackend
from otio_heygen.errors import BudgetExceededError, InterruptedRunError, OutputPathError
from otio_heygen.planning.types import ClipResult, Job
from otio_heygen.run.contract import idempotency_key_for
from otio_heygen.run.journal import Journal
from otio_heygen.run.report import estimate_pending_cost
from otio_heygen.run.runner import (
    AdaptiveLimiter,
    BudgetGuard,
    Event,
    build_request,
    plan_regenerations,
)
from tests.support.builders import rekey
from tests.support.clock import FakeTime
from tests.support.runner_env import FAST, HEYGEN_FAST, DiskVideo, Env, heygen_env, make_jobs


@pytest.fixture
def env(tmp_path: Path) -> Env:
    return Env(tmp_path)


def test_full_run_renders_every_job_in_order(env: Env) -> None:
    jobs = make_jobs(env.root, 6)
    report = env.run(jobs)
    assert [r.job.key for r in report.results] == [j.key for j in jobs]
    assert report.failures == [] and report.created == 6 and report.reused == 0
    assert env.backend.creates == 6
    assert env.backend.uploads == 7  # one photo (shared) + six audio slices
    assert report.spent_usd == pytest.approx(6 * 2 * 0.1)
    for result in report.results:
        assert result.media_path == env.pipeline.media_dir / result.job.media_basename
        assert result.media_path.read_bytes().startswith(str(result.provenance["video_id"]).encode())
    states = {r.state for r in env.records().values()}
    assert states == {"done"}
    # creates carried the derived Idempotency-Key of attempt 1
    assert set(env.backend.by_key) == {idempotency_key_for(j.key, 1) for j in jobs}


def test_rerun_of_20_finished_sections_calls_nothing(env: Env) -> None:
    jobs = make_jobs(env.root, 20)
    first = env.run(jobs)
    assert first.created == 20
    backend = env.new_backend()
    second = env.run(jobs)
    assert (backend.uploads, backend.create_calls, backend.status_calls, backend.downloads) == (0, 0, 0, 0)
    assert second.reused == 20 and second.created == 0 and second.spent_usd == 0
    assert [r.job.key for r in second.results] == [j.key for j in jobs]
    assert sum(env.pipeline.finished.values()) == 20  # clips were not re-probed either
    assert [r.provenance for r in second.results] == [r.provenance for r in first.results]


def test_done_clip_found_elsewhere_is_linked_and_missing_one_redownloaded(env: Env) -> None:
    jobs = make_jobs(env.root, 3)
    env.run(jobs)
    old_media = env.pipeline.media_dir
    env.pipeline.media_dir = env.root / "new_media"  # rendered again to another output name
    backend = env.new_backend()
    report = env.run(jobs)
    assert backend.calls == 0 and report.reused == 3
    assert all(r.media_path.parent == env.root / "new_media" and r.media_path.is_file() for r in report.results)
    assert (env.root / "new_media" / jobs[0].media_basename).read_bytes() == (
        old_media / jobs[0].media_basename
    ).read_bytes()
    # now the clip is gone everywhere: re-download it, never re-create it
    (env.root / "new_media" / jobs[1].media_basename).unlink()
    (old_media / jobs[1].media_basename).unlink()
    backend = env.new_backend()
    video_id = str(env.records()[jobs[1].key].video_id)
    backend.videos = {video_id: DiskVideo(video_id, jobs[1].title, "k")}
    report = env.run(jobs)
    assert (backend.create_calls, backend.uploads, backend.downloads) == (0, 0, 1)
    assert report.reused == 2 and len(report.results) == 3


def test_interrupted_create_is_resent_with_the_same_key(env: Env) -> None:
    jobs = make_jobs(env.root, 3)
    key0, key1 = idempotency_key_for(jobs[0].key, 1), idempotency_key_for(jobs[1].key, 1)
    with Journal.open(env.out) as journal:
        for job in jobs:
            journal.ensure(job, backend="disk", price_per_second=0.1)
        # job 0: the create reached the server, then the process died before saving the id
        journal.set_state(jobs[0].key, "creating", idempotency_key=key0, attempts=1)
        # job 1: died right after committing the intent, before the request left
        journal.set_state(jobs[1].key, "creating", idempotency_key=key1, attempts=1)
    env.backend.by_key[key0] = "v_before"
    env.backend.videos["v_before"] = DiskVideo("v_before", jobs[0].title, key0)
    report = env.run(jobs)
    assert len(report.results) == 3
    assert env.backend.create_calls_by_key[key0] == 1 and env.backend.create_calls_by_key[key1] == 1
    assert env.backend.creates == 2  # job 1 and job 2 only; job 0 got its earlier video back
    assert report.results[0].provenance["video_id"] == "v_before"


def test_rendering_job_is_repolled_not_recreated(env: Env) -> None:
    jobs = make_jobs(env.root, 2)
    with Journal.open(env.out) as journal:
        for job in jobs:
            journal.ensure(job, backend="disk", price_per_second=0.1)
        journal.set_state(jobs[0].key, "rendering", video_id="v_old", idempotency_key="k", billed=1)
    env.backend.videos["v_old"] = DiskVideo("v_old", jobs[0].title, "k")
    report = env.run(jobs)
    assert env.backend.creates == 1 and env.backend.create_calls_by_key["k"] == 0
    assert report.results[0].provenance["video_id"] == "v_old"
    assert env.pipeline.prepared[jobs[0].key] == 1  # audio cut again for the download only
    # counted as finished here (resumed), bought earlier: neither bought now nor reused
    assert (report.created, report.resumed, report.reused) == (1, 1, 0)


def test_budget_below_estimate_spends_nothing(env: Env) -> None:
    jobs = make_jobs(env.root, 5)  # 5 x 2 s x $0.10 = $1.00
    with Journal.open(env.out) as journal:
        assert estimate_pending_cost(jobs, journal, 0.1) == pytest.approx(1.0)
    with pytest.raises(BudgetExceededError, match=r"\$1\.00.*\$0\.99") as info:
        env.run(jobs, dataclasses.replace(FAST, budget_usd=0.99))
    assert info.value.exit_code == 2
    assert (env.backend.uploads, env.backend.create_calls) == (0, 0)
    assert env.pipeline.prepared == Counter()


def test_budget_counts_only_what_is_still_to_pay(env: Env) -> None:
    jobs = make_jobs(env.root, 5)
    env.run(jobs[:3])
    with Journal.open(env.out) as journal:
        assert estimate_pending_cost(jobs, journal, 0.1) == pytest.approx(0.4)
    report = env.run(jobs, dataclasses.replace(FAST, budget_usd=0.4))
    assert report.created == 2 and report.spent_usd == pytest.approx(0.4) and report.failures == []


def test_budget_guard_never_commits_past_the_cap() -> None:
    guard = BudgetGuard(1.0)
    assert guard.reserve(0.4) and guard.reserve(0.4)
    assert not guard.reserve(0.4)  # 1.2 > 1.0
    guard.refund(0.4)  # a failed render is not billed
    assert guard.reserve(0.4)
    assert guard.committed_usd == pytest.approx(0.8)
    assert BudgetGuard(None).reserve(1e9)


def test_running_cap_on_concurrent_renders(env: Env) -> None:
    env.new_backend(polls_to_finish=3, hold_until_create_calls=3)
    report = env.run(make_jobs(env.root, 12), dataclasses.replace(FAST, concurrency=3))
    assert len(report.results) == 12
    assert env.backend.max_active == 3  # reached, never exceeded


def test_429_lowers_concurrency_then_recovers(env: Env) -> None:
    env.new_backend(cap=2, retry_after=7.0, polls_to_finish=3, hold_until_create_calls=3)
    report = env.run(make_jobs(env.root, 10), dataclasses.replace(FAST, concurrency=5))
    assert len(report.results) == 10 and report.failures == []
    assert env.backend.creates == 10 and env.backend.max_active <= 2
    assert 7.0 in env.time.sleeps  # Retry-After honoured
    limited = [e for e in env.events if e["event"] == "rate_limited"]
    assert limited and all(e["allowed"] in (1, 2) for e in limited)
    assert env.backend.rate_limited < 10  # adapts instead of hammering the server


def test_adaptive_limiter_backs_off_and_recovers_gradually() -> None:
    ft = FakeTime()
    cancel = threading.Event()
    events: list[Event] = []
    limiter = AdaptiveLimiter(
        4, clock=ft.clock, pause=ft.sleep, cancel=cancel, recover_after=2, on_change=events.append
    )
    for _ in range(3):
        assert limiter.acquire()
    limiter.created()
    limiter.created()  # two renders run; the third slot holder's create gets a 429
    limiter.rate_limited(5.0)
    assert limiter.allowed == 2
    limiter.release()  # the refused one queues again
    limiter.release(rendered=True)  # a render finished
    assert limiter.acquire()  # waits out Retry-After on the (fake) clock
    assert ft.sleeps == [5.0]
    limiter.created()
    assert limiter.allowed == 2
    limiter.release(rendered=True)
    assert limiter.acquire()
    limiter.created()
    assert limiter.allowed == 3  # one step back up after 2 successes
    assert limiter.in_use == 2 and limiter.rendering == 2
    limiter.rate_limited(None)  # second 429: default backoff, and recovery needs more successes
    assert limiter.allowed == 2
    for _ in range(3):
        limiter.created()
    assert limiter.allowed == 2
    limiter.created()
    assert limiter.allowed == 3
    cancel.set()
    assert not limiter.acquire()
    assert [e["event"] for e in events] == ["rate_limited", "concurrency", "rate_limited", "concurrency"]


@pytest.mark.parametrize("failure", ["credit", "auth"])
def test_401_402_stop_creates_but_in_flight_renders_finish(env: Env, failure: str) -> None:
    env.new_backend(polls_to_finish=4)
    if failure == "credit":
        env.backend.credit_creates = 3
    calls_at_stop: list[int] = []

    def on_create(number: int) -> None:
        if failure == "auth" and number == 3:
            env.backend.bad_key = True

    env.backend.on_create.append(on_create)
    jobs = make_jobs(env.root, 20)
    env.listeners.append(
        lambda event: calls_at_stop.append(env.backend.create_calls) if event["event"] == "stop_creating" else None
    )
    report = env.run(jobs, dataclasses.replace(FAST, concurrency=4))
    assert len(calls_at_stop) == 1
    # refused calls: the first one plus at most the creates already in flight (3 other slots)
    assert env.backend.create_calls - env.backend.creates <= 4
    assert env.backend.creates == 3 and len(report.results) == 3 == env.backend.downloads
    assert len(report.failures) == 17
    assert sum("not started" in f.reason for f in report.failures) >= 13
    word = "credit" if failure == "credit" else "API key"
    assert all(word in f.reason for f in report.failures)
    assert report.spent_usd == pytest.approx(0.6)
    # the refused jobs are retried on the next run (credit topped up / key fixed)
    env.new_backend()
    again = env.run(jobs)
    assert again.reused == 3 and again.created == 17 and again.failures == []


def test_partial_failure_is_reported_and_rerun_retries_only_it(env: Env) -> None:
    jobs = make_jobs(env.root, 4, names=["Intro", "Verse 1", "Chorus", "Outro"])
    env.backend.fail_titles = {"Verse 1"}
    report = env.run(jobs)
    assert [r.job.section.name for r in report.results] == ["Intro", "Chorus", "Outro"]
    assert [(f.job.section.name, "No face was detected" in f.reason) for f in report.failures] == [("Verse 1", True)]
    assert report.spent_usd == pytest.approx(0.6)  # failed renders are not billed
    record = env.records()[jobs[1].key]
    assert (record.state, record.video_id, record.billed) == ("failed", None, False)
    env.backend.fail_titles = set()
    env.backend.create_calls_by_key.clear()
    again = env.run(jobs)
    assert again.reused == 3 and again.created == 1 and again.failures == []
    # a fresh Idempotency-Key: the old one would replay the failed render
    assert list(env.backend.create_calls_by_key) == [idempotency_key_for(jobs[1].key, 2)]


def test_render_stuck_in_pending_is_reported_then_picked_up(env: Env) -> None:
    jobs = make_jobs(env.root, 2, names=["Verse", "Chorus"])
    env.backend.stuck_titles = {"Chorus"}
    options = dataclasses.replace(FAST, poll_interval_s=60.0, stuck_pending_s=300.0)
    report = env.run(jobs, options)
    assert [f.job.section.name for f in report.failures] == ["Chorus"]
    assert "still pending" in report.failures[0].reason
    env.backend.stuck_titles = set()
    creates = env.backend.creates
    again = env.run(jobs, options)
    assert again.failures == [] and env.backend.creates == creates  # re-polled, not re-bought


def test_regenerate_adds_a_take_that_becomes_the_main_clip(env: Env) -> None:
    jobs = make_jobs(env.root, 3, names=["Verse", "Chorus", "Outro"])
    env.run(jobs)
    with Journal.open(env.out) as journal:
        planned = plan_regenerations(jobs, journal, ["chorus"], rekey)
    assert [(j.section.name, j.take) for j in planned] == [("Verse", 1), ("Chorus", 2), ("Chorus", 1), ("Outro", 1)]
    report = env.run(planned)
    assert report.created == 1 and report.reused == 3
    assert [(r.job.section.name, r.job.take) for r in report.results] == [
        ("Verse", 1),
        ("Chorus", 2),
        ("Chorus", 1),
        ("Outro", 1),
    ]
    # a plain rerun keeps the new take as the main clip, for free
    with Journal.open(env.out) as journal:
        plain = plan_regenerations(jobs, journal, [], rekey)
        again = plan_regenerations(jobs, journal, ["Chorus"], rekey)
        another = plan_regenerations(jobs, journal, ["Chorus=3"], rekey)
    assert [(j.section.name, j.take) for j in plain] == [("Verse", 1), ("Chorus", 2), ("Chorus", 1), ("Outro", 1)]
    assert [j.take for j in again if j.section.name == "Chorus"] == [2, 1]  # the same command: the same take
    assert [j.take for j in another if j.section.name == "Chorus"] == [3, 2, 1]
    env.new_backend()
    assert env.run(plain).created == 0


def test_ctrl_c_stops_creating_and_the_rerun_completes_without_double_billing(env: Env) -> None:
    env.new_backend(polls_to_finish=3)
    jobs = make_jobs(env.root, 8)

    interrupted = threading.Event()
    env.listeners.append(lambda event: interrupted.set() if event["event"] == "interrupted" else None)

    def interrupt(number: int) -> None:
        if number == 3:
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C, delivered to the main thread
            assert interrupted.wait(10)  # this create returns only once the runner has seen it

    env.backend.on_create.append(interrupt)
    with pytest.raises(InterruptedRunError, match="run the same command again") as info:
        env.run(jobs, dataclasses.replace(FAST, concurrency=2))
    assert info.value.exit_code == 130
    records = env.records()
    for record in records.values():
        assert record.state in {"planned", "uploading", "creating", "rendering", "done"}
        if record.state == "creating":
            assert record.idempotency_key
        if record.state == "rendering":
            assert record.video_id
    created_before = env.backend.creates
    assert created_before < 8
    env.backend.on_create.clear()
    report = env.run(jobs)
    assert len(report.results) == 8
    assert env.backend.creates == 8 and set(env.backend.creates_by_title.values()) == {1}


def test_preview_backend_writes_real_clips(env: Env) -> None:
    import av

    jobs = make_jobs(env.root, 2)

    def finish(job: Job, media: Path, info: dict[str, object]) -> ClipResult:
        with av.open(str(media)) as container:
            frames = round(float(container.duration or 0) / 1_000_000 * job.section.rate)
        return ClipResult(job=job, media_path=media, media_duration_frames=frames, provenance=dict(info))

    env.pipeline.finish_clip = finish  # type: ignore[method-assign]
    report = env.run(jobs, backend=PreviewBackend(width=64, height=36))
    assert report.failures == [] and report.spent_usd == 0
    assert all(r.media_duration_frames > 0 for r in report.results)
    assert {e["state"] for e in env.events if e["event"] == "state"} >= {"uploading", "creating", "done"}


# -- against the fake HeyGen v3 server, through the real HeyGenBackend (httpx) ---------------------



def test_heygen_rerun_of_20_sections_uploads_and_creates_nothing(tmp_path: Path, httpserver: object) -> None:
    env, fake, backend = heygen_env(tmp_path, httpserver)
    jobs = make_jobs(env.root, 20)
    try:
        first = env.run(jobs, HEYGEN_FAST, backend=backend)
        assert len(first.results) == 20 and fake.creates == 20 and fake.rejected == []
        assert set(fake.creates_by_key.values()) == {1}
        uploads, creates, statuses, downloads = (
            fake.upload_requests,
            fake.create_requests,
            fake.status_requests,
            fake.download_requests,
        )
        second = env.run(jobs, HEYGEN_FAST, backend=backend)
    finally:
        backend.close()
    assert second.reused == 20
    assert (fake.upload_requests, fake.create_requests, fake.status_requests, fake.download_requests) == (
        uploads,
        creates,
        statuses,
        downloads,
    )


def test_heygen_create_answered_500_after_processing_is_not_billed_twice(tmp_path: Path, httpserver: object) -> None:
    env, fake, backend = heygen_env(tmp_path, httpserver)
    fake.inject("create", 500, after_processing=True, times=2)
    fake.inject("create", "drop")
    jobs = make_jobs(env.root, 5)
    try:
        report = env.run(jobs, HEYGEN_FAST, backend=backend)
    finally:
        backend.close()
    assert len(report.results) == 5 and report.failures == []
    assert fake.creates == 5 and set(fake.creates_by_key.values()) == {1}


def test_heygen_429_storm_adapts_and_finishes(tmp_path: Path, httpserver: object) -> None:
    env, fake, backend = heygen_env(tmp_path, httpserver)
    fake.inject("create", 429, retry_after="11", times=30)  # outlasts the client's own retries
    jobs = make_jobs(env.root, 8)
    try:
        report = env.run(jobs, HEYGEN_FAST, backend=backend)
    finally:
        backend.close()
    assert len(report.results) == 8 and fake.creates == 8
    limited = [e for e in env.events if e["event"] == "rate_limited"]
    assert limited and all(e["retry_after"] == 11.0 for e in limited)
    assert all(isinstance(e["allowed"], int) and e["allowed"] < 4 for e in limited)


def test_heygen_crash_between_create_and_saving_the_id(tmp_path: Path, httpserver: object) -> None:
    env, fake, backend = heygen_env(tmp_path, httpserver)
    jobs = make_jobs(env.root, 3)
    key = idempotency_key_for(jobs[0].key, 1)
    try:
        # what the killed process did: journal the intent, send the create, die before saving the id
        audio = env.pipeline.prepare_audio(jobs[0])
        request = build_request(jobs[0], audio)
        image_asset = backend.upload(request.image_path, "image")
        audio_asset = backend.upload(audio, "audio")
        with Journal.open(env.out) as journal:
            journal.ensure(jobs[0], backend="heygen", price_per_second=backend.price_per_second)
            journal.set_state(
                jobs[0].key,
                "creating",
                idempotency_key=key,
                attempts=1,
                image_asset=image_asset,
                audio_asset=audio_asset,
            )
        backend.create(request, image_asset, audio_asset, key)
        report = env.run(jobs, HEYGEN_FAST, backend=backend)
    finally:
        backend.close()
    assert len(report.results) == 3
    assert fake.creates == 3 and fake.create_requests_by_key[key] == 2 and fake.creates_by_key[key] == 1


def test_heygen_402_keeps_what_was_paid(tmp_path: Path, httpserver: object) -> None:
    env, fake, backend = heygen_env(tmp_path, httpserver, concurrency=2)
    jobs = make_jobs(env.root, 6)
    fake_creates: list[int] = []
    env.listeners.append(lambda e: fake_creates.append(fake.creates) if e["event"] == "stop_creating" else None)
    original = fake._create

    def out_of_credit_after_two(request: Request) -> Response:
        if fake.creates >= 2:
            fake.inject("create", 402)
        return original(request)

    fake._create = out_of_credit_after_two  # type: ignore[method-assign]
    try:
        report = env.run(jobs, dataclasses.replace(HEYGEN_FAST, concurrency=2), backend=backend)
    finally:
        backend.close()
    assert fake_creates == [2] and fake.creates == 2
    assert len(report.results) == 2 and fake.downloads_completed == 2
    assert len(report.failures) == 4 and all("credit" in f.reason for f in report.failures)


def test_regenerate_resumes_an_interrupted_regeneration_instead_of_paying_again(env: Env) -> None:
    jobs = make_jobs(env.root, 2, names=["Verse", "Chorus"])
    env.run(jobs)
    take2 = rekey(jobs[1], 2)
    with Journal.open(env.out) as journal:
        journal.ensure(take2, backend="disk", price_per_second=0.1)
        journal.set_state(take2.key, "rendering", video_id="v_regen", idempotency_key="k2", billed=1)
    env.backend.videos["v_regen"] = DiskVideo("v_regen", take2.title, "k2")
    with Journal.open(env.out) as journal:
        again = plan_regenerations(jobs, journal, ["Chorus"], rekey)
        plain = plan_regenerations(jobs, journal, [], rekey)
    assert [(j.section.name, j.take) for j in again] == [("Verse", 1), ("Chorus", 2), ("Chorus", 1)]
    assert [j.key for j in plain] == [j.key for j in again]  # paid, so picked up by a plain rerun too
    report = env.run(again)
    assert report.created == 0 and report.results[1].provenance["video_id"] == "v_regen"
    # a regenerated take that failed at HeyGen is not retried by a plain rerun
    take3 = rekey(jobs[1], 3)
    with Journal.open(env.out) as journal:
        journal.ensure(take3, backend="disk", price_per_second=0.1)
        journal.set_state(take3.key, "failed", error="No face was detected")
        assert [j.take for j in plan_regenerations(jobs, journal, [], rekey)] == [1, 2, 1]
        # the same --regenerate command asks for the take it asked for before; a take number retries take 3
        assert [j.take for j in plan_regenerations(jobs, journal, ["Chorus"], rekey)] == [1, 2, 1]
        assert [j.take for j in plan_regenerations(jobs, journal, ["Chorus=3"], rekey)] == [1, 3, 2, 1]


def test_a_clip_of_another_version_under_the_same_name_is_not_reused(env: Env) -> None:
    jobs = make_jobs(env.root, 2)
    env.run(jobs)
    media = env.pipeline.media_dir / jobs[0].media_basename
    media.write_bytes(b"a different render of an edited section, same file name")
    backend = env.new_backend()
    video_id = str(env.records()[jobs[0].key].video_id)
    backend.videos = {video_id: DiskVideo(video_id, jobs[0].title, "k")}
    report = env.run(jobs)
    assert (backend.create_calls, backend.downloads) == (0, 1)  # downloaded again, not re-bought
    assert media.read_bytes().startswith(video_id.encode())
    assert report.reused == 1 and len(report.results) == 2


def test_switching_backend_over_paid_renders_is_refused_but_preview_rows_are_replaced(env: Env) -> None:
    jobs = make_jobs(env.root, 2)
    env.run(jobs)  # paid renders (backend "disk")
    with pytest.raises(OutputPathError, match="already holds 2 disk render") as info:
        env.run(jobs, backend=PreviewBackend(width=64, height=36))
    assert info.value.exit_code == 2
    assert {r.backend for r in env.records().values()} == {"disk"}
    # the other way round: free preview rows give way to a paid backend
    other = Env(env.root / "second")
    other.run(jobs, backend=PreviewBackend(width=64, height=36))
    report = other.run(jobs)
    assert report.created == 2 and report.reused == 0
    assert {r.backend for r in other.records().values()} == {"disk"}


def test_network_outage_while_polling_is_waited_out_then_reported(env: Env) -> None:
    jobs = make_jobs(env.root, 2)
    env.backend.status_errors = 5  # a short outage: waited out
    assert len(env.run(jobs, dataclasses.replace(FAST, poll_interval_s=30.0)).results) == 2
    jobs = make_jobs(env.root, 2, names=["Verse", "Chorus"])
    env.backend.status_errors = 10_000  # down for good: after 10 min the jobs fail, video ids kept
    report = env.run(jobs, dataclasses.replace(FAST, poll_interval_s=30.0))
    assert len(report.failures) == 2 and all("could not be reached" in f.reason for f in report.failures)
    assert all(env.records()[j.key].video_id for j in jobs)
    env.backend.status_errors = 0
    creates = env.backend.creates
    assert len(env.run(jobs).results) == 2 and env.backend.creates == creates


def test_a_broken_progress_sink_does_not_fail_the_render(env: Env) -> None:
    calls: list[Event] = []

    def broken(event: Event) -> None:
        calls.append(event)
        raise BrokenPipeError("stdout closed")

    env.listeners.append(broken)
    report = env.run(make_jobs(env.root, 3))
    assert len(report.results) == 3 and report.failures == []
    assert len(calls) == 1  # dropped after its first failure
