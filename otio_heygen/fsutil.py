"""Temp files and folders beside what we write: one naming scheme, a registry of the live ones, and the
sweep that removes the ones a dead process left behind.

Everything that writes media or a timeline atomically makes a hidden temp beside the destination and
renames it into place. Every such temp is made here and named

    ``.{stem}.oh-{host}-{pid}-{token}{suffix}``   e.g. ``.Part_1.oh-3fa2-48211-9c04e1d7.part``

(``host``: 4 hex of this machine's name, ``pid``: the process that made it, ``token``: random), so the
name itself says it is ours and who owns it. While it exists it is in this process's registry
(``create_temp_beside`` / ``create_temp_dir_beside`` / ``reserve_temp_beside`` add it;
``commit_temp`` / ``discard_temp`` / ``forget_temp`` drop it).

``remove_live_temps`` deletes every temp the registry holds: the CLI's "stop now" (a second Ctrl-C)
calls it before its hard exit, and it runs at interpreter exit for whatever a failed run left.
``remove_stale_temps`` is the backstop for a process that could not clean (SIGKILL, power loss): at
the start of a render it deletes the temps of our scheme whose owner is gone. See its docstring for
the exact rules, including the names earlier versions used.
"""

from __future__ import annotations

import atexit
import errno
import hashlib
import os
import re
import secrets
import shutil
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "FOREIGN_STALE_S",
    "LEGACY_QUIET_S",
    "TempName",
    "commit_temp",
    "create_temp_beside",
    "create_temp_dir_beside",
    "discard_temp",
    "forget_temp",
    "live_temps",
    "parse_temp_name",
    "pid_alive",
    "remove_live_temps",
    "remove_stale_temps",
    "reserve_temp_beside",
    "temp_name",
]

FOREIGN_STALE_S = 24 * 3600.0
"""A temp made on another machine (a shared drive) is only removed once untouched this long: its
process cannot be asked from here, and nothing we write keeps one temp open for a day."""

LEGACY_QUIET_S = 600.0
"""A temp named by an earlier version (no owner in its name) is only removed once untouched this long."""

_MARK = "oh"
_NAME = re.compile(
    r"^\.(?P<stem>.*)\.oh-(?P<host>[0-9a-f]{4})-(?P<pid>[1-9][0-9]{0,9})-(?P<token>[0-9a-f]{8})"
    r"(?P<suffix>(?:\.[A-Za-z0-9_-]+)*)$"
)
# what earlier versions made in the media folder and the journal's audio folder: create_temp_beside's
# ``.{stem}.{12 hex}{suffix}``, run/finished.py's ``.{name}.{pid}.tmp``, media/encode.py's mkstemp ``.part``
_LEGACY = (
    re.compile(r"^\..+\.[0-9a-f]{12}(?:\.mp4|\.part|\.mov\.part|\.link|\.jpg)$"),
    re.compile(r"^\..+\.[0-9]+\.tmp$"),
    re.compile(r"^\..+\.[a-z0-9_]{8}\.part$"),
)


def _host_tag(hostname: str) -> str:
    return hashlib.sha1(hostname.encode("utf-8", "surrogatepass")).hexdigest()[:4]


HOST = _host_tag(socket.gethostname())
"""This machine's tag in temp names."""


@dataclass(frozen=True)
class TempName:
    """The parts of a temp name of our scheme."""

    stem: str
    host: str
    pid: int
    token: str
    suffix: str


def temp_name(dest: Path, suffix: str, *, pid: int | None = None, host: str = HOST, token: str | None = None) -> str:
    """The name of a new temp for ``dest`` (``dest``'s stem, this process, a fresh random token)."""
    return (f".{Path(dest).stem}.{_MARK}-{host}-{os.getpid() if pid is None else pid}-"
            f"{secrets.token_hex(4) if token is None else token}{suffix}")


def parse_temp_name(name: str) -> TempName | None:
    """The parts of ``name`` when it is a temp of our scheme, else None."""
    match = _NAME.match(name)
    if match is None:
        return None
    return TempName(match["stem"], match["host"], int(match["pid"]), match["token"], match["suffix"])


class _Registry:
    """The temps of this process that exist (or may, for a reserved name), under one lock so that a
    temp is never made after ``remove_all(final=True)`` took the list."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.paths: dict[Path, None] = {}
        self.closed = False

    def make(self, dest: Path, suffix: str, create: Callable[[Path], None]) -> Path:
        for _ in range(100):
            tmp = Path(dest).parent / temp_name(dest, suffix)
            with self.lock:
                if self.closed:
                    raise OSError(errno.ECANCELED, "otio-heygen is stopping: no new temp files", str(tmp))
                try:
                    create(tmp)
                except FileExistsError:
                    continue
                self.paths[tmp] = None
            return tmp
        raise FileExistsError(f"cannot create a temp file beside {dest}")  # pragma: no cover

    def forget(self, tmp: Path) -> None:
        with self.lock:
            self.paths.pop(Path(tmp), None)

    def snapshot(self) -> list[Path]:
        with self.lock:
            return list(self.paths)

    def remove_all(self, *, final: bool) -> int:
        with self.lock:
            self.closed = self.closed or final
            paths, self.paths = list(self.paths), {}
        return sum(_remove(path) for path in paths)


_registry = _Registry()


def _create_file(mode: int) -> Callable[[Path], None]:
    def create(tmp: Path) -> None:
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode))

    return create


def create_temp_beside(dest: Path, suffix: str = ".part", *, mode: int = 0o666) -> Path:
    """A new, empty, registered temp file in ``dest``'s folder, created ``mode`` minus the umask
    (0666: like any export; ``mkstemp``'s 0600 would hide the clips from an editor's other tools, and
    reading the umask with ``os.umask`` would briefly change it for every thread of the runner)."""
    return _registry.make(Path(dest), suffix, _create_file(mode))


def create_temp_dir_beside(dest: Path, suffix: str = ".tmp") -> Path:
    """A new, empty, registered temp folder in ``dest``'s folder (mode 0700, like ``mkdtemp``)."""
    return _registry.make(Path(dest), suffix, lambda tmp: os.mkdir(tmp, 0o700))


def reserve_temp_beside(dest: Path, suffix: str) -> Path:
    """A registered temp name in ``dest``'s folder that nothing holds yet, for a temp made by
    ``os.link`` or a rename; ``remove_live_temps`` removes whatever is there by then."""

    def free(tmp: Path) -> None:
        if os.path.lexists(tmp):
            raise FileExistsError(tmp)

    return _registry.make(Path(dest), suffix, free)


def commit_temp(tmp: Path, dest: Path) -> None:
    """Rename the temp ``tmp`` onto ``dest`` (atomically) and drop it from the registry."""
    os.replace(tmp, dest)
    _registry.forget(tmp)


def discard_temp(tmp: Path) -> None:
    """Remove the temp ``tmp`` (a file or a folder; gone already is fine) and drop it from the registry."""
    _remove(Path(tmp))
    _registry.forget(tmp)


def forget_temp(tmp: Path) -> None:
    """Drop ``tmp`` from the registry without touching it (it was renamed away by other means)."""
    _registry.forget(tmp)


def live_temps() -> list[Path]:
    """The temps this process registered and has not committed or discarded yet."""
    return _registry.snapshot()


def remove_live_temps(*, final: bool = False) -> int:
    """Remove every temp this process registered; returns how many were there. With ``final`` (the
    process is about to exit at once) no temp can be made afterwards: a worker still running gets an
    ``OSError`` instead of leaving a new one behind."""
    return _registry.remove_all(final=final)


def _remove(path: Path) -> int:
    """Remove a file, link or folder tree; 1 when something was there."""
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    except FileNotFoundError:
        return 0
    except OSError:
        shutil.rmtree(path, ignore_errors=True)
        return 0 if os.path.lexists(path) else 1
    return 1


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` runs on this machine (unsure counts as alive: its temps are left)."""
    if pid <= 0:
        return True
    if sys.platform == "win32":
        import ctypes

        kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
        handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return ctypes.get_last_error() != 87  # ERROR_INVALID_PARAMETER: no such process
        try:
            code = ctypes.c_ulong()
            kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
            return code.value == 259  # STILL_ACTIVE
        finally:
            kernel32.CloseHandle(handle)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # EPERM: alive, another user's
    try:  # Linux: a killed child its parent has not reaped yet still answers kill(pid, 0)
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


def _stale(path: Path, now: float, legacy: bool, is_alive: Callable[[int], bool]) -> bool:
    parsed = parse_temp_name(path.name)
    try:
        age = now - path.lstat().st_mtime
    except OSError:
        return False
    if parsed is None:
        return legacy and age > LEGACY_QUIET_S and any(p.match(path.name) for p in _LEGACY)
    if parsed.host != HOST:
        return age > FOREIGN_STALE_S
    if parsed.pid == os.getpid():
        # a dead process's pid we were given again, unless this process made it
        return parsed.token not in {t.token for t in map(parse_temp_name, (p.name for p in live_temps())) if t}
    return not is_alive(parsed.pid)


def remove_stale_temps(
    folders: Iterable[Path],
    *,
    legacy_in: Iterable[Path] = (),
    now: float | None = None,
    is_alive: Callable[[int], bool] = pid_alive,
) -> list[Path]:
    """Remove the temps in ``folders`` (not below) that no live process owns; returns what went.

    A hidden name of our scheme (``temp_name``) made on this machine goes when its process is gone
    (or its pid is ours but this process never made it); one made on another machine only when
    untouched for ``FOREIGN_STALE_S``. In the ``legacy_in`` folders (the media folders and the journal's
    audio folder, which only our files live in) the names earlier versions used, with no owner in them,
    go when untouched for ``LEGACY_QUIET_S`` (a run of an old version would be writing to them).
    Anything else is never touched, nor a temp of a live process.
    """
    now = time.time() if now is None else now
    legacy = {Path(f) for f in legacy_in}
    removed: list[Path] = []
    for folder in dict.fromkeys(Path(f) for f in [*folders, *legacy]):
        try:
            names = [entry.name for entry in os.scandir(folder) if entry.name.startswith(".")]
        except OSError:
            continue
        for name in names:
            path = folder / name
            if _stale(path, now, folder in legacy, is_alive) and _remove(path):
                removed.append(path)
    return removed


atexit.register(remove_live_temps)  # a run that failed in a way no ``finally`` saw still leaves nothing
