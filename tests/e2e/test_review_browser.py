"""The review page in a real headless browser: Debian's chromium driven by Selenium and chromedriver.

The page is built for the bundled sample rendered offline (preview backend, 2 takes per section),
with one take re-rendered with its audio 200 ms late. Skipped only when chromium/chromedriver are not
installed (``.ci/run`` installs them: ``apt-get install -y chromium chromium-driver``).
"""

from __future__ import annotations

import json
import shutil
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import opentimelineio as otio
import pytest

from otio_heygen.output.choose import CHOICES_FORMAT, choose_takes, read_choices
from otio_heygen.review import build_review
from tests.support.review_outputs import make_late_take, render_sample

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (Path(CHROMIUM).is_file() and Path(CHROMEDRIVER).is_file()),
        reason="Debian's chromium and chromium-driver are not installed "
               "(apt-get install -y chromium chromium-driver; .ci/run does it)",
    ),
]

LATE_SECTION, LATE_TAKE = "Verse 2", 2


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("review-browser")
    out = render_sample(folder)
    make_late_take(out, LATE_SECTION, LATE_TAKE, late_ms=200.0)
    return build_review(out).path


@pytest.fixture(scope="module")
def downloads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="module")
def browser(page: Path, downloads: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1400,1000",
                f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        driver.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
        driver.get(page.resolve().as_uri())
        yield driver
    finally:
        driver.quit()


def _css(driver: object, selector: str) -> list[object]:
    from selenium.webdriver.common.by import By

    return list(driver.find_elements(By.CSS_SELECTOR, selector))  # type: ignore[attr-defined]


def test_page_loads_without_console_errors(browser: object) -> None:
    logs = browser.get_log("browser")  # type: ignore[attr-defined]
    errors = [entry for entry in logs if entry["level"] in ("SEVERE", "ERROR")]
    assert errors == []
    assert browser.title.startswith("Review: demo_avatar.otio")  # type: ignore[attr-defined]


def test_one_row_per_section_in_timeline_order(browser: object, page: Path) -> None:
    output = page.parent.parent / "demo_avatar.otio"
    markers = [m for m in otio.adapters.read_from_file(str(page.parents[2] / "sample" / "demo_resolve.otio"))
               .tracks.markers]
    rows = _css(browser, "section.row")
    names = [row.find_element("css selector", "h2").text for row in rows]  # type: ignore[attr-defined]
    assert len(rows) == len(markers) == 6
    assert [n.split(" ", 1)[1] for n in names] == [m.name for m in markers]
    tcs = [row.find_element("css selector", ".tc-in").text for row in rows]  # type: ignore[attr-defined]
    assert tcs[0] == "01:00:00:00" and tcs == sorted(tcs)
    assert output.is_file()


def test_one_player_per_take_and_every_source_exists(browser: object, page: Path) -> None:
    takes = _css(browser, "article.take")
    assert len(takes) == 12
    first, last = _css(browser, "video.player")[0], _css(browser, "video.player")[-1]
    assert first.get_attribute("src") and first.get_attribute("controls")  # type: ignore[attr-defined]
    assert not last.get_attribute("src")  # type: ignore[attr-defined]  # far below: not set up yet
    for card in takes:
        players = card.find_elements("css selector", "video.player")  # type: ignore[attr-defined]
        assert len(players) == 1
        browser.execute_script("arguments[0].scrollIntoView()", players[0])  # type: ignore[attr-defined]
        for _ in range(100):
            if players[0].get_attribute("src"):
                break
            time.sleep(0.02)
        src = players[0].get_attribute("src")
        assert src.startswith("file://")
        media = Path(urllib.parse.unquote(urllib.parse.urlparse(src).path))
        assert media.is_file() and media.parent.name == "demo_avatar_media"
        assert players[0].get_attribute("preload") == "none"  # nothing loads until played
        strip = card.find_element("css selector", "img.strip")  # type: ignore[attr-defined]
        assert Path(urllib.parse.unquote(urllib.parse.urlparse(strip.get_attribute("src")).path)).is_file()
    last_strip = _css(browser, "img.strip")[-1]  # scrolled to: loaded (stills load lazily)
    for _ in range(100):
        if browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth", last_strip):  # type: ignore[attr-defined]
            break
        time.sleep(0.02)
    assert browser.execute_script("return arguments[0].naturalWidth", last_strip) > 0  # type: ignore[attr-defined]
    browser.execute_script("window.scrollTo(0, 0)")  # type: ignore[attr-defined]
    # the browser can really play one: metadata of the first clip loads and has its length
    duration = browser.execute_async_script(  # type: ignore[attr-defined]
        "var v = document.querySelector('video.player'), done = arguments[0];"
        "v.addEventListener('loadedmetadata', function () { done(v.duration); });"
        "v.addEventListener('error', function () { done(-1); });"
        "v.preload = 'metadata'; v.load();")
    assert duration == pytest.approx(8.0, abs=0.2)  # Intro: 192 frames at 23.976


def test_off_badge_exactly_on_the_clip_rendered_200ms_late(browser: object) -> None:
    badges = {card.get_attribute("id"): card.find_element("css selector", ".badge.sync").text  # type: ignore[attr-defined]
              for card in _css(browser, "article.take")}
    assert badges.pop("s4t2") == "OFF"
    assert set(badges.values()) == {"OK"}
    late = _css(browser, "#s4t2 .sync-text")[0]
    assert late.text == "audio 200 ms late (4.8 frames)"  # type: ignore[attr-defined]


def test_marking_keepers_exports_the_expected_choice_file(browser: object, page: Path, downloads: Path) -> None:
    for dom_id in ("s3t2", "s4t2"):
        _css(browser, f"#{dom_id} label.keep")[0].click()  # type: ignore[attr-defined]
    assert {c.get_attribute("id") for c in _css(browser, "article.take.keeper")} == {  # type: ignore[attr-defined]
        "s1t1", "s2t1", "s3t2", "s4t2", "s5t1", "s6t1"}
    output = page.parents[1] / "demo_avatar.otio"
    command = _css(browser, "#choose-command")[0].text  # type: ignore[attr-defined]
    assert command == f"otio-heygen choose {output.resolve()} Chorus_1 2 Verse_2 2"

    _css(browser, "#download-choices")[0].click()  # type: ignore[attr-defined]
    target = downloads / "demo_avatar_choices.json"
    for _ in range(100):  # the browser writes the download in the background
        if target.is_file() and target.stat().st_size > 0:
            break
        time.sleep(0.05)
    doc = json.loads(target.read_text(encoding="utf-8"))
    assert doc == {
        "format": CHOICES_FORMAT,
        "output": "demo_avatar.otio",
        "choices": [
            {"index": 1, "section": "Intro", "name": "Intro", "take": 1},
            {"index": 2, "section": "Verse_1", "name": "Verse 1", "take": 1},
            {"index": 3, "section": "Chorus_1", "name": "Chorus 1", "take": 2},
            {"index": 4, "section": "Verse_2", "name": "Verse 2", "take": 2},
            {"index": 5, "section": "Chorus_2", "name": "Chorus 2", "take": 1},
            {"index": 6, "section": "Outro", "name": "Outro", "take": 1},
        ],
    }
    _css(browser, "#copy-command")[0].click()  # type: ignore[attr-defined]
    copied = ("copied", "selected: press Ctrl+C")
    for _ in range(100):  # the clipboard answers asynchronously: the status changes once it has
        status = _css(browser, "#copy-status")[0].text  # type: ignore[attr-defined]
        if status in copied:
            break
        time.sleep(0.05)
    assert status in copied

    # the file goes straight into `choose`
    chosen = choose_takes(output, read_choices(target))
    assert [(c.section, c.take) for c in chosen if c.changed] == [("Chorus 1", 2), ("Verse 2", 2)]


def test_screenshot_is_saved_as_an_artifact(browser: object, tmp_path: Path) -> None:
    height = browser.execute_script("return document.documentElement.scrollHeight")  # type: ignore[attr-defined]
    browser.set_window_size(1400, min(int(height), 8000))  # type: ignore[attr-defined]
    browser.execute_script("window.scrollTo(0, 0)")  # type: ignore[attr-defined]
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "review_page.png"
    assert browser.save_screenshot(str(shot))  # type: ignore[attr-defined]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 50_000
    shutil.copy(shot, tmp_path / shot.name)
