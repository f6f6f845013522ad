"""A real PostgreSQL server for the team-ledger tests (never a mock).

Where it comes from, first that works:

1. ``OTIO_HEYGEN_TEST_PG``: the URL of a server (any database) someone started; each test gets a
   fresh database created on it.
2. The ``pgserver`` wheel (in the ``[dev]`` extra): PostgreSQL binaries shipped inside the
   wheel, started in a temporary folder on a Unix socket (as root it runs the server as its own
   system user ``pgserver``).

When neither works the tests that need a server are skipped, with the reason.
"""

from __future__ import annotations

import os
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

__all__ = ["PgServer", "start_server"]


@dataclass
class PgServer:
    admin_url: str
    """URL of the server's maintenance database (creates the per-test databases)."""
    handle: Any = None

    def url_for(self, database: str) -> str:
        parts = urlsplit(self.admin_url)
        return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))

    def new_database(self) -> str:
        import psycopg

        name = f"otio_heygen_t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url_for(name)


@contextmanager
def start_server() -> Iterator[PgServer | str]:
    """A running server, or the reason none could be started (a string)."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        yield 'psycopg is not installed (pip install -e ".[dev]")'
        return
    given = os.environ.get("OTIO_HEYGEN_TEST_PG", "").strip()
    if given:
        yield PgServer(given)
        return
    try:
        import pgserver
    except ImportError:
        yield "no PostgreSQL: the pgserver wheel is not installed and OTIO_HEYGEN_TEST_PG is not set"
        return
    folder = tempfile.mkdtemp(prefix="otio-heygen-pg-")
    try:
        server = pgserver.get_server(os.path.join(folder, "data"), cleanup_mode="delete")
    except Exception as exc:
        yield f"no PostgreSQL: pgserver could not start a server ({type(exc).__name__}: {exc})"
        return
    admin = server.get_uri("postgres")
    try:
        _throwaway_settings(admin)
        yield PgServer(admin, server)
    finally:
        server.cleanup()


def _throwaway_settings(admin_url: str) -> None:
    """No fsync for a server whose data dies with the test session (creating databases is then fast)."""
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        for name, value in (("fsync", "off"), ("synchronous_commit", "off"), ("full_page_writes", "off")):
            conn.execute(f"ALTER SYSTEM SET {name} = {value}")
        conn.execute("SELECT pg_reload_conf()")


def main() -> int:
    """``python -m tests.support.pg``: start a server, run one query, stop it (CI's check)."""
    with start_server() as server:
        if isinstance(server, str):
            print(f"PostgreSQL for the team-ledger tests: {server}", file=sys.stderr)
            return 1
        import psycopg

        with psycopg.connect(server.new_database(), autocommit=True) as conn:
            row = conn.execute("SELECT version()").fetchone()
        print(f"PostgreSQL for the team-ledger tests: {row[0] if row else '?'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
