"""One SQLite write transaction, the way every store here needs it: ``BEGIN IMMEDIATE`` (take the
write lock up front, so two processes never both read-then-write), ``ROLLBACK`` on any error,
``COMMIT`` otherwise. Connections run in autocommit mode (``isolation_level=None``), where
``with db:`` would not open a transaction at all."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["immediate_transaction"]


@contextmanager
def immediate_transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
