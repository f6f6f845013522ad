"""The account ledger store: a real SQLite file, migrations, concurrent processes, copies, config."""

from __future__ import annotations

import json
import multiprocessing
import os
import sqlite3
from pathlib import Path

import pytest

from otio_heygen.config import load_settings
from otio_heygen.errors import ConfigError
from otio_heygen.run.ledger import (
    PREVIEW_ACCOUNT,
    AccountLedger,
    LocalCopy,
    account_for_key,
    default_ledger_path,
    open_ledger,
    place_copy,
    sha256_of,
    verify_copy,
)
from otio_heygen.run.ledger_sqlite import MIGRATIONS, SqliteLedgerStore

ACC = "heygen:abc"


@pytest.fixture
def store(tmp_path: Path) -> SqliteLedgerStore:
    s = SqliteLedgerStore.open(tmp_path / "ledger.sqlite")
    yield s
    s.close()


def test_fresh_file_is_migrated_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "ledger.sqlite"
    with SqliteLedgerStore.open(path) as s:
        assert s.migrations() == [name for name, _ in MIGRATIONS]
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"ledger_intents", "ledger_videos", "ledger_copies", "ledger_migrations"} <= tables


def test_migrations_are_append_only_and_applied_once(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    SqliteLedgerStore.open(path).close()
    extra = (*MIGRATIONS, ("002_test_extra", ("CREATE TABLE ledger_extra (x TEXT)",)))
    with SqliteLedgerStore.open(path, extra) as s:
        assert s.migrations() == ["001_ledger", "002_test_extra"]
    with SqliteLedgerStore.open(path, extra) as s:  # reopening applies nothing again (would fail: table exists)
        assert s.migrations() == ["001_ledger", "002_test_extra"]


def test_intent_then_video_then_copy(store: SqliteLedgerStore, tmp_path: Path) -> None:
    assert store.entry(ACC, "k1") is None
    intent = store.record_intent(ACC, "k1", idempotency_key="ik1", attempt=1, section="Chorus", seconds=4.0,
                                 cost_usd=0.4, now=100.0)
    assert (intent.may_have_reached, intent.first_sent_at) == (False, None)
    entry = store.entry(ACC, "k1")
    assert entry is not None and entry.status == "new" and entry.lost_intent is None
    store.mark_sending(ACC, "ik1", now=101.0)
    store.mark_sending(ACC, "ik1", now=999.0)  # first_sent_at keeps the first send
    entry = store.entry(ACC, "k1")
    assert entry is not None and entry.lost_intent is not None
    assert entry.lost_intent.first_sent_at == 101.0 and entry.status == "in_flight"
    store.record_video(ACC, "k1", "v1", idempotency_key="ik1", section="Chorus", seconds=4.0, cost_usd=0.4,
                       billed=True, state="rendering", now=102.0)
    entry = store.entry(ACC, "k1")
    assert entry is not None and entry.lost_intent is None and entry.in_flight is not None
    store.set_video_state(ACC, "v1", "completed", now=103.0, seconds=4.04)
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"video-bytes")
    AccountLedger(store, ACC).remember_copy("v1", clip, output=str(tmp_path / "a.otio"), now=104.0)
    entry = store.entry(ACC, "k1")
    assert entry is not None and entry.status == "owned"
    assert entry.owned is not None and entry.owned.seconds == 4.04 and entry.owned.billed
    assert [c.path for c in entry.copies] == [str(clip.resolve())]
    assert entry.copies[0].sha256 == sha256_of(clip) and entry.copies[0].size == len(b"video-bytes")
    # another account, same job key: nothing
    assert store.entry("heygen:other", "k1") is None
    assert store.entry(PREVIEW_ACCOUNT, "k1") is None


def test_refusal_only_clears_may_have_reached_when_told(store: SqliteLedgerStore) -> None:
    store.record_intent(ACC, "k", idempotency_key="ik", attempt=1, section="S", seconds=1, cost_usd=0.1, now=1)
    store.mark_sending(ACC, "ik", now=2)
    store.record_intent(ACC, "k", idempotency_key="ik", attempt=1, section="S", seconds=1, cost_usd=0.1, now=3)
    entry = store.entry(ACC, "k")
    assert entry is not None and entry.lost_intent is not None  # re-recording keeps the flag
    store.mark_refused(ACC, "ik")
    entry = store.entry(ACC, "k")
    assert entry is not None and entry.lost_intent is None and entry.next_attempt == 2


def test_failed_and_gone_videos_are_not_owned(store: SqliteLedgerStore) -> None:
    for vid, state in (("v1", "failed"), ("v2", "gone")):
        store.record_video(ACC, "k", vid, idempotency_key=None, section="S", seconds=1, cost_usd=0.1,
                           billed=state == "gone", state="rendering", now=1)
        store.set_video_state(ACC, vid, state, now=2)  # type: ignore[arg-type]
    entry = store.entry(ACC, "k")
    assert entry is not None and entry.status == "new" and entry.owned is None


def test_purchases_list_outputs_using_each_video(store: SqliteLedgerStore, tmp_path: Path) -> None:
    store.record_video(ACC, "k", "v1", idempotency_key="ik", section="Verse", seconds=3, cost_usd=0.3,
                       billed=True, state="completed", now=10)
    store.record_video("heygen:zzz", "k", "v9", idempotency_key="ik", section="Verse", seconds=3, cost_usd=0.3,
                       billed=True, state="completed", now=11)
    for name in ("a", "b"):
        clip = tmp_path / f"{name}.mp4"
        clip.write_bytes(b"x")
        AccountLedger(store, ACC).remember_copy("v1", clip, output=str(tmp_path / f"{name}.otio"), now=12)
    rows = store.purchases(ACC)
    assert [(r.video_id, r.section, r.cost_usd) for r in rows] == [("v1", "Verse", 0.3)]
    assert rows[0].outputs == (str(tmp_path / "a.otio"), str(tmp_path / "b.otio"))
    assert {r.account for r in store.purchases()} == {ACC, "heygen:zzz"}


def test_copy_verification_and_placing(tmp_path: Path, store: SqliteLedgerStore) -> None:
    src = tmp_path / "src.mp4"
    src.write_bytes(b"A" * 1000)
    copy = LocalCopy("v", str(src), 1000, sha256_of(src), None, 0.0)
    dest = tmp_path / "out" / "01_x_take1.mp4"
    assert verify_copy(copy) and place_copy(copy, dest)
    assert dest.read_bytes() == b"A" * 1000
    src.write_bytes(b"B" * 1000)  # same size, other bytes: the hash catches it
    assert not verify_copy(copy)
    assert not place_copy(copy, tmp_path / "other.mp4") and not (tmp_path / "other.mp4").exists()
    # the ledger drops a copy that no longer verifies
    store.record_video(ACC, "k", "v", idempotency_key=None, section="S", seconds=1, cost_usd=0, billed=False,
                       state="completed", now=1)
    store.add_copy(ACC, "v", path=str(src), size=1000, sha256=copy.sha256, output=None, now=1)
    ledger = AccountLedger(store, ACC)
    assert ledger.verified_copy("k", "v") is None
    entry = store.entry(ACC, "k")
    assert entry is not None and entry.copies == ()


def test_account_fingerprint_is_one_way_and_namespaced() -> None:
    key = "hg_secret_key_123"
    acc = account_for_key("heygen", key)
    assert acc.startswith("heygen:") and key not in acc and acc == account_for_key("heygen", key)
    assert acc != account_for_key("heygen", key + "x") != PREVIEW_ACCOUNT


def _hammer(path: str, worker: int, n: int) -> None:
    store = SqliteLedgerStore.open(Path(path))
    for i in range(n):
        key = f"w{worker}-{i}"
        store.record_intent(ACC, "shared", idempotency_key=key, attempt=i + 1, section="S", seconds=1,
                            cost_usd=0.1, now=float(i))
        store.mark_sending(ACC, key, now=float(i))
        store.record_video(ACC, "shared", f"v-{key}", idempotency_key=key, section="S", seconds=1, cost_usd=0.1,
                           billed=True, state="completed", now=float(i))
    store.close()


def test_concurrent_processes_on_a_new_file(tmp_path: Path) -> None:
    """Four processes open (and migrate) the same new file and write at once: nothing lost, no error."""
    path = str(tmp_path / "ledger.sqlite")
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_hammer, args=(path, w, 15)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    with SqliteLedgerStore.open(Path(path)) as s:
        entry = s.entry(ACC, "shared")
        assert entry is not None and len(entry.intents) == 60 and len(entry.videos) == 60
        assert s.migrations() == ["001_ledger"]


def test_location_from_env_and_config(tmp_path: Path) -> None:
    conf = tmp_path / "otio-heygen.toml"
    conf.write_text('ledger = "team/ledger.sqlite"\n')
    settings = load_settings(config_path=conf, env={})
    assert settings.ledger == str(tmp_path / "team" / "ledger.sqlite")
    settings = load_settings(config_path=conf, env={"OTIO_HEYGEN_LEDGER": str(tmp_path / "env.sqlite")})
    assert settings.ledger == str(tmp_path / "env.sqlite")
    assert load_settings(env={}).ledger is None
    store = open_ledger(settings.ledger)
    assert store.location == str(tmp_path / "env.sqlite") and (tmp_path / "env.sqlite").exists()
    store.close()


def test_postgresql_is_a_clear_config_error(tmp_path: Path) -> None:
    conf = tmp_path / "otio-heygen.toml"
    conf.write_text('ledger = "postgresql://team@db.example/otio"\n')
    settings = load_settings(config_path=conf, env={})
    with pytest.raises(ConfigError, match=r"PostgreSQL ledger .* not supported yet"):
        open_ledger(settings.ledger)
    with pytest.raises(ConfigError, match="must be a file path"):
        open_ledger("mysql://x/y")


def test_default_location_is_the_user_data_folder_and_tests_never_touch_the_real_one() -> None:
    path = default_ledger_path()
    assert path.name == "ledger.sqlite"
    assert "ledger-home" in str(path)  # conftest points platformdirs at a temp folder
    env_path = os.environ["OTIO_HEYGEN_LEDGER"]
    assert "ledger-home" in env_path and not Path(env_path).exists()


def test_unreadable_ledger_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(ConfigError, match="unreadable"):
        open_ledger(str(path))


def test_ledger_command_lists_what_the_account_bought(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from otio_heygen.cli.ledger_cmd import ledger as ledger_cmd

    monkeypatch.setenv("HEYGEN_API_KEY", "hg_key_for_this_test")
    runner = CliRunner()
    result = runner.invoke(ledger_cmd, [])
    assert result.exit_code == 0 and "nothing bought yet" in result.output
    account = account_for_key("heygen", "hg_key_for_this_test")
    store = open_ledger(os.environ["OTIO_HEYGEN_LEDGER"])
    store.record_video(account, "k", "v_123", idempotency_key="ik", section="Bridge", seconds=6.5, cost_usd=0.65,
                       billed=True, state="completed", now=1_764_270_000.0)
    store.record_video("heygen:someone-else", "k", "v_999", idempotency_key="ik", section="Intro", seconds=2,
                       cost_usd=0.2, billed=True, state="completed", now=1_764_270_000.0)
    store.close()
    result = runner.invoke(ledger_cmd, ["--json"])
    data = json.loads(result.output)
    assert [p["video_id"] for p in data["purchases"]] == ["v_123"]  # this key's account only
    assert data["bought"] == {"count": 1, "seconds": 6.5, "usd": 0.65}
    assert "hg_key_for_this_test" not in result.output
    result = runner.invoke(ledger_cmd, ["--all"])
    assert result.exit_code == 0 and "Bridge" in result.output and "Intro" in result.output
    assert "total bought: 2 video(s)" in result.output
