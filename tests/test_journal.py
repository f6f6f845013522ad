"""The SQLite job journal: states, WAL, migrations of an old journal, no secrets stored."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from otio_heygen.errors import OutputPathError
from otio_heygen.planning.types import Job
from otio_heygen.run.journal import JOURNAL_DIRNAME, Journal, job_seconds, journal_path
from otio_heygen.run.journal_schema import MIGRATIONS, apply_migrations
from tests.support.builders import make_job, make_section


def job_at(index: int = 1, name: str = "Chorus 1", take: int = 1, seconds: int = 4) -> Job:
    section = make_section(index, name, index * 100, index * 100 + seconds * 25)
    return make_job(section, take=take, key=f"key{index:02d}t{take}" + "0" * 50)


class Clock:
    def __init__(self) -> None:
        self.t = 1_000.0

    def __call__(self) -> float:
        return self.t


def test_open_creates_wal_journal_in_hidden_folder(tmp_path: Path) -> None:
    with Journal.open(tmp_path) as journal:
        assert journal.path == tmp_path / JOURNAL_DIRNAME / "journal.sqlite"
        assert journal.migrations() == [name for name, _ in MIGRATIONS]
    db = sqlite3.connect(journal_path(tmp_path))
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_open_without_create_names_the_folder(tmp_path: Path) -> None:
    with pytest.raises(OutputPathError, match="No otio-heygen journal"):
        Journal.open(tmp_path / "nowhere", create=False)
    assert not (tmp_path / "nowhere").exists()


def test_job_walks_states_and_survives_reopen(tmp_path: Path) -> None:
    clock = Clock()
    job = job_at()
    with Journal.open(tmp_path, now=clock) as journal:
        run = journal.start_run("heygen")
        record = journal.ensure(job, backend="heygen", price_per_second=0.1, run_id=run)
        assert record.state == "planned"
        assert record.cost_usd == pytest.approx(0.4)
        assert record.seconds == pytest.approx(job_seconds(job)) == pytest.approx(4.0)
        clock.t += 5
        journal.set_state(job.key, "creating", idempotency_key="otioheygen:k1", attempts=1)
        clock.t += 5
        journal.set_state(job.key, "rendering", video_id="v_1", billed=1)
        journal.add_timing(job.key, "render_s", 2.5)
        journal.add_timing(job.key, "render_s", 1.0)
        journal.finish_run(run, "interrupted")
    with Journal.open(tmp_path, now=clock) as journal:
        reopened = journal.get(job.key)
        assert reopened is not None
        record = reopened
        assert (record.state, record.video_id, record.idempotency_key) == ("rendering", "v_1", "otioheygen:k1")
        assert record.state_since == 1010.0 and record.created_at == 1000.0
        assert record.timings == {"render_s": 3.5}
        assert journal.spent_usd() == pytest.approx(0.4)
        assert [r.outcome for r in journal.runs()] == ["interrupted"]
        # ensure() on a known job keeps its progress
        assert journal.ensure(job, backend="heygen", price_per_second=0.1).state == "rendering"


def test_finish_info_round_trips_as_json(tmp_path: Path) -> None:
    job = job_at()
    with Journal.open(tmp_path) as journal:
        journal.ensure(job, backend="preview", price_per_second=0.0)
        info = {"media_duration_frames": 100, "provenance": {"video_id": "v", "path": tmp_path}}
        journal.set_state(job.key, "done", finish_info=info, media_path=str(tmp_path / "a.mp4"))
        record = journal.get(job.key)
    assert record is not None and record.finish_info is not None
    assert record.finish_info["media_duration_frames"] == 100
    assert record.finish_info["provenance"]["path"] == str(tmp_path)


def test_update_rejects_unknown_columns_and_unknown_keys(tmp_path: Path) -> None:
    with Journal.open(tmp_path) as journal:
        journal.ensure(job_at(), backend="heygen", price_per_second=0.1)
        with pytest.raises(ValueError, match="api_key"):
            journal.update(job_at().key, api_key="secret")
        with pytest.raises(KeyError):
            journal.update("missing", state="done")


def test_old_journal_is_migrated_and_keeps_its_rows(tmp_path: Path) -> None:
    path = journal_path(tmp_path)
    path.parent.mkdir(parents=True)
    old = sqlite3.connect(path)
    assert apply_migrations(old, MIGRATIONS[:1]) == ["001_jobs"]
    old.execute(
        "INSERT INTO jobs (key, section_index, section_name, section_slug, take, state, video_id, seconds,"
        " cost_usd, created_at, updated_at) VALUES ('k', 2, 'Verse', 'Verse', 1, 'rendering', 'v_9', 3, 0.3, 5, 6)"
    )
    old.commit()
    old.close()
    with Journal.open(tmp_path) as journal:
        assert journal.migrations() == [name for name, _ in MIGRATIONS]
        record = journal.get("k")
        assert record is not None
        assert record.video_id == "v_9" and record.state == "rendering"
        assert record.billed is True  # a created render is counted as paid after migration
        assert record.state_since == 6.0 and record.attempts == 0
        assert journal.spent_usd() == pytest.approx(0.3)
    # opening again applies nothing twice
    db = sqlite3.connect(path)
    assert apply_migrations(db) == []


def test_takes_for_lists_every_take_of_a_section(tmp_path: Path) -> None:
    with Journal.open(tmp_path) as journal:
        for take in (1, 2, 3):
            journal.ensure(job_at(take=take), backend="heygen", price_per_second=0.1)
        journal.ensure(job_at(index=2, name="Verse"), backend="heygen", price_per_second=0.1)
        assert [r.take for r in journal.takes_for("Chorus_1")] == [1, 2, 3]
        assert len(journal.records()) == 4


def test_unreadable_journal_is_a_clear_error(tmp_path: Path) -> None:
    path = journal_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(OutputPathError, match="unreadable"):
        Journal.open(tmp_path)
