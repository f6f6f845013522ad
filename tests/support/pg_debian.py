"""A throwaway PostgreSQL from Debian's ``postgresql`` package (``/usr/lib/postgresql/*/bin``).

``tests/support/pg.py`` falls back to this when the ``pgserver`` wheel cannot start a server.
The cluster lives in a temporary folder, listens only on a Unix socket in that folder, trusts
local connections and runs without fsync (its data dies with the test session). PostgreSQL
refuses to run as root, so as root the server runs as the ``postgres`` system user the package
created (or ``nobody``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["debian_bin", "start_debian"]

ROOTS = (Path("/usr/lib/postgresql"),)


def debian_bin(roots: tuple[Path, ...] = ROOTS) -> Path | None:
    """The newest ``/usr/lib/postgresql/<version>/bin`` with ``initdb`` and ``pg_ctl``, if any."""
    found: list[tuple[int, Path]] = []
    for root in roots:
        for folder in root.glob("*/bin") if root.is_dir() else ():
            version = re.match(r"\d+", folder.parent.name)
            if version and (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
                found.append((int(version.group()), folder))
    return max(found)[1] if found else None


def _run_as() -> dict[str, Any]:
    """``subprocess`` arguments that drop root for the server (nothing when not root)."""
    if os.geteuid() != 0:
        return {}
    import pwd

    for name in ("postgres", "nobody"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
    raise RuntimeError("running as root and there is no postgres or nobody user to run PostgreSQL as")


@contextmanager
def start_debian() -> Iterator[str]:
    """Start a cluster; yield the URL of its ``postgres`` database; stop it and delete it after.
    Raises ``RuntimeError`` (with the reason) when no server can be started."""
    bin_dir = debian_bin()
    if bin_dir is None:
        raise RuntimeError("no Debian PostgreSQL binaries under /usr/lib/postgresql")
    as_user = _run_as()
    folder = Path(tempfile.mkdtemp(prefix="otio-heygen-pgdeb-"))
    data = folder / "data"
    if as_user:
        os.chown(folder, as_user["user"], as_user["group"])

    def run(*args: str) -> None:
        done = subprocess.run(args, cwd=folder, capture_output=True, text=True, timeout=120, **as_user)
        if done.returncode != 0:
            raise RuntimeError(f"{Path(args[0]).name} failed: {(done.stderr or done.stdout).strip()[-800:]}")

    try:
        run(str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        options = f"-k {folder} -c listen_addresses='' -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        run(str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(folder / "log"), "-o", options, "-w", "start")
    except Exception:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    try:
        yield f"postgresql://postgres@/postgres?host={folder}"
    finally:
        subprocess.run([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"], cwd=folder,
                       capture_output=True, timeout=120, **as_user)
        shutil.rmtree(folder, ignore_errors=True)
