"""The import rules of ``.importlinter`` hold, and the checker really catches an upward import.

``lint-imports`` runs in ``.ci/run`` too; this test proves the contracts are not vacuous: a copy
of the package with one stage importing a stage above it must break the ``stages`` contract.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / ".importlinter"

pytest.importorskip("importlinter", reason="import-linter is installed by the [dev] extra")


def lint(tree: Path) -> subprocess.CompletedProcess[str]:
    """Run lint-imports on the ``otio_heygen`` package found in ``tree``."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    code = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"
    contracts = ["--contract", "stages", "--contract", "heygen-private"]
    args = [sys.executable, "-c", code, str(CONFIG), "--no-cache", *contracts]
    return subprocess.run(args, cwd=tree, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def package_copy(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "otio_heygen", tmp_path / "otio_heygen", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def test_the_package_keeps_its_layers(package_copy: Path) -> None:
    result = lint(package_copy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 2 kept, 0 broken" in result.stdout


def test_an_upward_import_is_caught(package_copy: Path) -> None:
    rates = package_copy / "otio_heygen" / "read" / "rates.py"
    rates.write_text(rates.read_text() + "\nfrom otio_heygen.run import runner  # upward: read -> run\n")
    result = lint(package_copy)
    assert result.returncode != 0
    assert "otio_heygen.read is not allowed to import otio_heygen.run" in result.stdout
    assert "otio_heygen.read.rates -> otio_heygen.run.runner" in result.stdout


def test_reaching_into_heygen_from_the_run_layer_is_caught(package_copy: Path) -> None:
    limits = package_copy / "otio_heygen" / "run" / "limits.py"
    limits.write_text(limits.read_text() + "\nfrom otio_heygen.backends.heygen import errors  # noqa\n")
    result = lint(package_copy)
    assert result.returncode != 0
    assert "otio_heygen.run.limits -> otio_heygen.backends.heygen.errors" in result.stdout
