"""Tests for otio_heygen.config: environment parsing, config file discovery and validation.

Every test passes an explicit ``env`` mapping (never the real environment) and writes config
and key files under ``tmp_path``; the current folder is moved there with ``monkeypatch.chdir``.
The default key file location is a temp folder (``tests/conftest.py``).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import platformdirs
import pytest

from otio_heygen.config import (
    CONFIG_FILENAME,
    DEFAULT_API_URL,
    DEFAULT_PRICE_PER_SECOND,
    KEY_FILENAME,
    FileConfig,
    Settings,
    check_api_key,
    default_key_file,
    env_key_is_set,
    key_file_path,
    load_settings,
    read_key_file,
    remove_key_file,
    resolve_api_key,
    write_key_file,
)
from otio_heygen.errors import ConfigError

KEY = "hg_live_SECRET_0123456789abcdef"


@pytest.fixture(autouse=True)
def _empty_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    return cwd


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------------------------------------ environment


def test_defaults_without_env_or_file() -> None:
    s = load_settings(env={})
    assert s.api_key is None
    assert s.api_url == DEFAULT_API_URL
    assert s.price_per_second == DEFAULT_PRICE_PER_SECOND
    assert s.concurrency == 10
    assert s.poll_interval is None
    assert s.asset_cache is None
    assert s.config_path is None and s.config_dir is None
    assert s.file == FileConfig()


def test_api_key_is_secret_and_never_shown() -> None:
    s = load_settings(env={"HEYGEN_API_KEY": f"  {KEY}\n"})
    assert s.api_key is not None
    assert s.api_key.get_secret_value() == KEY
    for text in (repr(s), str(s), f"{s}", repr(s.api_key), str(s.api_key)):
        assert KEY not in text
    assert "set" in repr(s)
    assert "unset" in repr(load_settings(env={}))


def test_blank_api_key_is_no_key() -> None:
    assert load_settings(env={"HEYGEN_API_KEY": "   "}).api_key is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("http://127.0.0.1:8080/", "http://127.0.0.1:8080"),
        ("https://api.example.test///", "https://api.example.test"),
        ("  https://api.example.test/base/  ", "https://api.example.test/base"),
    ],
)
def test_api_url_is_trimmed(raw: str, expected: str) -> None:
    assert load_settings(env={"HEYGEN_API_URL": raw}).api_url == expected


@pytest.mark.parametrize("raw", ["api.heygen.com", "ftp://api.heygen.com", "https://", "http:///path"])
def test_bad_api_url_is_a_config_error(raw: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(env={"HEYGEN_API_URL": raw})
    assert info.value.exit_code == 2
    assert "HEYGEN_API_URL" in str(info.value)


@pytest.mark.parametrize(
    ("env", "attr", "expected"),
    [
        ({"OTIO_HEYGEN_PRICE_PER_SECOND": "0.05"}, "price_per_second", 0.05),
        ({"OTIO_HEYGEN_PRICE_PER_SECOND": "0"}, "price_per_second", 0.0),
        ({"OTIO_HEYGEN_PRICE_PER_SECOND": " 1 "}, "price_per_second", 1.0),
        ({"OTIO_HEYGEN_CONCURRENCY": "3"}, "concurrency", 3),
        ({"OTIO_HEYGEN_POLL_INTERVAL": "0.5"}, "poll_interval", 0.5),
        ({"OTIO_HEYGEN_POLL_INTERVAL": ""}, "poll_interval", None),
    ],
)
def test_numbers_from_env(env: dict[str, str], attr: str, expected: object) -> None:
    value = getattr(load_settings(env=env), attr)
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("OTIO_HEYGEN_PRICE_PER_SECOND", "ten cents"),
        ("OTIO_HEYGEN_PRICE_PER_SECOND", "-0.1"),
        ("OTIO_HEYGEN_PRICE_PER_SECOND", "nan"),
        ("OTIO_HEYGEN_PRICE_PER_SECOND", "inf"),
        ("OTIO_HEYGEN_CONCURRENCY", "0"),
        ("OTIO_HEYGEN_CONCURRENCY", "-2"),
        ("OTIO_HEYGEN_CONCURRENCY", "2.5"),
        ("OTIO_HEYGEN_CONCURRENCY", "many"),
        ("OTIO_HEYGEN_POLL_INTERVAL", "0"),
        ("OTIO_HEYGEN_POLL_INTERVAL", "soon"),
        ("OTIO_HEYGEN_POLL_INTERVAL", "-inf"),
    ],
)
def test_bad_numbers_are_config_errors(name: str, raw: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(env={name: raw, "HEYGEN_API_KEY": KEY})
    assert info.value.exit_code == 2
    line = info.value.one_line()
    assert name in line and "\n" not in line and KEY not in line


def test_reads_the_process_environment_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HEYGEN_API_KEY", "HEYGEN_API_URL", "OTIO_HEYGEN_PRICE_PER_SECOND", "OTIO_HEYGEN_POLL_INTERVAL",
                 "OTIO_HEYGEN_ASSET_CACHE", "OTIO_HEYGEN_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OTIO_HEYGEN_CONCURRENCY", "5")
    monkeypatch.setenv("HEYGEN_API_KEY", KEY)
    s = load_settings()
    assert s.concurrency == 5
    assert s.api_key is not None and s.api_key.get_secret_value() == KEY


def test_asset_cache_path_is_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    s = load_settings(env={"OTIO_HEYGEN_ASSET_CACHE": "~/cache/assets.json"})
    assert s.asset_cache == tmp_path / "home" / "cache" / "assets.json"


# ------------------------------------------------------------------------------------ config file values


FULL = """
api_url = "http://127.0.0.1:9999/"
price_per_second = 0.07
concurrency = 4
poll_interval = 2.5

[defaults]
image = "artist.png"
motion = "sways"
expressiveness = "medium"
resolution = "4k"
aspect = "9:16"
fit = "contain"
takes = 2

[[looks]]
match = "Chorus*"
image = "looks/red.png"
motion = "arms wide"

[[looks]]
match = "Verse*"
takes = 3
"""


def test_config_file_values(tmp_path: Path) -> None:
    path = write(tmp_path / "proj" / CONFIG_FILENAME, FULL)
    s = load_settings(config_path=path, env={})
    assert s.config_path == path and s.config_dir == path.parent
    assert s.api_url == "http://127.0.0.1:9999"
    assert (s.price_per_second, s.concurrency, s.poll_interval) == (0.07, 4, 2.5)
    assert s.file.defaults.image == "artist.png" and s.file.defaults.takes == 2
    assert [look.match for look in s.file.looks] == ["Chorus*", "Verse*"]
    assert s.file.looks[0].motion == "arms wide" and s.file.looks[1].takes == 3


def test_env_beats_config_file(tmp_path: Path) -> None:
    path = write(tmp_path / CONFIG_FILENAME, FULL)
    env = {"HEYGEN_API_URL": "https://other.test/", "OTIO_HEYGEN_PRICE_PER_SECOND": "0",
           "OTIO_HEYGEN_CONCURRENCY": "9", "OTIO_HEYGEN_POLL_INTERVAL": "1"}
    s = load_settings(config_path=path, env=env)
    assert (s.api_url, s.price_per_second, s.concurrency, s.poll_interval) == ("https://other.test", 0.0, 9, 1.0)


def test_price_zero_in_file_is_allowed(tmp_path: Path) -> None:
    path = write(tmp_path / CONFIG_FILENAME, "price_per_second = 0\n")
    assert load_settings(config_path=path, env={}).price_per_second == 0.0


def test_bad_api_url_in_file_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path / CONFIG_FILENAME, 'api_url = "api.heygen.com"\n')
    with pytest.raises(ConfigError, match="api_url") as info:
        load_settings(config_path=path, env={})
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("colour = 'red'\n", "colour"),
        ("[defaults]\nphoto = 'a.png'\n", "defaults.photo"),
        ("[[looks]]\nmatch = 'X'\nimgae = 'a.png'\n", "looks.0.imgae"),
        ("[[looks]]\nimage = 'a.png'\n", "looks.0.match"),
        ("price_per_second = -1\n", "price_per_second"),
        ("price_per_second = nan\n", "price_per_second"),
        ("poll_interval = inf\n", "poll_interval"),
        ("concurrency = 0\n", "concurrency"),
        ("concurrency = 'ten'\n", "concurrency"),
        ("[defaults]\ntakes = 11\n", "defaults.takes"),
        ("looks = 'Chorus'\n", "looks"),
    ],
)
def test_invalid_config_values_are_one_line_errors_naming_the_file(tmp_path: Path, text: str, where: str) -> None:
    path = write(tmp_path / CONFIG_FILENAME, text)
    with pytest.raises(ConfigError) as info:
        load_settings(config_path=path, env={})
    line = info.value.one_line()
    assert info.value.exit_code == 2
    assert str(path) in line and where in line
    assert "\n" not in line


@pytest.mark.parametrize("text", ["price_per_second = \n", "[defaults\nimage='a'\n", "a = 1\na = 2\n"])
def test_invalid_toml_is_a_one_line_error_naming_the_file(tmp_path: Path, text: str) -> None:
    path = write(tmp_path / CONFIG_FILENAME, text)
    with pytest.raises(ConfigError) as info:
        load_settings(config_path=path, env={})
    line = info.value.one_line()
    assert str(path) in line and "TOML" in line and "\n" not in line


def test_config_that_is_not_utf8_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / CONFIG_FILENAME
    path.write_bytes(b"motion = '\xff\xfe'\n")
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_settings(config_path=path, env={})


# ------------------------------------------------------------------------------------ discovery


def discovery_tree(tmp_path: Path, cwd: Path) -> dict[str, Path]:
    """Four candidate config files with different prices, and a timeline in its own folder."""
    files = {
        "explicit": write(tmp_path / "explicit" / "mine.toml", "price_per_second = 0.01\n"),
        "env": write(tmp_path / "envdir" / "env.toml", "price_per_second = 0.02\n"),
        "beside": write(tmp_path / "edit" / CONFIG_FILENAME, "price_per_second = 0.03\n"),
        "cwd": write(cwd / CONFIG_FILENAME, "price_per_second = 0.04\n"),
    }
    files["timeline"] = write(tmp_path / "edit" / "song.otio", "{}")
    return files


def test_discovery_order(tmp_path: Path, _empty_cwd: Path) -> None:
    f = discovery_tree(tmp_path, _empty_cwd)
    env = {"OTIO_HEYGEN_CONFIG": str(f["env"])}
    s = load_settings(config_path=f["explicit"], timeline_path=f["timeline"], env=env)
    assert (s.config_path, s.price_per_second) == (f["explicit"], 0.01)
    s = load_settings(timeline_path=f["timeline"], env=env)
    assert (s.config_path, s.price_per_second) == (f["env"], 0.02)
    s = load_settings(timeline_path=f["timeline"], env={})
    assert s.price_per_second == 0.03 and s.config_path is not None
    assert s.config_path.resolve() == f["beside"].resolve()
    f["beside"].unlink()
    s = load_settings(timeline_path=f["timeline"], env={})
    assert s.price_per_second == 0.04 and s.config_path is not None
    assert s.config_path.resolve() == f["cwd"].resolve()
    f["cwd"].unlink()
    assert load_settings(timeline_path=f["timeline"], env={}).config_path is None


def test_beside_a_relative_timeline_path(tmp_path: Path, _empty_cwd: Path) -> None:
    write(_empty_cwd / "edit" / CONFIG_FILENAME, "price_per_second = 0.3\n")
    write(_empty_cwd / "edit" / "song.otio", "{}")
    s = load_settings(timeline_path=Path("edit/song.otio"), env={})
    assert s.price_per_second == 0.3
    assert s.config_dir is not None and s.config_dir.resolve() == (_empty_cwd / "edit").resolve()


def test_cwd_config_without_timeline(_empty_cwd: Path) -> None:
    write(_empty_cwd / CONFIG_FILENAME, "concurrency = 2\n")
    assert load_settings(env={}).concurrency == 2


def test_env_config_path_is_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    write(tmp_path / "home" / "cfg.toml", "concurrency = 7\n")
    assert load_settings(env={"OTIO_HEYGEN_CONFIG": "~/cfg.toml"}).concurrency == 7


def test_missing_explicit_config_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found") as info:
        load_settings(config_path=tmp_path / "nope.toml", env={})
    assert "nope.toml" in str(info.value)
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(config_path=tmp_path, env={})  # a folder is not a config file


def test_missing_env_config_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="OTIO_HEYGEN_CONFIG") as info:
        load_settings(env={"OTIO_HEYGEN_CONFIG": str(tmp_path / "gone.toml")})
    assert "gone.toml" in str(info.value)


def test_settings_is_frozen() -> None:
    s = load_settings(env={})
    assert isinstance(s, Settings)
    with pytest.raises(AttributeError):
        s.api_url = "http://x"  # type: ignore[misc]


# ------------------------------------------------------------------------------------ API key file

posix_only = pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")


def key_file(tmp_path: Path, text: str = KEY + "\n", mode: int = 0o600) -> Path:
    path = write(tmp_path / "keys" / "heygen_api_key", text)
    path.chmod(mode)
    return path


def assert_secret_free(*texts: str) -> None:
    for text in texts:
        assert KEY not in text
        assert KEY[5:-5] not in text  # not even a middle part of it


def test_key_file_is_used_when_env_is_unset(tmp_path: Path) -> None:
    path = key_file(tmp_path, f"\n  {KEY}  \r\n\n")
    s = load_settings(env={"OTIO_HEYGEN_KEY_FILE": str(path)})
    assert s.api_key is not None and s.api_key.get_secret_value() == KEY
    assert s.key_source == f"file:{path}"
    assert_secret_free(repr(s), str(s), repr(s.api_key), str(s.api_key), s.key_source)
    assert str(path) in repr(s)


def test_env_key_beats_the_key_file(tmp_path: Path) -> None:
    path = key_file(tmp_path, "hg_from_file_0000000000000000\n")
    s = load_settings(env={"HEYGEN_API_KEY": KEY, "OTIO_HEYGEN_KEY_FILE": str(path)})
    assert s.api_key is not None and s.api_key.get_secret_value() == KEY
    assert s.key_source == "env"
    assert resolve_api_key({"HEYGEN_API_KEY": " ", "OTIO_HEYGEN_KEY_FILE": str(path)})[1] == f"file:{path}"


def test_env_key_wins_even_over_an_unsafe_key_file(tmp_path: Path) -> None:
    path = key_file(tmp_path, mode=0o644)
    s = load_settings(env={"HEYGEN_API_KEY": KEY, "OTIO_HEYGEN_KEY_FILE": str(path)})
    assert s.key_source == "env"


@pytest.mark.parametrize("text", ["", "\n", "  \n\t\n"])
def test_empty_key_file_is_no_key(tmp_path: Path, text: str) -> None:
    path = key_file(tmp_path, text)
    s = load_settings(env={"OTIO_HEYGEN_KEY_FILE": str(path)})
    assert s.api_key is None and s.key_source is None
    assert "unset" in repr(s)


def test_missing_key_file_is_no_key(tmp_path: Path) -> None:
    s = load_settings(env={"OTIO_HEYGEN_KEY_FILE": str(tmp_path / "nowhere" / "key")})
    assert s.api_key is None and s.key_source is None


def test_key_file_path_is_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    path = key_file(tmp_path / "home")
    env = {"OTIO_HEYGEN_KEY_FILE": "~/keys/heygen_api_key"}
    assert key_file_path(env) == path
    assert load_settings(env=env).key_source == f"file:{path}"


def test_default_key_file_is_in_the_per_user_config_dir(tmp_path_factory: pytest.TempPathFactory) -> None:
    # conftest points platformdirs' config dir into a temp folder: the developer's real key is never read
    default = default_key_file()
    assert default == platformdirs.user_config_path("otio-heygen") / KEY_FILENAME
    assert default.is_relative_to(tmp_path_factory.getbasetemp())
    assert key_file_path({}) == default and key_file_path({"OTIO_HEYGEN_KEY_FILE": "  "}) == default
    assert load_settings(env={}).api_key is None
    default.parent.mkdir(parents=True)
    default.write_text(KEY, encoding="utf-8")
    default.chmod(0o600)
    s = load_settings(env={})
    assert s.api_key is not None and s.api_key.get_secret_value() == KEY
    assert s.key_source == f"file:{default}"


def test_process_env_names_the_key_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = key_file(tmp_path)
    monkeypatch.setenv("OTIO_HEYGEN_KEY_FILE", str(path))
    assert key_file_path() == path
    s = load_settings()
    assert s.key_source == f"file:{path}"


@posix_only
@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o620, 0o602, 0o606, 0o700 | 0o004])
def test_key_file_open_to_others_is_refused(tmp_path: Path, mode: int) -> None:
    path = key_file(tmp_path, mode=mode)
    with pytest.raises(ConfigError) as info:
        resolve_api_key({"OTIO_HEYGEN_KEY_FILE": str(path)})
    line = info.value.one_line()
    assert info.value.exit_code == 2
    assert "\n" not in line
    assert f"chmod 600 {path}" in line
    assert f"{mode & 0o777:03o}" in line
    assert_secret_free(line, repr(info.value), str(info.value.args))


@posix_only
@pytest.mark.parametrize("mode", [0o600, 0o400, 0o700])
def test_private_key_file_modes_are_accepted(tmp_path: Path, mode: int) -> None:
    path = key_file(tmp_path, mode=mode)
    s = load_settings(env={"OTIO_HEYGEN_KEY_FILE": str(path)})
    assert s.api_key is not None and s.api_key.get_secret_value() == KEY


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (f"{KEY} {KEY}\n", "spaces"),
        (f"{KEY}\n{KEY}\n", "line breaks"),
        (f"{KEY}\x00\n", "unusual"),
        (f"{KEY}é\n", "unusual"),
    ],
)
def test_bad_key_in_file_is_refused_without_showing_it(tmp_path: Path, text: str, problem: str) -> None:
    path = key_file(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        resolve_api_key({"OTIO_HEYGEN_KEY_FILE": str(path)})
    line = info.value.one_line()
    assert str(path) in line and "spaces, line breaks or unusual characters" in line
    assert_secret_free(line, repr(info.value), str(info.value.args))


@pytest.mark.parametrize("raw", [f"{KEY} x", f"{KEY}\nx", f"x\t{KEY}"])
def test_bad_key_in_env_is_refused_without_showing_it(raw: str) -> None:
    with pytest.raises(ConfigError) as info:
        resolve_api_key({"HEYGEN_API_KEY": raw})
    line = info.value.one_line()
    assert "HEYGEN_API_KEY" in line and info.value.exit_code == 2
    assert_secret_free(line, repr(info.value))


def test_key_file_that_is_a_folder_or_not_text_or_huge(tmp_path: Path) -> None:
    folder = tmp_path / "afolder"
    folder.mkdir(mode=0o700)
    with pytest.raises(ConfigError, match="not a regular file") as info:
        resolve_api_key({"OTIO_HEYGEN_KEY_FILE": str(folder)})
    assert str(folder) in info.value.one_line()
    binary = tmp_path / "binary"
    binary.write_bytes(b"\xff\xfe" + KEY.encode())
    binary.chmod(0o600)
    with pytest.raises(ConfigError, match="not text"):
        read_key_file(binary)
    huge = key_file(tmp_path, KEY * 1000)
    with pytest.raises(ConfigError, match="too large") as info:
        read_key_file(huge)
    assert_secret_free(info.value.one_line())


@posix_only
def test_key_file_that_is_a_pipe_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo, 0o600)
    with pytest.raises(ConfigError, match="not a regular file"):
        read_key_file(fifo)


def _stray_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name != "heygen_api_key")


def test_write_key_file_creates_a_private_file_and_folder(tmp_path: Path) -> None:
    path = tmp_path / "new" / "deeper" / "heygen_api_key"
    write_key_file(path, f"  {KEY}\n")
    assert path.read_text(encoding="utf-8") == KEY + "\n"
    if os.name == "posix":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) & 0o077 == 0
    assert _stray_files(path.parent) == []
    assert read_key_file(path) is not None


def test_write_key_file_replaces_atomically(tmp_path: Path) -> None:
    path = key_file(tmp_path, "hg_old_key_000000000000\n")
    before = path.parent / "hardlink-to-old"
    os.link(path, before)  # an in-place rewrite would change this too; a rename leaves it alone
    write_key_file(path, KEY)
    assert path.read_text(encoding="utf-8") == KEY + "\n"
    assert before.read_text(encoding="utf-8") == "hg_old_key_000000000000\n"
    assert not os.path.samefile(path, before)
    assert _stray_files(path.parent) == ["hardlink-to-old"]


def test_write_key_file_failure_leaves_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "keys" / "heygen_api_key"
    target.mkdir(parents=True)  # os.replace onto a folder fails after the temp file is written
    with pytest.raises(ConfigError, match="cannot write API key file") as info:
        write_key_file(target, KEY)
    assert sorted(p.name for p in target.parent.iterdir()) == ["heygen_api_key"]
    assert_secret_free(info.value.one_line())
    blocker = write(tmp_path / "file-not-folder", "x")
    with pytest.raises(ConfigError, match="cannot write API key file"):
        write_key_file(blocker / "heygen_api_key", KEY)


@pytest.mark.parametrize("bad", ["", "  \n", f"{KEY}\n{KEY}", f"{KEY} {KEY}"])
def test_write_key_file_refuses_bad_keys(tmp_path: Path, bad: str) -> None:
    path = tmp_path / "heygen_api_key"
    with pytest.raises(ConfigError) as info:
        write_key_file(path, bad)
    assert not path.exists()
    assert_secret_free(info.value.one_line())


def test_remove_key_file(tmp_path: Path) -> None:
    path = key_file(tmp_path)
    assert remove_key_file(path) is True
    assert not path.exists()
    assert remove_key_file(path) is False


def test_check_api_key() -> None:
    assert check_api_key(f" {KEY}\r\n", "x") == KEY
    assert check_api_key(" \t", "x") is None
    assert env_key_is_set({"HEYGEN_API_KEY": KEY}) and not env_key_is_set({"HEYGEN_API_KEY": "  "})
