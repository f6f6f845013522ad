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
   (``pg_stat_database.xact_commit``) divided by the sections rendered (this also counts the
   short transaction in which a listening session reads a ``NOTIFY``, and autovacuum's);
   with ``--trace`` (a server from the pgserver wheel, whose log is readable) also the
   statements the suites sent, per section and by kind;
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
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

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


def _log_of(server: PgServer) -> Path | None:
    log = getattr(server.handle, "log", None)
    return Path(log) if log is not None and Path(log).is_file() else None


def _statements(log_text: str) -> Counter[str]:
    """Transactions the clients sent, by kind (first words of their first statement)."""
    import re

    per_session: dict[str, list[str]] = {}
    lines = log_text.splitlines()
    for at, line in enumerate(lines):
        found = re.search(r"\[(\d+)\] LOG:  (?:statement|execute [^:]*): (.*)", line)
        if found:  # a statement starting with a line break goes on on the next log line
            text = found.group(2).strip() or (lines[at + 1].strip() if at + 1 < len(lines) else "")
            per_session.setdefault(found.group(1), []).append(text)
    kinds: Counter[str] = Counter()
    for statements in per_session.values():
        it = iter(statements)
        for first in it:
            if first == "BEGIN":
                first = next(it, "")
                for rest in it:
                    if rest in ("COMMIT", "ROLLBACK"):
                        break
            kinds[" ".join(first.split()[:6])[:60]] += 1
    return kinds


def measure(
    server: PgServer, suites: int, sections: int, limit: int, render_s: float, trace: bool = False
) -> dict[str, Any]:
    url = server.new_database()
    log = _log_of(server) if trace else None
    if log is not None:
        with psycopg.connect(server.admin_url, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{urlsplit(url).path.lstrip("/")}" SET log_statement = \'all\'')
        log_start = log.stat().st_size
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
        sent: Counter[str] = Counter()
        if log is not None:
            with log.open("rb") as fh:
                fh.seek(log_start)
                sent = _statements(fh.read().decode(errors="replace"))
            for kind in [k for k in sent if k.startswith(("SELECT pg_stat_clear_snapshot", "SELECT xact_commit"))]:
                del sent[kind]  # the bench's own
        ideal = math.ceil(total / limit) * render_s
        created = sorted(v.created_at for v in fake.videos.values())
        span = created[-1] + render_s - created[0]  # first render started -> last render done (server clock)
        return {"wall_s": wall, "ideal_s": ideal, "ratio": wall / ideal, "span_s": span, "creates": fake.creates,
                "expected": total, "refusals_429": fake.concurrency_refusals, "max_in_flight": fake.max_in_flight,
                "round_trips_per_section": trips / total, "sent": sent}
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
    parser.add_argument("--trace", action="store_true", help="also count the statements the suites sent, by kind")
    opts = parser.parse_args()
    with start_server() as server:
        if isinstance(server, str):
            raise SystemExit(server)
        one = measure(server, 1, SECTIONS, opts.limit, opts.render, opts.trace)
        team = measure(server, opts.suites, SECTIONS, opts.limit, opts.render, opts.trace)
    for name, m in (("1 suite x 10 sections", one), (f"{opts.suites} suites x 10 sections", team)):
        print(f"{name}: wall {m['wall_s']:.2f} s, ideal ceil({m['expected']:.0f}/{opts.limit}) x L = "
              f"{m['ideal_s']:.1f} s, ratio {m['ratio']:.2f}; bought {m['creates']:.0f}/{m['expected']:.0f}, "
              f"429s {m['refusals_429']:.0f}, most at once {m['max_in_flight']:.0f} (limit {opts.limit}), "
              f"ledger round trips per section {m['round_trips_per_section']:.1f}; renders ran from the first "
              f"create to the last done in {m['span_s']:.2f} s ({m['span_s'] / m['ideal_s']:.2f} x ideal)")
    print(f"team ratio {team['ratio']:.2f} (target <= 1.2); fixed cost of one suite alone: "
          f"{one['wall_s'] - one['ideal_s']:.1f} s over its ideal")
    for name, m in (("1 suite", one), (f"{opts.suites} suites", team)):
        sent = m["sent"]
        if not sent:
            continue
        print(f"{name}: statements sent per section {sum(sent.values()) / m['expected']:.1f}, by kind:")
        for kind, count in sent.most_common():
            print(f"  {count / m['expected']:5.2f}  {kind}")


if __name__ == "__main__":
    main()
