"""Benchmark: team mode, 4 workstations x 10 sections on one account limited to 10 renders.

Run on demand: ``python tests/bench/bench_team.py [--suites 4] [--sections 10] [--limit 10] [--render 4]``.

Starts a real PostgreSQL (``tests/support/pg.py``) and the fake HeyGen v3 server (real clock,
every render takes L seconds, ``max_concurrent`` = the account's limit: a create beyond it is a
429), then runs ``--suites`` real ``otio-heygen render`` processes at once, each on its own
10-section timeline (its own portrait, so 40 different renders), each with its own HOME and
output folder, all sharing the team ledger with ``--concurrency LIMIT``. Reports:

1. wall time (first process started -> last one exited) vs the ideal ceil(40/10) x L
   (target ratio <= 1.2), and the same for one suite alone (10 sections: ideal 1 x L) measured
   in the same run, so the fixed cost of a process (interpreter, timeline, conform) is visible;
2. 429s (must be 0), most renders at once at the account (must be <= the limit), renders bought
   (must be 40);
3. ledger round trips per section: transactions committed on the ledger's database
   (``pg_stat_database.xact_commit``) divided by the sections rendered;
4. the render span (the account's first create to its last render done, server clock) vs the
   ideal: how well the shared slots keep the account busy, apart from each process's own start
   (interpreter, uploads) and finish (download, sync check, conform, write).
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
from pytest_httpserver import HTTPServer

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.e2e.test_crash_resume import SECTIONS, write_timeline  # noqa: E402
from tests.support.heygen_fake import FAKE_API_KEY, FakeHeyGen, make_test_mp4, write_test_png  # noqa: E402
from tests.support.pg import PgServer, start_server  # noqa: E402

_SCRIPT = Path(sys.executable).with_name("otio-heygen")
CLI = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "otio_heygen.cli.main"]


def _commits(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()").fetchone()
    return int(row[0]) if row else 0


def run_suites(root: Path, fake: FakeHeyGen, url: str, suites: int, limit: int) -> float:
    timeline = write_timeline(root)
    procs = []
    start = time.monotonic()
    for i in range(suites):
        suite = root / f"suite-{i}"
        (suite / "home").mkdir(parents=True)
        image = write_test_png(suite / "portrait.png", size=512, shade=40 + 50 * i)  # its own renders
        env = {**os.environ, "HOME": str(suite / "home"), "HEYGEN_API_KEY": FAKE_API_KEY,
               "HEYGEN_API_URL": fake.base_url, "OTIO_HEYGEN_POLL_INTERVAL": "0.1",
               "OTIO_HEYGEN_ASSET_CACHE": str(suite / "assets.sqlite"), "OTIO_HEYGEN_LEDGER": url,
               "OTIO_HEYGEN_WORKSTATION": f"suite-{i}"}
        env.pop("OTIO_HEYGEN_CONFIG", None)
        args = [*CLI, "render", str(timeline), "-o", str(suite / "out" / "cut_avatar.otio"), "--image", str(image),
                "--audio", str(root / "song.wav"), "--concurrency", str(limit), "--json"]
        procs.append(subprocess.Popen(args, env=env, cwd=suite, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
    for proc in procs:
        _, err = proc.communicate(timeout=600)
        if proc.returncode != 0:
            raise SystemExit(f"a suite failed ({proc.returncode}): {err.decode(errors='replace')[-2000:]}")
    return time.monotonic() - start


def measure(server: PgServer, suites: int, sections: int, limit: int, render_s: float) -> dict[str, float]:
    url = server.new_database()
    httpd = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    httpd.start()
    root = Path(tempfile.mkdtemp(prefix="otio-heygen-bench-team-"))
    try:
        fake = FakeHeyGen(httpd, render_seconds=render_s, max_concurrent=limit,
                          video_bytes=make_test_mp4(sections and 2.0))
        before = _commits(url)
        wall = run_suites(root, fake, url, suites, limit)
        time.sleep(1.0)  # statistics reach pg_stat_database within a second of a session's end
        trips = _commits(url) - before
        total = suites * sections
        ideal = math.ceil(total / limit) * render_s
        created = sorted(v.created_at for v in fake.videos.values())
        span = created[-1] + render_s - created[0]  # first render started -> last render done (server clock)
        return {"wall_s": wall, "ideal_s": ideal, "ratio": wall / ideal, "span_s": span, "creates": fake.creates,
                "expected": total, "refusals_429": fake.concurrency_refusals, "max_in_flight": fake.max_in_flight,
                "round_trips_per_section": trips / total}
    finally:
        httpd.stop()
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    import logging

    logging.disable(logging.CRITICAL)  # the fake server's request log
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suites", type=int, default=4)
    parser.add_argument("--limit", type=int, default=10)
    parser.add_argument("--render", type=float, default=4.0, help="render time L of every section (s)")
    opts = parser.parse_args()
    with start_server() as server:
        if isinstance(server, str):
            raise SystemExit(server)
        one = measure(server, 1, SECTIONS, opts.limit, opts.render)
        team = measure(server, opts.suites, SECTIONS, opts.limit, opts.render)
    for name, m in (("1 suite x 10 sections", one), (f"{opts.suites} suites x 10 sections", team)):
        print(f"{name}: wall {m['wall_s']:.2f} s, ideal ceil({m['expected']:.0f}/{opts.limit}) x L = "
              f"{m['ideal_s']:.1f} s, ratio {m['ratio']:.2f}; bought {m['creates']:.0f}/{m['expected']:.0f}, "
              f"429s {m['refusals_429']:.0f}, most at once {m['max_in_flight']:.0f} (limit {opts.limit}), "
              f"ledger round trips per section {m['round_trips_per_section']:.1f}; renders ran from the first "
              f"create to the last done in {m['span_s']:.2f} s ({m['span_s'] / m['ideal_s']:.2f} x ideal)")
    print(f"team ratio {team['ratio']:.2f} (target <= 1.2); fixed cost of one suite alone: "
          f"{one['wall_s'] - one['ideal_s']:.1f} s over its ideal")


if __name__ == "__main__":
    main()
