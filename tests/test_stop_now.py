"""Ctrl-C twice: the runner stops waiting at once (``StopNow``), and the CLI removes this process's temp
files and exits 130 even while a worker thread is still busy. The signals are sent from inside the run
(a backend hook, the runner's own ``interrupted`` event), never after a delay."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from otio_heygen.errors import StopNow
from tests.support.runner_env import FAST, Env, make_jobs


def test_a_second_ctrl_c_stops_the_run_without_waiting_for_its_workers(tmp_path: Path) -> None:
    env = Env(tmp_path)
    jobs = make_jobs(env.root, 4)
    interrupted, held, release = threading.Event(), threading.Event(), threading.Event()
    env.listeners.append(lambda event: interrupted.set() if event["event"] == "interrupted" else None)

    def hold_the_first_create(number: int) -> None:
        if number != 1:
            return
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C: the run stops gracefully and waits for this worker
        assert interrupted.wait(10)
        held.set()
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C again while it waits
        release.wait(30)  # a call that does not end: the runner must not wait for it

    env.backend.on_create.append(hold_the_first_create)
    workers_before = set(threading.enumerate())
    try:
        with pytest.raises(StopNow):
            env.run(jobs, dataclasses.replace(FAST, concurrency=2))
        assert held.is_set() and not release.is_set()
    finally:
        release.set()
        for thread in set(threading.enumerate()) - workers_before:
            thread.join(10)
    assert isinstance(StopNow(), KeyboardInterrupt)  # code that handles Ctrl-C still handles it

    env.backend.on_create.clear()
    report = env.run(jobs)  # the journal stayed consistent: the rerun finishes and buys nothing twice
    assert len(report.results) == 4
    assert env.backend.creates == 4 and set(env.backend.creates_by_title.values()) == {1}


STOP_NOW_SCRIPT = r"""
import sys, threading
from pathlib import Path

import click

from otio_heygen.cli.main import cli, main
from otio_heygen.errors import StopNow
from otio_heygen.fsutil import create_temp_beside, create_temp_dir_beside

folder = Path(sys.argv[1])
ready = threading.Event()

def busy_worker():  # a download in progress that never ends: a normal exit would wait for it forever
    tmp = create_temp_beside(folder / "cut_media" / "Part_1.mp4", ".part")
    tmp.write_bytes(b"partial")
    ready.set()
    threading.Event().wait()

def render():
    create_temp_dir_beside(folder / "cut.otio", ".tmp")
    threading.Thread(target=busy_worker).start()
    ready.wait()
    print("temps made", flush=True)
    raise StopNow()

cli.add_command(click.Command("render-stub", callback=render))
sys.exit(main(["render-stub"]))
"""


def test_the_cli_stops_now_removes_every_temp_of_the_process_and_exits_130(tmp_path: Path) -> None:
    (tmp_path / "cut_media").mkdir()
    (tmp_path / "cut.otio").write_text("{}")
    proc = subprocess.run([sys.executable, "-c", STOP_NOW_SCRIPT, str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "temps made", proc.stderr
    assert proc.returncode == 130, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "run the same command again" in lines[0], proc.stderr
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["cut.otio", "cut_media"]
