"""Tests for ``otio-heygen key set|clear|status`` (cli/key_cmd.py).

The commands run through click's CliRunner with the key piped in (``input=``) and a key file under
``tmp_path`` (OTIO_HEYGEN_KEY_FILE); the hidden prompt is exercised in a real pseudo-terminal.
"""

from __future__ import annotations

import os
import select
import stat
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from otio_heygen.cli.key_cmd import key, key_hint
from otio_heygen.config import load_settings
from otio_heygen.errors import ConfigError

KEY = "hg_live_SECRET_0123456789abcdef"
OTHER = "hg_live_OTHER_ffffffffffff7777"


@pytest.fixture
def key_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "config" / "otio-heygen" / "heygen_api_key"
    monkeypatch.setenv("OTIO_HEYGEN_KEY_FILE", str(path))
    return path


def run(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(key, list(args), input=input, catch_exceptions=True)


def all_text(result: Result) -> str:
    return result.output + repr(result.exception) + str(result.exception)


def assert_secret_free(text: str, secret: str = KEY) -> None:
    assert secret not in text
    assert secret[4:-4] not in text


def config_error(result: Result) -> ConfigError:
    assert isinstance(result.exception, ConfigError), result.output
    assert result.exception.exit_code == 2
    return result.exception


# ------------------------------------------------------------------------------------ key set


def test_set_from_stdin_writes_a_private_file(key_path: Path) -> None:
    result = run("set", input=f"  {KEY}  \n")
    assert result.exit_code == 0, all_text(result)
    assert key_path.read_text(encoding="utf-8") == KEY + "\n"
    if os.name == "posix":
        assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert [p.name for p in key_path.parent.iterdir()] == ["heygen_api_key"]  # no temp file left
    assert "…cdef" in result.output and str(key_path) in result.output
    assert_secret_free(all_text(result))
    settings = load_settings()
    assert settings.api_key is not None and settings.api_key.get_secret_value() == KEY
    assert settings.key_source == f"file:{key_path}"


def test_set_accepts_a_windows_line_ending_and_replaces_the_old_key(key_path: Path) -> None:
    assert run("set", input=OTHER).exit_code == 0
    result = run("set", input=f"\r\n{KEY}\r\n\r\n")
    assert result.exit_code == 0, all_text(result)
    assert key_path.read_text(encoding="utf-8") == KEY + "\n"
    assert_secret_free(all_text(result))
    assert_secret_free(result.output, OTHER)


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("", "no API key given"),
        ("   \n\n", "no API key given"),
        (f"{KEY}\n{KEY}\n", "more than one line"),
        (f"{KEY} {KEY}\n", "spaces, line breaks or unusual characters"),
        (f"{KEY}\x07\n", "spaces, line breaks or unusual characters"),
        (KEY * 200, "too long"),
    ],
)
def test_set_refuses_bad_input_and_writes_nothing(key_path: Path, given: str, message: str) -> None:
    result = run("set", input=given)
    error = config_error(result)
    assert message in error.one_line()
    assert not key_path.exists()
    assert not key_path.parent.exists() or list(key_path.parent.iterdir()) == []
    assert_secret_free(all_text(result))


def test_set_bad_input_keeps_the_old_key(key_path: Path) -> None:
    assert run("set", input=OTHER).exit_code == 0
    config_error(run("set", input=f"{KEY}\n{KEY}"))
    assert key_path.read_text(encoding="utf-8") == OTHER + "\n"


def test_set_notes_that_the_env_key_wins(key_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEYGEN_API_KEY", OTHER)
    result = run("set", input=KEY)
    assert result.exit_code == 0
    assert "HEYGEN_API_KEY is set" in result.output
    assert_secret_free(all_text(result))
    assert_secret_free(all_text(result), OTHER)


# ------------------------------------------------------------------------------------ key status


def test_status_without_a_key(key_path: Path) -> None:
    result = run("status")
    assert result.exit_code == 0
    assert "not set" in result.output and "otio-heygen key set" in result.output
    assert str(key_path) in result.output


def test_status_from_the_file_shows_only_the_last_4(key_path: Path) -> None:
    run("set", input=KEY)
    result = run("status")
    assert result.exit_code == 0
    assert "set (…cdef), from key file" in result.output and str(key_path) in result.output
    assert_secret_free(all_text(result))
    assert KEY[-5:] not in result.output


def test_status_from_env_also_reports_the_file(key_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run("set", input=KEY)
    monkeypatch.setenv("HEYGEN_API_KEY", OTHER)
    result = run("status")
    assert result.exit_code == 0
    assert "(…7777), from HEYGEN_API_KEY" in result.output
    assert "also holds a key (HEYGEN_API_KEY wins)" in result.output
    assert_secret_free(all_text(result))
    assert_secret_free(all_text(result), OTHER)


def test_status_never_hints_a_short_key(key_path: Path) -> None:
    short = "abc12345"
    run("set", input=short)
    result = run("status")
    assert result.exit_code == 0 and "set, from key file" in result.output
    assert "2345" not in result.output
    assert key_hint(short) == "" and key_hint(KEY) == "…cdef"


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_status_refuses_a_key_file_others_can_read(key_path: Path) -> None:
    run("set", input=KEY)
    key_path.chmod(0o644)
    error = config_error(run("status"))
    assert f"chmod 600 {key_path}" in error.one_line()
    assert_secret_free(error.one_line())


# ------------------------------------------------------------------------------------ key clear


def test_clear_removes_the_file(key_path: Path) -> None:
    run("set", input=KEY)
    result = run("clear")
    assert result.exit_code == 0 and f"removed {key_path}" in result.output
    assert not key_path.exists()
    assert load_settings().api_key is None
    assert "not set" in run("status").output
    again = run("clear")
    assert again.exit_code == 0 and "no key file" in again.output


def test_clear_mentions_a_remaining_env_key(key_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEYGEN_API_KEY", OTHER)
    result = run("clear")
    assert "HEYGEN_API_KEY is still set" in result.output
    assert_secret_free(result.output, OTHER)


# ------------------------------------------------------------------------------------ through main()


def test_registered_in_the_cli(key_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from otio_heygen.cli.main import cli, main

    if "key" not in cli.commands:
        pytest.skip("`key` is not registered in cli/main.py yet")
    key_path.parent.mkdir(parents=True)
    key_path.write_text(KEY, encoding="utf-8")
    key_path.chmod(0o644)
    code = main(["key", "status"]) if os.name == "posix" else 2
    err = capsys.readouterr().err
    if os.name == "posix":
        assert code == 2 and f"chmod 600 {key_path}" in err and err.count("\n") == 1
        assert_secret_free(err)
    key_path.chmod(0o600)
    assert main(["key", "status"]) == 0
    out = capsys.readouterr().out
    assert "…cdef" in out
    assert_secret_free(out)


# ------------------------------------------------------------------------------------ hidden prompt


@pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")
def test_set_prompts_with_hidden_input_on_a_terminal(key_path: Path) -> None:
    import pty

    code = "from otio_heygen.cli.key_cmd import key; key(['set'], prog_name='otio-heygen key')"
    pid, fd = pty.fork()
    if pid == 0:  # child: a session with the pty as its controlling terminal, like a user's shell
        try:
            os.execve(sys.executable, [sys.executable, "-c", code], dict(os.environ))
        finally:
            os._exit(127)
    output = b""
    deadline = time.monotonic() + 60
    sent = False
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 1.0)
            if not ready:
                continue
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            output += chunk
            if not sent and b"(input hidden): " in output:  # getpass turned echo off before printing it
                os.write(fd, KEY.encode() + b"\r")
                sent = True
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    text = output.decode("utf-8", "replace")
    assert sent, text
    assert os.waitstatus_to_exitcode(status) == 0, text
    assert key_path.read_text(encoding="utf-8") == KEY + "\n"
    assert "…cdef" in text
    assert_secret_free(text)  # not echoed by the terminal, not printed


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_a_loose_key_file_blocks_only_what_needs_the_key(
    key_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    from otio_heygen.cli.main import main
    from tests.conftest import SAMPLES

    sample = tmp_path / "sample"
    shutil.copytree(SAMPLES, sample, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    timeline = str(sample / "demo_resolve.otio")
    key_path.parent.mkdir(parents=True)
    key_path.write_text(KEY, encoding="utf-8")
    key_path.chmod(0o644)
    assert main(["plan", timeline, "--json"]) == 0  # offline: the key is not needed
    assert main(["render", timeline, "-o", str(tmp_path / "out" / "a.otio"), "--backend", "preview"]) == 0
    capsys.readouterr()
    assert main(["render", timeline, "-o", str(tmp_path / "out" / "b.otio"), "--backend", "heygen"]) == 2
    err = capsys.readouterr().err
    assert f"chmod 600 {key_path}" in err and err.count("\n") == 1
    assert_secret_free(err)
    assert not (tmp_path / "out" / "b.otio").exists()
