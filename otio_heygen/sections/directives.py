"""Per-section settings written in a marker's note: ``key: value`` lines (pure).

``image: looks/red.png``, ``motion: nods to the beat``, ``takes: 3``... one per line, or several on
one line separated by ``;`` when every part is a known key. The first line that is not a
setting is the section's title when the marker has no name.
"""

from __future__ import annotations

import re

__all__ = ["DIRECTIVE_KEYS", "is_directive_line", "note_title", "parse_directives", "unknown_directive_keys"]

DIRECTIVE_KEYS: tuple[str, ...] = ("image", "motion", "expressiveness", "resolution", "aspect", "takes", "skip")
_DIRECTIVE_RE = re.compile(r"^\s*([A-Za-z][A-Za-z0-9_-]*)\s*:(?!//)\s*(.*?)\s*$")


def is_directive_line(line: str) -> bool:
    """Whether ``line`` reads as a ``key: value`` setting (known key or not)."""
    return _DIRECTIVE_RE.match(line) is not None


def _directive_lines(text: str) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for line in re.split(r"\r\n|\r|\n", text):
        parts = line.split(";")
        matches = [_DIRECTIVE_RE.match(p) for p in parts]
        if len(parts) > 1 and all(m and m.group(1).lower() in DIRECTIVE_KEYS for m in matches):
            pairs.extend((m.group(1).lower(), m.group(2)) for m in matches if m)
            continue
        m = _DIRECTIVE_RE.match(line)
        if m:
            pairs.append((m.group(1).lower(), m.group(2)))
    return pairs


def parse_directives(text: str) -> dict[str, str]:
    """``key: value`` lines of a marker note, known keys only (lower-cased); last one wins."""
    return {k: v for k, v in _directive_lines(text) if k in DIRECTIVE_KEYS}


def unknown_directive_keys(text: str) -> list[str]:
    """Keys of ``key: value`` lines that are not directives (reported as warnings)."""
    seen: list[str] = []
    for key, _ in _directive_lines(text):
        if key not in DIRECTIVE_KEYS and key not in seen:
            seen.append(key)
    return seen


def note_title(text: str) -> str:
    """The note's first line that is not a setting (at most 80 characters), else ``""``."""
    for line in re.split(r"\r\n|\r|\n", text):
        if line.strip() and not _DIRECTIVE_RE.match(line):
            return line.strip()[:80]
    return ""
