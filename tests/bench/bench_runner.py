"""Benchmark: the runner's concurrency against a local HeyGen v3 server with render time L.

Run on demand: ``python tests/bench/bench_runner.py [--sections 20] [--concurrency 5] [--render 0.5]``.

Starts the fake HeyGen server (threaded, real clock, every render takes L seconds) in its own
process, as the real service is, so its CPU time does not compete with the client's threads, and
runs, through the real ``HeyGenBackend`` (httpx) and a real journal:

1. ``run_jobs`` with concurrency C: wall time vs the ideal ceil(N/C) x L (target ratio <= 1.3);
2. the same with C = 1 (one at a time, same fast polling) for scale;
3. the guide's loop (upload, create, then ``time.sleep(10)`` between status checks, one section
   after the other), computed: each render is seen done only at the next 10 s poll, so
   N x ceil(L / 10) x 10 s plus the per-section overhead measured in step 2;
4. a rerun of the finished N sections (zero uploads and creates): its wall time (target < 2 s),
   through ``run_jobs`` and through the whole ``otio-heygen render`` command (a subprocess:
   interpreter start, timeline read, plan, journal, conform and write included).
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path

import opentimelineio as otio
from pytest_httpserver import HTTPServer

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from otio_heygen.backends.heygen.backend import make_heygen_backend  # noqa: E402
from otio_heygen.run.journal import Journal  # noqa: E402
from otio_heygen.run.report import RunReport  # noqa: E402
from otio_heygen.run.runner import RunOptions, run_jobs  # noqa: E402
from tests.support.heygen_fake import FAKE_API_KEY, FakeHeyGen, make_test_mp4  # noqa: E402
from tests.support.runner_env import Pipeline, make_jobs  # noqa: E402

GUIDE_POLL_S = 10.0


def _serve(conn: Connection) -> None:
    """Child process: a fake HeyGen server. Commands: ("reset", L, echo_audio), ("counters",), ("stop",)."""
    import logging

    logging.disable(logging.CRITICAL)
    make_test_mp4()  # the fake server's one-time encode of its sample clip is not part of a run
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    fake: FakeHeyGen | None = None
    while True:
        command = conn.recv()
        if command[0] == "reset":
            server.clear()
            fake = FakeHeyGen(server, render_seconds=command[1], echo_audio=command[2])
            conn.send(fake.base_url)
        elif command[0] == "counters":
            assert fake is not None
            conn.send({"uploads": fake.upload_requests, "creates": fake.create_requests})
        else:
            server.stop()
            conn.send("stopped")
            return


class ServerProcess:
    """The fake server in a child process, driven through a pipe."""

    def __init__(self) -> None:
        self.conn, child = multiprocessing.Pipe()
        self.proc = multiprocessing.Process(target=_serve, args=(child,), daemon=True)
        self.proc.start()

    def reset(self, render_s: float, *, echo_audio: bool = False) -> str:
        self.conn.send(("reset", render_s, echo_audio))
        return str(self.conn.recv())

    def counters(self) -> dict[str, int]:
        self.conn.send(("counters",))
        return dict(self.conn.recv())

    def stop(self) -> None:
        self.conn.send(("stop",))
        self.conn.recv()
        self.proc.join(10)


def one_run(root: Path, base_url: str, sections: int, concurrency: int, poll: float) -> tuple[float, RunReport]:
    backend = make_heygen_backend(
        FAKE_API_KEY, base_url, concurrency=concurrency, asset_cache_path=root / "assets.sqlite3"
    )
    jobs = make_jobs(root, sections)
    pipeline = Pipeline(root)
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
                options=RunOptions(concurrency=concurrency, poll_interval_s=poll),
            )
            wall = time.perf_counter() - start
    finally:
        backend.close()
    assert not report.failures, report.failures
    return wall, report


def cli_rerun(root: Path, server: ServerProcess, n: int) -> tuple[float, int, int]:
    """Render an n-section timeline with the CLI, then time the rerun: (seconds, uploads, creates)."""
    samples = ROOT / "sample_timelines"
    shutil.copy(samples / "song.wav", root / "song.wav")
    shutil.copy(samples / "artist.png", root / "artist.png")
    rate, length = 25.0, 50

    def span(start: int, frames: int) -> otio.opentime.TimeRange:
        rt = otio.opentime.RationalTime
        return otio.opentime.TimeRange(rt(start, rate), rt(frames, rate))

    timeline = otio.schema.Timeline(name="bench")
    ref = otio.schema.ExternalReference(target_url=str(root / "song.wav"), available_range=span(0, n * length))
    song = otio.schema.Clip(name="song.wav", source_range=span(0, n * length), media_reference=ref)
    timeline.tracks.append(otio.schema.Track(name="A1", kind=otio.schema.TrackKind.Audio, children=[song]))
    for i in range(n):
        timeline.tracks.markers.append(otio.schema.Marker(name=f"Part {i + 1}", marked_range=span(i * length, length)))
    otio.adapters.write_to_file(timeline, str(root / "cut.otio"))
    base_url = server.reset(0.2, echo_audio=True)
    env = {
        **os.environ,
        "HEYGEN_API_KEY": FAKE_API_KEY,
        "HEYGEN_API_URL": base_url,
        "OTIO_HEYGEN_POLL_INTERVAL": "0.05",
        "OTIO_HEYGEN_ASSET_CACHE": str(root / "assets.sqlite"),
    }
    args = [sys.executable, "-m", "otio_heygen.cli.main", "render", str(root / "cut.otio"), "-o",
            str(root / "out" / "cut_avatar.otio"), "--image", str(root / "artist.png"), "--json"]  # fmt: skip
    subprocess.run(args, env=env, cwd=root, check=True, capture_output=True)
    before = server.counters()
    start = time.perf_counter()
    subprocess.run(args, env=env, cwd=root, check=True, capture_output=True)
    wall = time.perf_counter() - start
    after = server.counters()
    return wall, after["uploads"] - before["uploads"], after["creates"] - before["creates"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=5)
    parser.add_argument("--render", type=float, default=0.5, help="server render time L in seconds")
    parser.add_argument("--poll", type=float, default=0.02, help="runner poll interval in seconds")
    args = parser.parse_args()
    n, c, render_s = args.sections, args.concurrency, args.render

    server = ServerProcess()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            base_url = server.reset(render_s)
            (root / "a").mkdir()
            wall, report = one_run(root / "a", base_url, n, c, args.poll)
            before = server.counters()
            rerun_wall, rerun = one_run(root / "a", base_url, n, c, args.poll)
            after = server.counters()
            rerun_calls = (after["uploads"] - before["uploads"], after["creates"] - before["creates"])
            base_url = server.reset(render_s)
            (root / "b").mkdir()
            wall1, _ = one_run(root / "b", base_url, n, 1, args.poll)
            (root / "c").mkdir()
            cli_wall, cli_uploads, cli_creates = cli_rerun(root / "c", server, n)
    finally:
        server.stop()

    ideal = math.ceil(n / c) * render_s
    overhead = max(0.0, wall1 / n - render_s)  # per section: upload, create, download, journal
    guide = n * (math.ceil(render_s / GUIDE_POLL_S) * GUIDE_POLL_S + overhead)
    concurrent_ok = wall <= 1.3 * ideal
    print(f"N={n} sections, C={c}, render time L={render_s:.2f} s, runner poll {args.poll:.3f} s")
    print(
        f"  runner, C={c}:            {wall:7.2f} s   ideal ceil(N/C)*L = {ideal:.2f} s   "
        f"ratio {wall / ideal:.2f} (target <= 1.30) {'OK' if concurrent_ok else 'OVER'}"
    )
    print(f"  runner, C=1:             {wall1:7.2f} s   ({wall1 / wall:.1f}x slower than C={c})")
    print(
        f"  guide loop (poll {GUIDE_POLL_S:.0f} s): {guide:7.2f} s   computed: N * (ceil(L/10)*10 + "
        f"{overhead * 1000:.0f} ms)  -> {guide / wall:.0f}x slower"
    )
    print(
        f"  rerun of {n} done:        {rerun_wall:7.3f} s   uploads+creates {rerun_calls[0]}+{rerun_calls[1]}, "
        f"reused {rerun.reused} (target < 2 s) {'OK' if rerun_wall < 2 else 'OVER'}"
    )
    print(
        f"  CLI rerun of {n} done:    {cli_wall:7.3f} s   uploads+creates {cli_uploads}+{cli_creates} "
        f"(whole otio-heygen render process; target < 2 s) {'OK' if cli_wall < 2 else 'OVER'}"
    )
    print(f"  creates sent: {report.created}, spent ${report.spent_usd:.2f} (estimate)")
    reruns_ok = rerun_wall < 2 and rerun_calls == (0, 0) and cli_wall < 2 and (cli_uploads, cli_creates) == (0, 0)
    return 0 if concurrent_ok and reruns_ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
