"""The poll policy (pure, table- and simulation-tested) and the run's one poller thread (injected time)."""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path

import pytest

from otio_heygen.planning.types import RemoteStatus, RenderRequest
from otio_heygen.run.contract import AssetKind, BulkStatusRefused, NotFound, RateLimited, TransportError
from otio_heygen.run.poll import BULK_MAX_IDS, Poller, PollPolicy, next_poll_at

POLICY = PollPolicy()


# -- the policy --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("elapsed", "interval"),
    [(0.0, 1.0), (5.0, 1.0), (20.0, 1.0), (30.0, 1.5), (100.0, 5.0), (600.0, 30.0), (36_000.0, 30.0), (-3.0, 1.0)],
)
def test_interval_is_5_percent_of_elapsed_between_1_and_30_s(elapsed: float, interval: float) -> None:
    assert POLICY.interval(elapsed) == pytest.approx(interval)


def test_fixed_interval_overrides_everything() -> None:
    fixed = PollPolicy.fixed(0.05)
    assert [fixed.interval(e) for e in (0.0, 100.0, 10_000.0)] == [0.05] * 3
    assert fixed.gap(1) == fixed.gap(50) == 0.05


def test_gap_keeps_within_the_request_budget() -> None:
    assert POLICY.gap(1) == 1.0  # never more often than once a second
    assert POLICY.gap(10) == 10 / POLICY.max_requests_per_s  # ten one-by-one checks: 2 per second


@pytest.mark.parametrize("elapsed", [20.0, 60.0, 300.0, 900.0, 3600.0])
def test_worst_detection_lag_is_about_5_percent(elapsed: float) -> None:
    assert POLICY.max_lag_ratio(elapsed) <= 0.08


def test_first_poll_one_interval_after_creation_then_every_interval() -> None:
    assert next_poll_at(POLICY, [(100.0, None)], last_poll=None, last_cost=0) == 101.0
    assert next_poll_at(POLICY, [(100.0, 101.0)], last_poll=101.0, last_cost=1) == 102.0
    assert next_poll_at(POLICY, [(100.0, 400.0)], last_poll=400.0, last_cost=1) == pytest.approx(415.0)
    assert next_poll_at(POLICY, [], last_poll=None, last_cost=0) == math.inf


def test_renders_created_in_a_burst_are_polled_together_when_the_last_is_due() -> None:
    burst = [(0.0, None), (0.1, None), (0.3, None)]
    assert next_poll_at(POLICY, burst, last_poll=None, last_cost=0) == pytest.approx(1.3)
    apart = [(0.0, None), (0.8, None)]  # too far apart: the first is not made to wait for the second
    assert next_poll_at(POLICY, apart, last_poll=None, last_cost=0) == 1.0


def test_gap_and_retry_after_push_the_next_poll_back() -> None:
    renders = [(0.0, None)]
    assert next_poll_at(POLICY, renders, last_poll=0.5, last_cost=1) == 1.5
    assert next_poll_at(POLICY, renders, last_poll=0.5, last_cost=12) == 6.5  # 12 requests at 2/s
    assert next_poll_at(POLICY, renders, last_poll=0.5, last_cost=1, hold_until=9.0) == 9.0


def _simulate(ends: Sequence[tuple[float, float]], policy: PollPolicy) -> tuple[list[float], int]:
    """Poll renders ``(start, end)`` on the pure schedule; (detection lag of each, polls made)."""
    seen: dict[int, float] = {}
    polled: dict[int, float | None] = {i: None for i in range(len(ends))}
    last: float | None = None
    polls = 0
    while len(seen) < len(ends):
        live = [i for i in range(len(ends)) if i not in seen]
        now = next_poll_at(policy, [(ends[i][0], polled[i]) for i in live], last_poll=last, last_cost=1)
        polls += 1
        last = now
        for i in live:
            polled[i] = now
            if now >= ends[i][1]:
                seen[i] = now - ends[i][1]
    return [seen[i] for i in range(len(ends))], polls


@pytest.mark.parametrize("render_s", [3.0, 30.0, 60.0, 300.0, 900.0, 1800.0])
def test_simulated_detection_lag_stays_near_5_percent_of_render_time(render_s: float) -> None:
    lags, polls = _simulate([(0.0, render_s)], POLICY)
    assert lags[0] <= max(POLICY.min_interval_s, 0.05 * render_s) + 1e-9
    assert polls <= render_s + 1  # never more than one poll a second


def test_a_15_minute_render_costs_about_a_hundred_polls_for_all_renders_in_flight() -> None:
    ten = [(i * 0.05, 900.0 + i * 0.05) for i in range(10)]
    lags, polls = _simulate(ten, POLICY)
    assert max(lags) <= 0.05 * 900 + POLICY.coalesce_s and 80 <= polls <= 120  # one request per poll, not per render


# -- the poller thread ---------------------------------------------------------------------------------


class FakeTime:
    """A clock that moves only when slept on; ``gate`` holds sleepers until the test is ready."""

    def __init__(self) -> None:
        self.t = 0.0
        self.lock = threading.Lock()
        self.gate = threading.Event()
        self.gate.set()

    def clock(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.gate.wait(10)
        with self.lock:
            self.t += seconds
        time.sleep(0)


class Service:
    """Renders done after ``polls`` polls each; counts calls; optional bulk endpoint."""

    name = "svc"
    price_per_second = 0.0

    def __init__(self, time_: FakeTime, *, polls: int = 3) -> None:
        self.time = time_
        self.polls = polls
        self.seen: dict[str, int] = {}
        self.status_calls: list[tuple[str, float]] = []
        self.lock = threading.Lock()
        self.errors: list[Exception] = []
        self.unknown: set[str] = set()

    def upload(self, path: Path, kind: AssetKind) -> str:
        raise NotImplementedError

    def create(self, request: RenderRequest, image_asset: str, audio_asset: str, idempotency_key: str) -> str:
        raise NotImplementedError

    def download(self, video_id: str, request: RenderRequest, dest: Path) -> None:
        raise NotImplementedError

    def _look(self, video_id: str) -> RemoteStatus:
        self.seen[video_id] = self.seen.get(video_id, 0) + 1
        done = self.seen[video_id] >= self.polls
        return RemoteStatus(state="completed" if done else "rendering", raw_status="completed" if done else "queued")

    def status(self, video_id: str) -> RemoteStatus:
        with self.lock:
            self.status_calls.append((video_id, self.time.t))
            if video_id in self.unknown:
                raise NotFound(f"no video {video_id}")
            return self._look(video_id)


class BulkService(Service):
    def __init__(self, time_: FakeTime, *, polls: int = 3, refuse: bool = False) -> None:
        super().__init__(time_, polls=polls)
        self.refuse = refuse
        self.bulk_calls: list[tuple[tuple[str, ...], float]] = []

    def statuses(self, video_ids: Sequence[str]) -> Mapping[str, RemoteStatus]:
        with self.lock:
            self.bulk_calls.append((tuple(video_ids), self.time.t))
            if self.refuse:
                raise BulkStatusRefused("404")
            if self.errors:
                raise self.errors.pop(0)
            return {v: self._look(v) for v in video_ids if v not in self.unknown}


def follow(poller: Poller, video_ids: Sequence[str], ft: FakeTime | None = None) -> dict[str, list[str]]:
    """Watch every id from its own thread, like jobs do; the raw statuses (or error names) each saw.
    With ``ft``, time stands still until every id is watched."""
    seen: dict[str, list[str]] = {v: [] for v in video_ids}
    ready = threading.Barrier(len(video_ids) + 1)
    if ft is not None:
        ft.gate.clear()

    def job(video_id: str) -> None:
        with poller.watch(video_id) as watch:
            ready.wait()
            while True:
                try:
                    status = watch.next()
                except Exception as exc:
                    seen[video_id].append(type(exc).__name__)
                    if isinstance(exc, NotFound):
                        return
                    continue
                if status is None:
                    seen[video_id].append("cancelled")
                    return
                seen[video_id].append(status.raw_status)
                if status.state == "completed":
                    return

    threads = [threading.Thread(target=job, args=(v,)) for v in video_ids]
    for thread in threads:
        thread.start()
    ready.wait()
    if ft is not None:
        ft.gate.set()
    for thread in threads:
        thread.join(timeout=20)
        assert not thread.is_alive()
    return seen


@pytest.fixture
def ft() -> FakeTime:
    return FakeTime()


def test_one_bulk_request_per_poll_covers_every_render(ft: FakeTime) -> None:
    service = BulkService(ft, polls=3)
    poller = Poller(service, POLICY, clock=ft.clock, sleep=ft.sleep)
    ids = [f"v{i}" for i in range(7)]
    seen = follow(poller, ids, ft)
    poller.close()
    assert all(statuses == ["queued", "queued", "completed"] for statuses in seen.values())
    assert len(service.bulk_calls) == 3 and service.status_calls == []
    assert poller.requests == 3 and poller.polls == 3
    times = [t for _, t in service.bulk_calls]
    assert all(b - a >= POLICY.min_interval_s for a, b in itertools.pairwise(times))


def test_more_than_100_renders_cost_one_request_per_100(ft: FakeTime) -> None:
    service = BulkService(ft, polls=1)
    poller = Poller(service, POLICY, clock=ft.clock, sleep=ft.sleep)
    follow(poller, [f"v{i}" for i in range(BULK_MAX_IDS + 30)], ft)
    poller.close()
    assert sorted(len(ids) for ids, _ in service.bulk_calls) == [30, BULK_MAX_IDS] and poller.requests == 2


def test_refused_bulk_endpoint_falls_back_to_one_status_per_render_for_good(ft: FakeTime) -> None:
    service = BulkService(ft, polls=2, refuse=True)
    poller = Poller(service, POLICY, clock=ft.clock, sleep=ft.sleep)
    seen = follow(poller, ["a", "b", "c"], ft)
    poller.close()
    assert all(statuses == ["queued", "completed"] for statuses in seen.values())
    assert len(service.bulk_calls) == 1 and poller.bulk_refused
    assert sorted(v for v, _ in service.status_calls) == ["a", "a", "b", "b", "c", "c"]
    # three requests per poll at 2 per second: the second poll came at least 1.5 s after the first
    first, second = sorted({t for _, t in service.status_calls})
    assert second - first >= 1.5


def test_a_backend_without_bulk_is_polled_one_by_one(ft: FakeTime) -> None:
    service = Service(ft, polls=1)
    poller = Poller(service, POLICY, clock=ft.clock, sleep=ft.sleep)
    assert follow(poller, ["a", "b"], ft) == {"a": ["completed"], "b": ["completed"]}
    poller.close()
    assert poller.bulk is None and len(service.status_calls) == 2


def test_ids_missing_from_the_bulk_answer_are_checked_one_by_one(ft: FakeTime) -> None:
    service = BulkService(ft, polls=1)
    service.unknown = {"gone"}
    poller = Poller(service, POLICY, clock=ft.clock, sleep=ft.sleep)
    seen = follow(poller, ["ok", "gone"], ft)
    poller.close()
    assert seen == {"ok": ["completed"], "gone": ["NotFound"]}
    assert [v for v, _ in service.status_calls] == ["gone"]


def test_errors_reach_every_watcher_and_retry_after_holds_the_next_poll(ft: FakeTime) -> None:
    service = BulkService(ft, polls=1)
    service.errors = [TransportError("server error"), RateLimited("slow down", retry_after=7.0)]
    poller = Poller(service, POLICY, clock=ft.clock, sleep=ft.sleep)
    seen = follow(poller, ["a", "b"], ft)
    poller.close()
    assert seen == {v: ["TransportError", "RateLimited", "completed"] for v in ("a", "b")}
    times = [t for _, t in service.bulk_calls]
    assert len(times) == 3 and times[2] - times[1] >= 7.0


def test_cancel_releases_the_watchers(ft: FakeTime) -> None:
    service = BulkService(ft, polls=10_000)
    cancel = threading.Event()
    poller = Poller(service, PollPolicy.fixed(0.5), clock=ft.clock, sleep=ft.sleep, cancel=cancel)
    result: list[RemoteStatus | None] = []
    with poller.watch("a") as watch:
        result.append(watch.next())
        cancel.set()
        result.append(watch.next())
    poller.close()
    assert result[0] is not None and result[0].raw_status == "queued" and result[1] is None


def test_polls_wait_for_every_watcher_to_take_the_last_answer(ft: FakeTime) -> None:
    """Lockstep: a job busy elsewhere is never skipped over, and a fake clock cannot run away."""
    service = BulkService(ft, polls=10_000)
    poller = Poller(service, PollPolicy.fixed(1.0), clock=ft.clock, sleep=ft.sleep)
    with ExitStack() as stack:
        a = stack.enter_context(poller.watch("a"))
        stack.enter_context(poller.watch("b"))  # registered, but nobody takes its answers
        assert a.next() is not None
        time.sleep(0.3)  # real time for the poller thread to (wrongly) poll on
        assert len(service.bulk_calls) == 1 and ft.t == pytest.approx(1.0)
    poller.close()


def test_real_time_poller_wakes_for_a_render_due_sooner() -> None:
    """Real clock: while the poller waits 5 s for render a's first poll, a render adopted from an
    earlier run (due at once) is polled right away, not at a's time."""
    service = BulkService(FakeTime(), polls=1)
    poller = Poller(service, PollPolicy(min_interval_s=5.0, max_interval_s=5.0, coalesce_s=0.0))
    with poller.watch("a"):
        time.sleep(0.1)
        started = time.monotonic()
        with poller.watch("b", poll_now=True) as b:
            status = b.next()
        waited = time.monotonic() - started
    poller.close()
    assert status is not None and status.state == "completed" and waited < 2.0
    assert [ids for ids, _ in service.bulk_calls] == [("a", "b")]


def test_a_poller_that_breaks_fails_its_watchers_instead_of_leaving_them_waiting(ft: FakeTime) -> None:
    class Broken(PollPolicy):
        def gap(self, requests: int) -> float:
            raise ZeroDivisionError("bug")

    service = BulkService(ft, polls=10)
    poller = Poller(service, Broken(), clock=ft.clock, sleep=ft.sleep)
    with poller.watch("a") as watch:
        assert watch.next() is not None  # the first poll needs no gap
        with pytest.raises(RuntimeError, match="status poller stopped: bug"):
            watch.next()
    poller.close()
