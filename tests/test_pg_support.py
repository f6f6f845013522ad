"""The test setup's own PostgreSQL fallback: Debian's binaries start a real server the team ledger
migrates and uses (skipped, with the reason, on machines without the ``postgresql`` package)."""

from __future__ import annotations

from pathlib import Path

import pytest

from otio_heygen.run.ledger_pg import PgLedgerStore
from tests.support.pg import PgServer, start_server
from tests.support.pg_debian import debian_bin, start_debian


def test_the_newest_debian_version_is_chosen(tmp_path: Path) -> None:
    for version in ("13", "16", "9.6", "notaversion"):
        folder = tmp_path / version / "bin"
        folder.mkdir(parents=True)
        for tool in ("initdb", "pg_ctl"):
            (folder / tool).write_text("")
    (tmp_path / "17" / "bin").mkdir(parents=True)  # no binaries in it: not a server
    assert debian_bin((tmp_path,)) == tmp_path / "16" / "bin"
    assert debian_bin((tmp_path / "missing",)) is None


@pytest.mark.skipif(debian_bin() is None, reason="Debian's postgresql package is not installed")
def test_debian_binaries_start_a_server_the_team_ledger_uses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTIO_HEYGEN_TEST_PG", raising=False)
    monkeypatch.setenv("OTIO_HEYGEN_TEST_PG_DEBIAN", "1")
    with start_server() as server:
        assert isinstance(server, PgServer), server
        store = PgLedgerStore.open(server.new_database(), workstation="ci")
        try:
            assert "team_005_suites" in store.migrations()
        finally:
            store.close()
        folder = Path(server.admin_url.rsplit("host=", 1)[1])
        assert (folder / "data" / "PG_VERSION").is_file()
    assert not folder.exists()  # stopped and deleted


def test_no_binaries_is_a_clear_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTIO_HEYGEN_TEST_PG", raising=False)
    monkeypatch.setenv("OTIO_HEYGEN_TEST_PG_DEBIAN", "1")
    monkeypatch.setattr("tests.support.pg_debian.ROOTS", ())
    monkeypatch.setattr("tests.support.pg_debian.debian_bin", lambda roots=(): None)
    with start_server() as server:
        assert isinstance(server, str)
        assert "Debian's postgresql: no Debian PostgreSQL binaries" in server
    with pytest.raises(RuntimeError, match="no Debian PostgreSQL binaries"), start_debian():
        pass
