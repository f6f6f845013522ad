"""Media URLs <-> local paths: the one place that reads and writes ``target_url`` / ``<pathurl>``.

Reading accepts every form NLEs write: ``file:///abs``, Premiere's ``file://localhost/abs`` and
``file://localhost/D%3a/...``, ``file://D:/...``, ``file:///C:/...``, UNC (``file://server/share``),
plain OS paths (POSIX or Windows) and paths relative to the timeline's folder (percent-encoded or not).
Writing makes the three forms the outputs need: ``file:///abs`` for OTIO, ``file://localhost/abs``
(percent-encoded, Windows drive as ``D%3a``) for FCP7 XML, and a forward-slash path relative to the
output's folder for ``--relative-paths``. Pure string work; only ``resolve_reference`` looks at the disk.
"""

from __future__ import annotations

import os
import re
import urllib.parse
from pathlib import Path, PurePath, PurePosixPath, PureWindowsPath

__all__ = [
    "fcp_path_url",
    "file_url",
    "is_relative_reference",
    "relative_url",
    "resolve_reference",
    "url_to_path",
]

_WIN_DRIVE = re.compile(r"^/?[A-Za-z]:([\\/]|$)")


def url_to_path(url: str, base: Path | None = None) -> PurePath:
    """The path a ``target_url`` names; a relative one is joined to ``base`` when given.

    Windows paths come back as ``PureWindowsPath`` (also on POSIX, where they cannot exist).
    """
    text = url.strip()
    if text.lower().startswith("file:"):
        parsed = urllib.parse.urlparse(text)
        path, netloc = urllib.parse.unquote(parsed.path), urllib.parse.unquote(parsed.netloc)
        if re.fullmatch(r"[A-Za-z]:", netloc):  # file://D:/Music/song.wav
            path = netloc + path
        elif netloc and netloc.lower() != "localhost" and not _WIN_DRIVE.match(path):
            return PureWindowsPath(f"//{netloc}{path}") if os.name == "nt" else Path(f"//{netloc}{path}")
        text = path
    if _WIN_DRIVE.match(text):
        win = PureWindowsPath(text.lstrip("/"))
        return Path(win) if os.name == "nt" else win
    if text.startswith("\\\\") or ("\\" in text and "/" not in text):  # UNC, or a Windows relative path
        win = PureWindowsPath(text)
        if win.is_absolute() or base is None:
            return win
        return base / Path(*win.parts)
    local = Path(text)
    if local.is_absolute() or base is None:
        return local
    return base / local


def is_relative_reference(url: str) -> bool:
    """True for a ``target_url`` that is a path relative to the timeline (no scheme, no root, no drive)."""
    if not url or _WIN_DRIVE.match(url) or url.startswith(("/", "\\")):
        return False
    scheme = urllib.parse.urlparse(url).scheme
    return not scheme


def resolve_reference(url: str, base: Path) -> Path | None:
    """The existing local file a ``target_url`` points at (relative ones against ``base``), or None.

    A relative reference is tried as written and percent-decoded (FCP7 XML encodes it).
    """
    scheme = urllib.parse.urlparse(url).scheme.lower()
    if scheme and scheme != "file" and not _WIN_DRIVE.match(url):
        return None
    candidates = [url]
    if is_relative_reference(url) and urllib.parse.unquote(url) != url:
        candidates.append(urllib.parse.unquote(url))
    for candidate in candidates:
        path = url_to_path(candidate, base)
        if isinstance(path, Path) and path.is_file():
            return path
    return None


def file_url(path: Path) -> str:
    """``file:///abs/path`` (percent-encoded) for an OTIO ``target_url``."""
    return Path(os.path.abspath(path)).as_uri()


def fcp_path_url(path: PurePath | str) -> str:
    """``file://localhost/`` + percent-encoded absolute path; a Windows drive becomes ``D%3a`` as
    Premiere writes it. A relative ``path`` is made absolute against the current folder first."""
    text = str(path)
    win = PureWindowsPath(text)
    if win.drive and len(win.drive) == 2 and win.drive[1] == ":":
        rest = win.as_posix()[2:].lstrip("/")
        return f"file://localhost/{win.drive[0]}%3a/{urllib.parse.quote(rest, safe='/')}"
    if not text.startswith(("/", "\\")):
        text = os.path.abspath(text)
    posix = PurePosixPath(text.replace("\\", "/")).as_posix().lstrip("/")
    return "file://localhost/" + urllib.parse.quote(posix, safe="/")


def relative_url(path: Path, out_dir: Path) -> str | None:
    """``path`` relative to ``out_dir`` with forward slashes (not encoded), or None across drives."""
    try:
        rel = os.path.relpath(os.path.abspath(path), os.path.abspath(out_dir))
    except ValueError:  # another drive on Windows: no relative path exists
        return None
    return rel.replace(os.sep, "/")
