"""A real PostgreSQL server for the team-ledger tests (never a mock).

Where it comes from, first that works:

1. ``OTIO_HEYGEN_TEST_PG``: the URL of a server (any database) someone started; each test gets a
   fresh database created on it.
2. The ``pgserver`` wheel (in the ``[dev]`` extra): PostgreSQL binaries shipped inside the
   wheel, started in a temporary folder on a Unix socket (as root it runs the server as its own
   system user ``pgserver``).
3. Debian's ``postgresql`` package (``tests/support/pg_debian.py``): ``initdb``/``pg_ctl`` from
   ``/usr/lib/postgresql/*/bin`` in a temporary folder (as root, run as the ``postgres`` user).
   ``OTIO_HEYGEN_TEST_PG_DEBIAN=1`` goes straight to it (CI can check both ways work).

When none works the tests that need a server are skipped, with the reason (every way's).
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
    why = "the pgserver wheel was not tried (OTIO_HEYGEN_TEST_PG_DEBIAN=1)"
    if os.environ.get("OTIO_HEYGEN_TEST_PG_DEBIAN", "").strip() not in ("1", "true", "yes"):
        with _pgserver() as found:
            if not isinstance(found, str):
                yield found
                return
            why = found
    from tests.support.pg_debian import start_debian

    try:
        debian = start_debian()
        admin = debian.__enter__()
    except RuntimeError as exc:
        yield f"no PostgreSQL: {why}; Debian's postgresql: {exc}"
        return
    try:
        yield PgServer(admin, debian)
    finally:
        debian.__exit__(None, None, None)


@contextmanager
def _pgserver() -> Iterator[PgServer | str]:
    """A server from the ``pgserver`` wheel, or why there is none."""
    try:
        import pgserver
    except ImportError:
        yield "the pgserver wheel is not installed"
        return
    folder = tempfile.mkdtemp(prefix="otio-heygen-pg-")
    try:
        server = pgserver.get_server(os.path.join(folder, "data"), cleanup_mode="delete")
    except Exception as exc:
        yield f"pgserver could not start a server ({type(exc).__name__}: {exc})"
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
