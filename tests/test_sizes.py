"""Size check anyone can run: no module over 400 lines, no function over 80 lines in the core.

``python -m tests.test_sizes`` prints every offender; the test fails on any. The limits keep each
module one job a newcomer can read at once (docs/style.md: "around 400 lines at most").
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORE = ("otio_heygen", "cli", "adapters")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80


def offenders(root: Path = ROOT, tops: tuple[str, ...] = CORE) -> list[str]:
    """One line per module or function over its limit, as ``path[:line] name: N lines``."""
    found: list[str] = []
    for top in tops:
        for path in sorted((root / top).rglob("*.py")):
            source = path.read_text(encoding="utf-8")
            rel = path.relative_to(root)
            lines = source.count("\n")
            if lines > MAX_MODULE_LINES:
                found.append(f"{rel}: module of {lines} lines (limit {MAX_MODULE_LINES})")
            for node in ast.walk(ast.parse(source)):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    length = (node.end_lineno or node.lineno) - node.lineno + 1
                    if length > MAX_FUNCTION_LINES:
                        found.append(f"{rel}:{node.lineno} {node.name}: {length} lines (limit {MAX_FUNCTION_LINES})")
    return found


def test_no_module_or_function_over_its_size_limit() -> None:
    assert offenders() == []


def test_the_check_reports_a_long_function_and_a_long_module(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))  # def line + 80 = 81 lines
    (pkg / "long_function.py").write_text(f"def long():\n{body}\n")
    (pkg / "long_module.py").write_text("\n".join(f"y{i} = {i}" for i in range(MAX_MODULE_LINES + 1)) + "\n")
    (pkg / "fine.py").write_text("def short():\n    return 1\n")
    assert offenders(tmp_path, ("pkg",)) == [
        "pkg/long_function.py:1 long: 81 lines (limit 80)",
        "pkg/long_module.py: module of 401 lines (limit 400)",
    ]


if __name__ == "__main__":
    report = offenders()
    print("\n".join(report) if report else "every module and function is within its size limit")
    sys.exit(1 if report else 0)
