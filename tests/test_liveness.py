"""Run liveness: which runs of an output's journal still have a working process."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from otio_heygen.errors import OutputBusyError
from otio_heygen.run.journal import Journal
from otio_heygen.run.journal_records import RunRecord
from otio_heygen.run.liveness import STALE_AFTER_S, Heartbeat, liveness, pid_alive


def run(**fields: object) -> RunRecord:
    base: dict[str, object] = {
        "id": 1, "started_at": 100.0, "finished_at": None, "backend": "heygen", "outcome": None,
        "pid": 4242, "host": "suite-1", "heartbeat_at": 190.0,
    }
    base.update(fields)
    return RunRecord(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("record", "host", "alive", "state"),
    [
        (run(finished_at=150.0, outcome="complete"), "suite-1", False, "finished"),
        (run(), "suite-1", True, "alive"),
        (run(), "suite-1", False, "gone"),  # this machine: the pid tells at once
        (run(heartbeat_at=200.0 - STALE_AFTER_S - 1), "suite-1", True, "gone"),  # a reused pid, or hung
        (run(), "suite-2", False, "alive"),  # another machine: only the heartbeat can tell
        (run(heartbeat_at=200.0 - STALE_AFTER_S - 1), "suite-2", True, "gone"),
        (run(pid=None, heartbeat_at=None), "suite-1", True, "unknown"),  # an earlier version's run
    ],
    ids=["finished", "alive", "pid-gone", "stale-here", "other-host-fresh", "other-host-stale", "no-pid"],
)
def test_liveness(record: RunRecord, host: str, alive: bool, state: str) -> None:
    asked: list[int] = []

    def probe(pid: int) -> bool:
        asked.append(pid)
        return alive

    seen = liveness(record, now=200.0, host=host, is_alive=probe)
    assert seen.state == state
    if host != record.host:
        assert asked == []  # a pid means nothing on another machine


def test_pid_alive_tells_a_reaped_and_an_unreaped_dead_child_from_a_live_one() -> None:
    assert pid_alive(os.getpid())
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    assert pid_alive(child.pid)
    child.kill()
    child.stdin.close()  # type: ignore[union-attr]
    os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # dead, but not reaped yet: a zombie
    assert not pid_alive(child.pid)
    child.wait()
    assert not pid_alive(child.pid) and not pid_alive(0)


def test_a_live_run_keeps_other_processes_out_and_a_dead_one_is_closed_as_killed(tmp_path: Path) -> None:
    clock = [1_000.0]
    with Journal.open(tmp_path, now=lambda: clock[0]) as journal:
        first = journal.start_run("heygen")
        journal._db.execute("UPDATE runs SET pid = 999999 WHERE id = ?", (first,))  # another process's run
        clock[0] += 5
        with pytest.raises(OutputBusyError, match=r"process 999999 on .* is rendering it"):
            journal.start_run("heygen", is_alive=lambda pid: pid == 999999)
        assert [r.id for r in journal.runs()] == [first]  # nothing written
        second = journal.start_run("heygen", is_alive=lambda pid: False)
        runs = journal.runs()
    assert [(r.id, r.outcome, r.pid) for r in runs] == [(first, "killed", 999999), (second, None, os.getpid())]
    assert runs[0].finished_at == 1_005.0 and runs[1].heartbeat_at == 1_005.0


def test_heartbeat_refreshes_the_run_until_stopped(tmp_path: Path) -> None:
    clock = [1_000.0]
    beats = threading.Semaphore(0)
    with Journal.open(tmp_path, now=lambda: clock[0]) as journal:
        run_id = journal.start_run("heygen")
        clock[0] = 1_010.0

        def beat() -> None:
            journal.heartbeat(run_id)
            beats.release()

        with Heartbeat(beat, interval_s=0.001):
            assert beats.acquire(timeout=30)
        assert journal.runs()[0].heartbeat_at == 1_010.0


def test_a_failing_beat_does_not_stop_the_heartbeat() -> None:
    calls = threading.Semaphore(0)
    count = [0]

    def beat() -> None:
        count[0] += 1
        calls.release()
        if count[0] == 1:
            raise OSError("disk full for a moment")

    with Heartbeat(beat, interval_s=0.001):
        assert calls.acquire(timeout=30) and calls.acquire(timeout=30)
    assert count[0] >= 2
