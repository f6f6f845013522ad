"""Small file-system helpers shared by everything that writes media atomically."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

__all__ = ["create_temp_beside"]


def create_temp_beside(dest: Path, suffix: str = ".part") -> Path:
    """A new, empty temp file in ``dest``'s folder, created 0666 minus the umask like any export.

    ``mkstemp`` makes 0600 files (an editor's other tools could not read the clips), and reading
    the umask with ``os.umask`` would briefly change it for every thread of the runner.
    """
    for _ in range(100):
        tmp = dest.parent / f".{dest.stem}.{secrets.token_hex(6)}{suffix}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return tmp
    raise FileExistsError(f"cannot create a temp file beside {dest}")  # pragma: no cover
