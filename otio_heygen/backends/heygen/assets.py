"""The cross-run cache of uploaded asset ids (file sniffing and hashing live in ``media.files``).

The cache is a small SQLite file (default in the platformdirs user cache dir) keyed by
(API base URL, account fingerprint, file sha256). The fingerprint is a truncated sha256 of
the API key: the key itself is never stored.
"""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import platformdirs

__all__ = ["AssetCache", "account_fingerprint", "default_cache_path"]


def account_fingerprint(api_key: str) -> str:
    """Identifies an account in the cache without storing its key."""
    return hashlib.sha256(("otio-heygen:" + api_key).encode("utf-8")).hexdigest()[:16]


def default_cache_path() -> Path:
    return platformdirs.user_cache_path("otio-heygen") / "assets.sqlite3"


_SCHEMA = """
CREATE TABLE IF NOT EXISTS assets (
    base_url TEXT NOT NULL,
    account TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    kind TEXT NOT NULL,
    asset_id TEXT NOT NULL,
    uploaded_at REAL NOT NULL,
    PRIMARY KEY (base_url, account, sha256)
)
"""


class AssetCache:
    """Asset ids uploaded before, per (base URL, account). Safe to share between threads."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_cache_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute(_SCHEMA)

    def __repr__(self) -> str:
        return f"AssetCache({str(self.path)!r})"

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30.0)
        try:
            with db:
                yield db
        finally:
            db.close()

    def get(self, base_url: str, account: str, sha256: str) -> str | None:
        with self._connect() as db:
            row = db.execute(
                "SELECT asset_id FROM assets WHERE base_url=? AND account=? AND sha256=?",
                (base_url, account, sha256),
            ).fetchone()
        return str(row[0]) if row else None

    def put(self, base_url: str, account: str, sha256: str, kind: str, asset_id: str) -> None:
        with self._connect() as db:
            db.execute(
                "INSERT OR REPLACE INTO assets VALUES (?, ?, ?, ?, ?, ?)",
                (base_url, account, sha256, kind, asset_id, time.time()),
            )

    def forget(self, base_url: str, account: str, asset_id: str) -> int:
        """Drop an asset id the server no longer knows; returns how many rows went."""
        with self._connect() as db:
            cur = db.execute(
                "DELETE FROM assets WHERE base_url=? AND account=? AND asset_id=?", (base_url, account, asset_id)
            )
            return cur.rowcount
