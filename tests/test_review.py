"""The review page built from a real offline render: structure, links, stills, sync curve, rebuilds."""

from __future__ import annotations

import json
import re
import urllib.parse
from html.parser import HTMLParser
from pathlib import Path

import av
import numpy as np
import pytest

from otio_heygen import RenderOptions
from otio_heygen import render_file as render_timeline
from otio_heygen.cli.main import main
from otio_heygen.media.sync import correlation_curve, curve_peak
from otio_heygen.media.thumbs import video_stills
from otio_heygen.review import build_review
from otio_heygen.review.plot import decimate, sync_svg
from tests.support.review_outputs import NO_KEY_ENV, make_late_take, render_sample


class _Page(HTMLParser):
    """Tags of interest with their attributes, in document order."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))

    def find(self, tag: str, cls: str | None = None) -> list[dict[str, str]]:
        return [a for t, a in self.tags if t == tag and (cls is None or cls in a.get("class", "").split())]


def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render_sample(tmp_path_factory.mktemp("review"), takes=2)


def test_page_has_a_row_per_section_and_a_lazy_player_per_take(rendered: Path) -> None:
    result = build_review(rendered)
    assert result.path == rendered.parent / "demo_avatar_review" / "index.html"
    assert (result.sections, result.takes, result.off_sync) == (6, 12, 0)
    page = _parse(result.path)
    rows = page.find("section", "row")
    assert [r["data-slug"] for r in rows] == ["Intro", "Verse_1", "Chorus_1", "Verse_2", "Chorus_2", "Outro"]
    assert all(r["data-main-take"] == "1" for r in rows)
    videos = page.find("video", "player")
    assert len(videos) == 12 and all(v["preload"] == "none" for v in videos)
    for video in videos:  # the page's script gives each player its source when it comes near the screen
        assert not video["data-src"].startswith(("/", "file:", "http"))  # relative: the folders move together
        assert (result.path.parent / urllib.parse.unquote(video["data-src"])).is_file()
        assert (result.path.parent / urllib.parse.unquote(video["data-poster"])).is_file()
    for img in page.find("img"):
        assert (result.path.parent / urllib.parse.unquote(img["src"])).is_file()
    html = result.path.read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)=["']https?://""", html)  # nothing from the network
    assert html.count("<svg") == 12 and html.count('class="badge sync ok"') == 12
    assert "nods to the beat" in html and "01:00:08:00" in html  # motion prompt, timecode


def test_late_take_is_off_and_rebuild_reuses_unchanged_stills(rendered: Path, tmp_path: Path) -> None:
    first = build_review(rendered)
    thumbs = {p.name: p.stat().st_mtime_ns for p in (first.path.parent / "thumbs").iterdir()}
    make_late_take(rendered, "Chorus 2", 1, late_ms=200.0)
    second = build_review(rendered)
    assert second.off_sync == 1
    html = second.path.read_text(encoding="utf-8")
    card = html[html.index('id="s5t1"'):html.index('id="s5t2"')]
    assert 'data-badge="OFF"' in card and "audio 200 ms late (4.8 frames)" in card
    after = {p.name: p.stat().st_mtime_ns for p in (second.path.parent / "thumbs").iterdir()}
    changed = {name for name in after if name not in thumbs}
    assert changed and all(name.startswith("05_Chorus_2_take1-") for name in changed)
    kept = set(after) & set(thumbs)
    assert len(kept) == len(after) - len(changed)
    assert not list(rendered.parent.glob(".demo_avatar_review*"))  # no temp folder left behind


def test_review_cli_prints_where_the_page_is(rendered: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["review", str(rendered), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["sections"] == 6 and doc["takes"] == 12 and Path(doc["page"]).is_file()
    assert main(["review", str(rendered.parent / "missing.otio")]) == 2


def test_output_format_without_take_details_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    xml = render_sample(tmp_path, takes=1).with_name("demo_avatar.xml")
    render_timeline(tmp_path / "sample" / "demo_resolve.otio", xml, RenderOptions(backend="preview"), env=NO_KEY_ENV)
    assert main(["review", str(xml)]) == 2
    err = capsys.readouterr().err
    assert "demo_avatar.xml does not carry otio-heygen's take details" in err and ".otio" in err


def test_correlation_curve_peaks_at_the_shift() -> None:
    rate = 16000
    rng = np.random.default_rng(3)
    bursts = np.repeat(rng.random(400) > 0.6, rate // 100).astype(np.float64)
    ref = bursts * rng.standard_normal(bursts.size)
    late = np.concatenate([np.zeros(int(0.2 * rate)), ref[: -int(0.2 * rate)]])
    lags, values = correlation_curve(ref[None, :], rate, late[None, :], rate, max_lag_ms=500)
    assert lags[0] == pytest.approx(-500) and lags[-1] == pytest.approx(500)
    offset, confidence = curve_peak(lags, values)
    assert offset == pytest.approx(200, abs=1.5) and confidence > 0.8
    silent = correlation_curve(np.zeros((1, rate)), rate, late[None, :], rate)
    assert silent[0].size == 0 and curve_peak(*silent) == (0.0, 0.0)


def test_plot_keeps_the_peak_and_marks_off_in_red() -> None:
    lags = [float(x) for x in range(-500, 501)]
    values = [1.0 if x == 200 else 0.1 for x in lags]
    small_l, small_v = decimate(lags, values, points=50)
    assert len(small_l) == 50 and max(small_v) == 1.0 and small_l[small_v.index(1.0)] == 200
    off = sync_svg(lags, values, offset_ms=200.0, tolerance_ms=41.7, off=True)
    assert off.startswith("<svg") and off.endswith("</svg>") and "#d93025" in off and "+200 ms" in off
    ok = sync_svg(lags, values, offset_ms=0.2, tolerance_ms=41.7, off=False)
    assert "#d93025" not in ok and ">0 ms<" in ok
    assert "no audio to compare" in sync_svg([], [], offset_ms=None, tolerance_ms=41.7, off=False)


def test_stills_are_small_jpegs_of_the_clip(rendered: Path, tmp_path: Path) -> None:
    clip = rendered.parent / "demo_avatar_media" / "02_Verse_1_take1.mp4"
    seconds = video_stills(clip, tmp_path / "strip.jpg", tmp_path / "poster.jpg")
    assert seconds == pytest.approx(14.0, abs=0.1)
    for name, size in (("strip.jpg", (5 * 96, 54)), ("poster.jpg", (320, 180))):
        data = (tmp_path / name).read_bytes()
        assert data[:2] == b"\xff\xd8" and len(data) < 30_000
        with av.open(str(tmp_path / name)) as img:
            frame = next(img.decode(video=0))
            assert (frame.width, frame.height) == size
