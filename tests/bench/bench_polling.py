"""Benchmark: how close a batch gets to the account's limit, with the product's real poll policy.

Run on demand (not part of the test run)::

    python tests/bench/bench_polling.py                 # L = 3 s, longest-first, network down
    python tests/bench/bench_polling.py --render 30     # L = 30 s (takes a few minutes)

A fake HeyGen v3 server (``tests/support/heygen_fake.py``, threaded, real clock) runs in its own process,
as the real service does, with an account limit of C renders in flight (a create beyond it is
answered 429); the runner drives it through the real ``HeyGenBackend`` (httpx) and a real journal,
with ``RunOptions(concurrency=C)``: the default ``PollPolicy`` (5 % of elapsed, 1-30 s, one bulk
``GET /v3/videos/statuses`` per poll), not a test override. It prints:

1. N renders of L seconds at C concurrent: wall / ideal, ideal = ceil(N/C) x L (targets: <= 1.3
   at 3 s, <= 1.1 at 30 s), requests per render by endpoint; and, measured in the same run, the
   old way (one ``GET /v3/videos/{id}`` per render every 5 s) as the baseline.
2. Longest first vs marker order on a mix of section lengths, render time proportional to length
   (wall of each, and the lower bound max(longest render, total render time / C)).
3. Network down with a key set: ``otio-heygen render`` against a closed 127.0.0.1 port: exit code,
   seconds, the line printed (target: exit 1 within 15 s, one line, no traceback).
"""

from __future__ import annotations

import argparse
import logging
import math
import multiprocessing
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import wave
from collections import Counter
from multiprocessing.connection import Connection
from pathlib import Path

from pytest_httpserver import HTTPServer

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from otio_heygen.backends.heygen.backend import make_heygen_backend  # noqa: E402
from otio_heygen.planning.types import Job  # noqa: E402
from otio_heygen.run.journal import Journal  # noqa: E402
from otio_heygen.run.runner import RunOptions, run_jobs  # noqa: E402
from tests.e2e.test_failures_and_interrupts import CLI, write_timeline  # noqa: E402
from tests.support.heygen_fake import FAKE_API_KEY, FakeHeyGen, make_test_mp4  # noqa: E402
from tests.support.runner_env import Pipeline, make_jobs  # noqa: E402
from tests.test_runner_polling import jobs_of_lengths  # noqa: E402

MIX_S = [3, 4, 3, 5, 4, 3, 4, 5, 30, 30]
"""Section lengths (seconds) of the longest-first comparison, in marker order: the long ones last."""


def _serve(conn: Connection) -> None:
    """Child process: a fake HeyGen. Commands: ("reset", options), ("counts",), ("stop",)."""
    import logging

    logging.disable(logging.CRITICAL)
    make_test_mp4()  # the one-time encode of the sample clip is not part of a run
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    fake: FakeHeyGen | None = None
    while True:
        command = conn.recv()
        if command[0] == "reset":
            options = dict(command[1])
            factor = options.pop("render_factor", None)
            if factor is not None:
                options["render_time"] = lambda seconds, k=factor: k * seconds
            server.clear()
            fake = FakeHeyGen(server, echo_audio=False, **options)
            conn.send(fake.base_url)
        elif command[0] == "counts":
            assert fake is not None
            extra = {"refused_429": fake.concurrency_refusals, "max_in_flight": fake.max_in_flight}
            conn.send(dict(fake.counts) | extra)
        else:
            server.stop()
            conn.send("stopped")
            return


class ServerProcess:
    def __init__(self) -> None:
        self.conn, child = multiprocessing.Pipe()
        self.proc = multiprocessing.Process(target=_serve, args=(child,), daemon=True)
        self.proc.start()

    def reset(self, **options: object) -> str:
        self.conn.send(("reset", options))
        return str(self.conn.recv())

    def counts(self) -> Counter[str]:
        self.conn.send(("counts",))
        return Counter(self.conn.recv())

    def stop(self) -> None:
        self.conn.send(("stop",))
        self.conn.recv()
        self.proc.join(10)


class LongAudio(Pipeline):
    """Section audio as long as the section (the fake's render time follows the audio's length);
    silence, written at once, so making it costs nothing next to the renders."""

    def prepare_audio(self, job: Job) -> Path:
        path = self.audio_dir / f"{job.key[:16]}.wav"
        if not path.exists():
            frames = round(job.section.duration_frames / job.section.rate * 8000)
            with wave.open(str(path), "wb") as out:
                out.setnchannels(1)
                out.setsampwidth(2)
                out.setframerate(8000)
                out.writeframes(bytes(2 * frames))
        return path


def run(root: Path, base_url: str, jobs: list[Job], pipeline: Pipeline, options: RunOptions) -> float:
    """Wall seconds of one ``run_jobs`` with the real HeyGen backend."""
    backend = make_heygen_backend(
        FAKE_API_KEY, base_url, concurrency=options.concurrency, asset_cache_path=root / "assets.sqlite3"
    )
    try:
        with Journal.open(root / "out") as journal:
            start = time.perf_counter()
            report = run_jobs(
                jobs,
                backend=backend,
                journal=journal,
                prepare_audio=pipeline.prepare_audio,
                finish_clip=pipeline.finish_clip,
                media_dir=pipeline.media_dir,
                options=options,
            )
            wall = time.perf_counter() - start
    finally:
        backend.close()
    assert not report.failures, report.failures
    return wall


def per_render(counts: Counter[str], n: int) -> str:
    total = sum(v for k, v in counts.items() if k not in ("refused_429", "max_in_flight"))
    parts = ", ".join(f"{k} {counts[k] / n:.1f}" for k in ("statuses", "status", "upload", "create", "download"))
    return f"{total / n:.1f} requests per render ({parts}; 429s {counts['refused_429']})"


def throughput(server: ServerProcess, tmp: Path, n: int, c: int, render_s: float, baseline: bool) -> bool:
    ideal = math.ceil(n / c) * render_s
    target = 1.3 if render_s < 10 else 1.1
    print(f"1. N={n} renders of L={render_s:g} s, account limit C={c}; ideal ceil(N/C)*L = {ideal:.1f} s")
    rows: list[tuple[str, RunOptions, dict[str, object]]] = [
        ("default poll policy (bulk)", RunOptions(concurrency=c), {})
    ]
    if baseline:
        rows.append(("old way: GET each every 5 s", RunOptions(concurrency=c, poll_interval_s=5.0),
                     {"refuse_statuses": 404}))  # fmt: skip
    ok = True
    for i, (label, options, extra) in enumerate(rows):
        base_url = server.reset(render_seconds=render_s, max_concurrent=c, **extra)
        root = tmp / f"t{render_s:g}_{i}"
        root.mkdir()
        wall = run(root, base_url, make_jobs(root, n), Pipeline(root), options)
        counts = server.counts()
        verdict = ""
        if i == 0:
            ok = wall / ideal <= target
            verdict = f" (target <= {target}) {'OK' if ok else 'OVER'}"
        print(f"   {label:29s} {wall:7.2f} s   wall/ideal {wall / ideal:.2f}{verdict}")
        print(f"   {'':29s} {per_render(counts, n)}")
    return ok


def longest_first(server: ServerProcess, tmp: Path, c: int, factor: float) -> None:
    renders = [factor * s for s in MIX_S]
    bound = max(max(renders), sum(renders) / c)
    print(f"2. sections of {MIX_S} s in marker order, render time {factor:g} x length, C={c}; "
          f"lower bound {bound:.1f} s")  # fmt: skip
    walls = {}
    for label, first in (("marker order", False), ("longest first", True)):
        base_url = server.reset(render_factor=factor, max_concurrent=c)
        root = tmp / f"mix_{first}"
        root.mkdir()
        walls[label] = run(root, base_url, jobs_of_lengths(root, MIX_S), LongAudio(root),
                           RunOptions(concurrency=c, longest_first=first))  # fmt: skip
        print(f"   {label:14s} {walls[label]:7.2f} s   / lower bound {walls[label] / bound:.2f}")
    print(f"   marker order / longest first = {walls['marker order'] / walls['longest first']:.2f}")


def network_down(tmp: Path) -> bool:
    timeline = write_timeline(tmp / "down", 4)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "HEYGEN_API_KEY": FAKE_API_KEY, "HEYGEN_API_URL": f"http://127.0.0.1:{port}",
           "OTIO_HEYGEN_ASSET_CACHE": str(tmp / "down_assets.sqlite")}  # fmt: skip
    env.pop("OTIO_HEYGEN_POLL_INTERVAL", None)
    out = tmp / "down_out" / "cut_avatar.otio"
    start = time.perf_counter()
    args = [*CLI, "render", str(timeline), "-o", str(out), "--image", str(timeline.parent / "artist.png")]
    proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    wall = time.perf_counter() - start
    lines = proc.stderr.strip().splitlines()
    ok = proc.returncode == 1 and wall < 15 and len(lines) == 1 and "Traceback" not in proc.stderr
    ok = ok and not out.parent.exists()
    print(f"3. network down (closed port {port}): exit {proc.returncode} after {wall:.1f} s, "
          f"{len(lines)} line(s), output folder {'written' if out.parent.exists() else 'not created'} "
          f"(target: exit 1 within 15 s, one line) {'OK' if ok else 'FAILED'}")  # fmt: skip
    print(f"   {lines[0] if lines else ''}")
    shutil.rmtree(tmp / "down", ignore_errors=True)
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=5)
    parser.add_argument("--render", type=float, default=3.0, help="render time L in seconds")
    parser.add_argument("--factor", type=float, default=0.5, help="render seconds per section second (part 2)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the old-way baseline of part 1")
    parser.add_argument("--only-throughput", action="store_true", help="part 1 only")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # "clip lasts 1 s" warnings: the fake sends a fixed clip
    server = ServerProcess()
    ok = True
    try:
        with tempfile.TemporaryDirectory() as tmp:
            ok = throughput(server, Path(tmp), args.sections, args.concurrency, args.render, not args.no_baseline)
            if not args.only_throughput:
                longest_first(server, Path(tmp), args.concurrency, args.factor)
                ok = network_down(Path(tmp)) and ok
    finally:
        server.stop()
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
