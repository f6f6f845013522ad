"""The team ledger store on a real PostgreSQL server: the shared store contract, migrations,
workstations, the team budget under concurrent buyers, and account-wide render slots."""

from __future__ import annotations

import inspect
import threading
import time
from collections.abc import Iterator

import pytest

import tests.test_ledger as base
from otio_heygen.config import load_settings
from otio_heygen.errors import BudgetExceededError, ConfigError
from otio_heygen.run.ledger import open_ledger
from otio_heygen.run.ledger_pg import TEAM_MIGRATIONS, PgLedgerStore, redact_url
from otio_heygen.run.ledger_sqlite import MIGRATIONS
from otio_heygen.run.slots import ClaimWait, SlotWait
from otio_heygen.run.slots_pg import PgSlots

ACC = "heygen:team"

# every store test of the SQLite ledger runs again on PostgreSQL (same contract, same assertions)
for _name, _fn in list(vars(base).items()):
    if _name.startswith("test_") and "store" in inspect.signature(_fn).parameters:
        globals()[f"{_name}_on_postgresql"] = _fn


@pytest.fixture
def store(pg_url: str) -> Iterator[PgLedgerStore]:
    s = PgLedgerStore.open(pg_url, workstation="suite-a")
    yield s
    s.close()


def test_selected_by_env_and_migrated_once_by_concurrent_openers(pg_url: str) -> None:
    settings = load_settings(env={"OTIO_HEYGEN_LEDGER": pg_url, "OTIO_HEYGEN_WORKSTATION": "suite-b"})
    assert settings.ledger == pg_url and settings.workstation == "suite-b"
    opened: list[PgLedgerStore] = []
    errors: list[BaseException] = []

    def open_one() -> None:
        try:
            store = open_ledger(settings.ledger, workstation=settings.workstation)
            assert isinstance(store, PgLedgerStore)
            opened.append(store)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    names = [n for n, _ in (*MIGRATIONS, *TEAM_MIGRATIONS)]
    for store in opened:
        assert store.migrations() == names
        store.close()


def test_migrations_are_append_only(pg_url: str) -> None:
    PgLedgerStore.open(pg_url, workstation="a").close()
    extra = (*MIGRATIONS, *TEAM_MIGRATIONS, ("team_999_test", ("CREATE TABLE team_extra (x TEXT)",)))
    with PgLedgerStore.open(pg_url, workstation="a", migrations=extra) as s:
        assert s.migrations()[-1] == "team_999_test"
    with PgLedgerStore.open(pg_url, workstation="a", migrations=extra) as s:  # not applied twice
        assert s.migrations().count("team_999_test") == 1


def test_password_never_shown() -> None:
    assert redact_url("postgresql://u:pw@db:5433/x?sslmode=require") == "postgresql://u:***@db:5433/x?sslmode=require"
    assert redact_url("postgresql:///x?host=/tmp/s") == "postgresql:///x?host=/tmp/s"


def _buy(store: PgLedgerStore, job: str, cost: float, *, key: str | None = None, video: str | None = None) -> None:
    ik = key or f"ik-{job}"
    store.record_intent(ACC, job, idempotency_key=ik, attempt=1, section=job, seconds=cost * 10,
                        cost_usd=cost, now=time.time())
    store.mark_sending(ACC, ik, now=time.time())
    if video:
        store.record_video(ACC, job, video, idempotency_key=ik, section=job, seconds=cost * 10, cost_usd=cost,
                           billed=True, state="completed", now=time.time())


def test_purchases_carry_the_workstation(pg_url: str) -> None:
    with PgLedgerStore.open(pg_url, workstation="suite-a") as a, PgLedgerStore.open(pg_url, workstation="b") as b:
        _buy(a, "k1", 0.5, video="v1")
        _buy(b, "k2", 0.7, video="v2")
        rows = a.team_purchases(ACC)
    assert [(r.purchase.video_id, r.workstation) for r in rows] == [("v1", "suite-a"), ("v2", "b")]


def test_team_budget_is_a_hard_cap_across_workstations(pg_url: str) -> None:
    with PgLedgerStore.open(pg_url, workstation="a") as a:
        a.set_budget(ACC, 1.00, now=time.time())
        _buy(a, "k1", 0.40, video="v1")
        # refused on its only send: not spending
        a.record_intent(ACC, "kr", idempotency_key="ik-r", attempt=1, section="r", seconds=5, cost_usd=0.5,
                        now=time.time())
        a.mark_sending(ACC, "ik-r", now=time.time())
        a.mark_refused(ACC, "ik-r")
        assert a.committed(ACC) == 0.40
        stores = [PgLedgerStore.open(pg_url, workstation=f"w{i}") for i in range(4)]
        ok: list[str] = []
        refused: list[str] = []

        def buy(i: int) -> None:
            try:
                _buy(stores[i], f"c{i}", 0.20)
                ok.append(f"c{i}")
            except BudgetExceededError:
                refused.append(f"c{i}")

        threads = [threading.Thread(target=buy, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for s in stores:
            s.close()
        assert (len(ok), len(refused)) == (3, 1)  # 0.40 + 3 x 0.20 = 1.00: equal to the cap is accepted
        assert a.committed(ACC) == 1.00
        # a key already recorded is re-sent (same create), never refused by the cap
        bought = ok[0]
        assert a.record_intent(ACC, bought, idempotency_key=f"ik-{bought}", attempt=1, section=bought, seconds=2,
                               cost_usd=0.2, now=time.time()).idempotency_key == f"ik-{bought}"
        a.set_budget(ACC, None, now=time.time())
        _buy(a, "k9", 5.0)
        assert a.budget(ACC) is None


def test_slots_are_an_account_wide_limit_across_pools(pg_url: str) -> None:
    PgLedgerStore.open(pg_url, workstation="x").close()
    pools = [PgSlots(pg_url, ACC, 3, workstation=f"w{i}", lease_s=30) for i in range(3)]
    cancel = threading.Event()
    active = 0
    peak = 0
    lock = threading.Lock()

    def render(pool: PgSlots) -> None:
        nonlocal active, peak
        assert pool.take(cancel)
        with lock:
            active += 1
            peak = max(peak, active)
        time.sleep(0.02)
        with lock:
            active -= 1
        pool.give()

    threads = [threading.Thread(target=render, args=(pools[i % 3],)) for i in range(18)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak == 3
    for p in pools:
        assert p.held() == 0
        p.close()


def test_a_cancelled_wait_takes_nothing_and_close_gives_everything_back(pg_url: str) -> None:
    PgLedgerStore.open(pg_url, workstation="x").close()
    a = PgSlots(pg_url, ACC, 2, workstation="a", lease_s=30, recheck_s=0.05)
    b = PgSlots(pg_url, ACC, 2, workstation="b", lease_s=30, recheck_s=0.05)
    never = threading.Event()
    assert a.take(never) and a.take(never)
    cancel = threading.Event()
    cancel.set()
    assert not b.take(cancel) and b.held() == 0
    a.close()  # gives both back at once
    assert b.take(never) and b.take(never)
    b.close()


def test_a_claimed_section_is_waited_for_then_handed_over(pg_url: str) -> None:
    PgLedgerStore.open(pg_url, workstation="x").close()
    a = PgSlots(pg_url, ACC, 2, workstation="a", lease_s=30, recheck_s=0.05)
    b = PgSlots(pg_url, ACC, 2, workstation="b", lease_s=30, recheck_s=0.05)
    never = threading.Event()
    assert a.claim("job-1", never)
    assert a.claim("job-1", never)  # the holder may claim again (a rerun inside one process)
    got: list[bool] = []
    waiter = threading.Thread(target=lambda: got.append(b.claim("job-1", never)))
    waiter.start()
    waiter.join(0.3)
    assert waiter.is_alive() and got == [] and b.claim_waits >= 1  # B waits while A has it in hand
    assert b.claim("job-2", never)  # other sections are not held up
    a.unclaim("job-1")
    waiter.join(10)
    assert got == [True]
    cancel = threading.Event()
    cancel.set()
    assert not a.claim("job-1", cancel)  # B has it now; a cancelled wait gives up
    a.close()
    b.close()


NO_POLL = 300.0
"""A fallback poll that never comes within a test: only a NOTIFY can wake a waiter."""


def test_a_slot_given_back_wakes_a_waiting_workstation_without_polling(pg_url: str) -> None:
    PgLedgerStore.open(pg_url, workstation="x").close()
    a = PgSlots(pg_url, ACC, 1, workstation="a", lease_s=30, recheck_s=NO_POLL)
    b = PgSlots(pg_url, ACC, 1, workstation="b", lease_s=30, recheck_s=NO_POLL)
    never = threading.Event()
    assert a.take(never)
    waits: list[SlotWait] = []
    waiting = threading.Event()
    got: list[bool] = []

    def on_wait(wait: SlotWait) -> None:
        waits.append(wait)
        waiting.set()

    waiter = threading.Thread(target=lambda: got.append(b.take(never, on_wait)))
    waiter.start()
    assert waiting.wait(10)  # B found every slot in use and said so
    assert waits == [SlotWait(in_use=1, limit=1, holders={"a": 1})]
    assert "1 of 1 in use across the team (a: 1)" in waits[0].describe()
    a.give()  # its NOTIFY wakes B: no poll can (the next one is minutes away)
    waiter.join(10)
    assert got == [True] and b.held() == 1
    assert b.round_trips == 3  # register, the fruitless look, the look after the wake-up
    a.close()
    b.close()


def test_many_waiting_jobs_of_one_workstation_ask_the_database_together(pg_url: str) -> None:
    PgLedgerStore.open(pg_url, workstation="x").close()
    a = PgSlots(pg_url, ACC, 3, workstation="a", lease_s=30, recheck_s=NO_POLL)
    b = PgSlots(pg_url, ACC, 3, workstation="b", lease_s=30, recheck_s=NO_POLL)
    never = threading.Event()
    assert all(a.take(never) for _ in range(3))
    cancel = threading.Event()
    told = threading.Semaphore(0)
    got: list[bool] = []
    waiters = [threading.Thread(target=lambda: got.append(b.take(cancel, lambda w: told.release())))
               for _ in range(6)]
    for t in waiters:
        t.start()
    for _ in waiters:
        assert told.acquire(timeout=10)  # every one of the 6 jobs is waiting for the account
    looks = b.round_trips
    a.close()  # gives all 3 back at once
    while sum(got) < 3:
        assert b.round_trips - looks <= 4  # one look per wake-up for all six, not one each
        time.sleep(0.01)
    cancel.set()
    for t in waiters:
        t.join(10)
    assert sorted(got) == [False] * 3 + [True] * 3 and b.held() == 3
    assert looks <= 1 + 6 and b.round_trips - looks <= 4
    b.close()


def test_the_account_limit_is_the_lowest_concurrency_of_the_suites_running(pg_url: str) -> None:
    PgLedgerStore.open(pg_url, workstation="x").close()
    big = PgSlots(pg_url, ACC, 5, workstation="suite-big", lease_s=30, recheck_s=NO_POLL)
    small = PgSlots(pg_url, ACC, 2, workstation="suite-small", lease_s=30, recheck_s=NO_POLL)
    never = threading.Event()
    assert big.take(never) and big.take(never)
    cancel = threading.Event()
    waits: list[SlotWait] = []

    def give_up(wait: SlotWait) -> None:
        waits.append(wait)
        cancel.set()

    assert not big.take(cancel, give_up)  # a third render would overrun what suite-small asked for
    assert waits == [SlotWait(in_use=2, limit=2, holders={"suite-big": 2}, limited_by="suite-small")]
    assert "lowest --concurrency of the suites running (suite-small)" in waits[0].describe()
    assert not small.take(cancel)  # cancelled: nothing taken
    small.close()  # the careful suite left: its limit goes with it
    assert big.take(never) and big.take(never) and big.take(never) and big.held() == 5
    big.close()


def test_a_crashed_suite_limits_the_account_only_until_its_lease_ends(pg_url: str) -> None:
    PgLedgerStore.open(pg_url, workstation="x").close()
    crashed = PgSlots(pg_url, ACC, 1, workstation="crashed", lease_s=0.5, recheck_s=0.05)
    crashed._closed.set()  # its heartbeat stops, as if the machine lost power (nothing given back)
    suite = PgSlots(pg_url, ACC, 3, workstation="suite", lease_s=30, recheck_s=0.05)
    never = threading.Event()
    assert suite.take(never)
    assert suite.take(never) and suite.take(never)  # the lowest live suite's limit: the dead one's lapsed
    suite.close()
    crashed._conn.close()
    crashed._listen_conn.close()


def test_a_workstation_waiting_for_a_section_is_told_whose_render_and_woken_by_its_release(
    pg_url: str,
) -> None:
    store = PgLedgerStore.open(pg_url, workstation="edit-suite-2")
    a = PgSlots(pg_url, ACC, 2, workstation="edit-suite-2", lease_s=30, recheck_s=NO_POLL)
    b = PgSlots(pg_url, ACC, 2, workstation="edit-suite-1", lease_s=30, recheck_s=NO_POLL)
    never = threading.Event()
    assert a.claim("job-1", never)
    store.record_video(ACC, "job-1", "v_123", idempotency_key="k1", section="Part 2", seconds=2.0,
                       cost_usd=0.2, billed=True, state="rendering", now=1.0)
    told: list[ClaimWait] = []
    waiting = threading.Event()
    got: list[bool] = []

    def on_wait(wait: ClaimWait) -> None:
        told.append(wait)
        waiting.set()

    waiter = threading.Thread(target=lambda: got.append(b.claim("job-1", never, on_wait=on_wait)))
    waiter.start()
    assert waiting.wait(10)
    assert told == [ClaimWait("edit-suite-2", "v_123")]
    assert told[0].describe() == "edit-suite-2's render (video v_123)"
    a.unclaim("job-1")  # announced because B waits: B needs no poll
    waiter.join(10)
    assert got == [True]
    a.close()
    b.close()
    store.close()


def test_slot_lease_and_workstation_settings() -> None:
    settings = load_settings(env={"OTIO_HEYGEN_SLOT_LEASE": "2.5"})
    assert settings.slot_lease_s == 2.5 and settings.workstation  # default: the host name
    assert load_settings(env={}).slot_lease_s == 60.0
    with pytest.raises(ConfigError, match="OTIO_HEYGEN_SLOT_LEASE"):
        load_settings(env={"OTIO_HEYGEN_SLOT_LEASE": "0"})
