"""Tests for otio_heygen.config: environment parsing, config file discovery and validation.

Every test passes an explicit ``env`` mapping (never the real environment) and writes config
files under ``tmp_path``; the current folder is moved there with ``monkeypatch.chdir``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from otio_heygen.config import (
    CONFIG_FILENAME,
    DEFAULT_API_URL,
    DEFAULT_PRICE_PER_SECOND,
    FileConfig,
    Settings,
    load_settings,
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
