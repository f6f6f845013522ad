"""The front door's first users keep their contracts: the CLI (and Resolve's menu script) choose the
default backend themselves, and say so only once the input has been checked."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from otio_heygen.adapters.resolve import otio_heygen_resolve as script
from otio_heygen.cli.main import main
from otio_heygen.cli.options import NO_KEY_NOTICE, backend_for
from tests.conftest import SAMPLES
from tests.support.heygen_fake import FAKE_API_KEY, FakeHeyGen

KEY = "sk_V2_hgu_abcdefghijklmnopqrstuvwxyz0123456789"


def test_the_cli_default_is_heygen_with_a_key_else_preview_with_a_notice(monkeypatch: pytest.MonkeyPatch) -> None:
    assert backend_for(None) == ("preview", NO_KEY_NOTICE)
    assert backend_for("heygen") == ("heygen", None)  # named: no notice, key or not
    monkeypatch.setenv("HEYGEN_API_KEY", KEY)
    assert backend_for(None) == ("heygen", None)
    assert backend_for("preview") == ("preview", None)


def test_the_resolve_script_chooses_like_the_cli(monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert script._backend(None) == "preview"
    assert "rendering offline previews" in capsys.readouterr().out
    monkeypatch.setenv("HEYGEN_API_KEY", KEY)
    assert script._backend(None) == "heygen" and script._backend("preview") == "preview"
    assert capsys.readouterr().out == ""


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    dest = tmp_path / "sample"
    shutil.copytree(SAMPLES, dest, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return dest / "demo_resolve.otio"


def test_json_render_says_which_backend_first_then_the_run(sample: Path, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "o" / "demo_avatar.otio"
    assert main(["render", str(sample), "-o", str(out), "--only", "Intro", "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines[0] == {"event": "notice", "message": NO_KEY_NOTICE}
    kinds = [line["event"] for line in lines]
    assert kinds.count("notice") == 1 and kinds[-2:] == ["written", "result"] and "plan" in kinds
    assert lines[-1]["backend"] == "preview" and [c["section"] for c in lines[-1]["clips"]] == ["Intro"]
    assert list(lines[-1]["clips"][0]) == ["section", "take", "start_frame", "end_frame", "media", "video_id",
                                           "job_key", "sync_offset_ms", "bought", "reused"]


def test_json_render_refused_for_bad_input_prints_only_the_error(sample: Path, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["render", str(sample), "-o", str(tmp_path / "o.otio"), "--only", "Nope", "--json"])
    captured = capsys.readouterr()
    (line,) = captured.out.splitlines()
    assert code == 2 and json.loads(line)["event"] == "error" and "Nope" in json.loads(line)["message"]
    assert "previews" not in captured.err  # the default-backend notice waits for valid input


def test_account_reads_the_balance_through_the_heygen_plugin(
    httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FakeHeyGen(httpserver, balance=12.5)
    monkeypatch.setenv("HEYGEN_API_KEY", FAKE_API_KEY)
    monkeypatch.setenv("HEYGEN_API_URL", fake.base_url)
    assert main(["account", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["balance"] == 12.5 and info["api_url"] == fake.base_url

    monkeypatch.setenv("HEYGEN_API_KEY", FAKE_API_KEY + "x")  # refused: the same exit code as before
    assert main(["account"]) == 1
    captured = capsys.readouterr()
    assert "otio-heygen: error:" in captured.err and FAKE_API_KEY not in captured.err + captured.out
