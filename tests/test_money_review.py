"""Regression tests from the adversarial review of the money path (journal, runner, HeyGen client).

Each test pins one hole found by reading the code: a journal migration killed halfway, an
Idempotency-Key resent after HeyGen's 24 h replay window, a poll loop that a 429 storm kept
past its deadline, and a regenerated take whose create may be paid being dropped by a rerun.
Real SQLite files, the real local fake HeyGen server, injected clocks; no real sleeps.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from otio_heygen.backends.heygen.errors import RateLimitError
from otio_heygen.planning.types import RemoteStatus
from otio_heygen.run.contract import idempotency_key_for
from otio_heygen.run.journal import Journal
from otio_heygen.run.journal_schema import MIGRATIONS, apply_migrations
from otio_heygen.run.runner import AdaptiveLimiter, RunOptions, build_request, plan_regenerations
from tests.support.builders import rekey
from tests.support.heygen_fake import FakeHeyGen
from tests.support.runner_env import FAST, DiskBackend, Env, heygen_env, make_jobs


@pytest.fixture
def env(tmp_path: Path) -> Env:
    return Env(tmp_path)


HEYGEN_FAST = RunOptions(concurrency=4, poll_interval_s=5.0)
DAY = 24 * 3600.0


# -- journal migrations ------------------------------------------------------------------------


def test_a_migration_killed_halfway_is_rolled_back_and_the_journal_still_opens(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    db = sqlite3.connect(str(path), isolation_level=None)  # as Journal.open connects

    def killed(conn: sqlite3.Connection) -> None:
        conn.execute("ALTER TABLE jobs ADD COLUMN backend TEXT")
        raise KeyboardInterrupt  # the process dies between two statements of one migration

    with pytest.raises(KeyboardInterrupt):
        apply_migrations(db, [MIGRATIONS[0], ("002_runs_and_timings", killed)])
    db.close()
    columns = {row[1] for row in sqlite3.connect(str(path)).execute("PRAGMA table_info(jobs)")}
    assert "backend" not in columns  # the half-applied migration left nothing behind
    # the real file, reopened with every migration, works (it used to say "unreadable, move it aside")
    db = sqlite3.connect(str(path), isolation_level=None)
    assert apply_migrations(db) == [name for name, _ in MIGRATIONS[1:]]
    db.close()


# -- the 24 h Idempotency-Key replay window ------------------------------------------------------


def _crash_after_sending_create(env: Env, fake: FakeHeyGen, backend: object, *, sent_at: float) -> str:
    """What a killed process left: the intent journaled at ``sent_at``, the create sent, no id saved."""
    jobs = make_jobs(env.root, 2)
    key = idempotency_key_for(jobs[0].key, 1)
    audio = env.pipeline.prepare_audio(jobs[0])
    request = build_request(jobs[0], audio)
    image_asset = backend.upload(request.image_path, "image")  # type: ignore[attr-defined]
    audio_asset = backend.upload(audio, "audio")  # type: ignore[attr-defined]
    with Journal.open(env.out, now=lambda: sent_at) as journal:
        journal.ensure(jobs[0], backend="heygen", price_per_second=0.1)
        journal.set_state(
            jobs[0].key, "creating", idempotency_key=key, attempts=1, image_asset=image_asset, audio_asset=audio_asset
        )
    backend.create(request, image_asset, audio_asset, key)  # type: ignore[attr-defined]
    return key


def test_a_create_sent_more_than_a_day_ago_is_not_resent_blindly(tmp_path: Path, httpserver: object) -> None:
    env, fake, backend = heygen_env(tmp_path, httpserver)
    jobs = make_jobs(env.root, 2)
    t0 = 1_700_000_000.0
    try:
        _crash_after_sending_create(env, fake, backend, sent_at=t0)
        assert fake.creates == 1
        fake._keys.clear()  # 24 h later HeyGen no longer remembers the key: a resend would render again
        env.time.now = 2 * DAY  # the journal's wall clock (Env.run) is now two days after the send
        first = env.run(jobs, HEYGEN_FAST, backend=backend)
        assert fake.creates == 2  # only the other section was created; the old one was not re-bought
        assert [f.job.key for f in first.failures] == [jobs[0].key]
        assert "24 h" in first.failures[0].reason and "Section 1" in first.failures[0].reason
        # told so, the editor runs again: now it is rendered anew (a new key), once
        again = env.run(jobs, HEYGEN_FAST, backend=backend)
    finally:
        backend.close()
    assert again.failures == [] and fake.creates == 3
    assert len(set(fake.creates_by_key)) == 3 and set(fake.creates_by_key.values()) == {1}


def test_a_create_sent_within_the_day_is_still_resent_with_its_key(tmp_path: Path, httpserver: object) -> None:
    env, fake, backend = heygen_env(tmp_path, httpserver)
    jobs = make_jobs(env.root, 2)
    try:
        key = _crash_after_sending_create(env, fake, backend, sent_at=1_700_000_000.0)
        env.time.now = 20 * 3600.0
        report = env.run(jobs, HEYGEN_FAST, backend=backend)
    finally:
        backend.close()
    assert report.failures == [] and fake.creates == 2 and fake.creates_by_key[key] == 1
    assert fake.create_requests_by_key[key] == 2  # resent, replayed: one render


def test_a_resend_does_not_restart_the_replay_window(tmp_path: Path, httpserver: object) -> None:
    """A create resent (and lost again) 20 h after the first send does not buy another 24 h."""
    env, fake, backend = heygen_env(tmp_path, httpserver)
    jobs = make_jobs(env.root, 1)
    try:
        _crash_after_sending_create(env, fake, backend, sent_at=1_700_000_000.0)
        env.time.now = 20 * 3600.0
        fake.inject("create", "drop", times=50)  # the resend's answers are lost too, past the retry budget
        lost = env.run(jobs, HEYGEN_FAST, backend=backend)
        assert [f.job.key for f in lost.failures] == [jobs[0].key]
        fake._keys.clear()
        env.time.now = 30 * 3600.0
        late = env.run(jobs, HEYGEN_FAST, backend=backend)
    finally:
        backend.close()
    assert fake.creates == 1 and "24 h" in late.failures[0].reason


def test_a_journal_from_before_the_window_check_gets_the_send_time_from_state_since(tmp_path: Path) -> None:
    db = sqlite3.connect(str(tmp_path / "old.sqlite"), isolation_level=None)
    apply_migrations(db, MIGRATIONS[:2])
    db.execute(
        """INSERT INTO jobs (key, section_index, section_name, section_slug, take, state, idempotency_key,
               created_at, updated_at, state_since) VALUES ('k', 1, 'A', 'A', 1, 'creating', 'otioheygen:k', 5, 6, 7)"""
    )
    apply_migrations(db)
    row = db.execute("SELECT key_sent_at FROM jobs WHERE key = 'k'").fetchone()
    assert row == (7.0,)


# -- polling deadline under a 429 storm ------------------------------------------------------------


class StatusRateLimited(DiskBackend):
    """Every status check answers 429 (another app floods the account)."""

    def status(self, video_id: str) -> RemoteStatus:
        with self.lock:
            self.status_calls += 1
            if self.status_calls > 10_000:
                raise AssertionError("polled forever")
        raise RateLimitError("HeyGen rate limit", retry_after=30.0, status_code=429)


def test_polling_that_only_gets_429_still_stops_at_its_deadline(env: Env) -> None:
    env.backend = StatusRateLimited(env.root / "server")
    jobs = make_jobs(env.root, 1)
    report = env.run(jobs, RunOptions(concurrency=1, poll_interval_s=1.0, poll_deadline_s=600.0))
    assert len(report.failures) == 1 and "did not finish" in report.failures[0].reason
    assert env.backend.status_calls <= 25
    record = env.records()[jobs[0].key]
    assert record.video_id is not None  # paid: kept so a rerun picks it up


# -- a regenerated take whose create may be paid ---------------------------------------------------


def test_a_plain_rerun_keeps_a_regenerated_take_whose_create_answer_was_lost(env: Env) -> None:
    jobs = make_jobs(env.root, 2, names=["Verse", "Chorus"])
    env.run(jobs, FAST)
    with Journal.open(env.out) as journal:
        planned = plan_regenerations(jobs, journal, ["Chorus"], rekey)
        take2 = next(j for j in planned if j.take == 2)
        journal.ensure(take2, backend="disk", price_per_second=0.1)
        # the create was sent, its answer lost (connection error): failed, key kept, maybe paid
        journal.set_state(take2.key, "failed", idempotency_key=idempotency_key_for(take2.key), error="lost")
        plain = plan_regenerations(jobs, journal, [], rekey)
    assert [(j.section.name, j.take) for j in plain] == [("Verse", 1), ("Chorus", 2), ("Chorus", 1)]


# -- 401/402 on a create resent after a crash ----------------------------------------------------


def test_a_402_on_a_resent_create_keeps_its_key_so_topping_up_does_not_pay_twice(
    tmp_path: Path, httpserver: object
) -> None:
    """The crashed run's create may have spent the last credit; a resend answered 402 (the server may
    check credit before the key) proves nothing about the first send: the key must survive."""
    env, fake, backend = heygen_env(tmp_path, httpserver)
    jobs = make_jobs(env.root, 1)
    try:
        key = _crash_after_sending_create(env, fake, backend, sent_at=1_700_000_000.0)
        fake.inject("create", 402)
        broke = env.run(jobs, HEYGEN_FAST, backend=backend)
        assert [f.job.key for f in broke.failures] == [jobs[0].key]
        topped_up = env.run(jobs, HEYGEN_FAST, backend=backend)
    finally:
        backend.close()
    assert topped_up.failures == [] and fake.creates == 1 and fake.creates_by_key[key] == 1


def test_a_402_on_a_first_send_still_lets_the_next_run_create_afresh(env: Env) -> None:
    env.backend.credit_creates = 0
    jobs = make_jobs(env.root, 1)
    first = env.run(jobs, FAST)
    assert len(first.failures) == 1 and env.backend.creates == 0
    assert env.records()[jobs[0].key].idempotency_key is None  # refused at once: nothing to replay
    env.backend.credit_creates = None
    assert env.run(jobs, FAST).failures == [] and env.backend.creates == 1


# -- render slots stay balanced when Ctrl-C lands while a slot is being re-queued ----------------


def test_a_slot_given_back_during_ctrl_c_is_not_released_twice() -> None:
    cancel = threading.Event()
    now = [0.0]
    limiter = AdaptiveLimiter(2, clock=lambda: now[0], pause=lambda s: cancel.set(), cancel=cancel)
    assert limiter.acquire()
    limiter.rate_limited(30.0)  # a hold is on: admit() gives the slot back and queues again
    assert limiter.admit() is False  # ... and Ctrl-C arrives while it waits
    limiter.release()  # what the job's ``finally`` does
    assert limiter.in_use == 0
    cancel.clear()
    now[0] = 100.0
    assert limiter.allowed == 1 and limiter.acquire() and limiter.in_use == 1  # the one slot is free again
