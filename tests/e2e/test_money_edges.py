"""Money at the edges, as a user meets it on the command line: a budget exactly at the estimate, a
price of 0, a refused run, and a server that echoes the API key back.

Whole CLI runs (``main([...])``) against the strict fake HeyGen v3 server on 127.0.0.1. Every test
here failed before budgets were compared in whole cents, a price of 0 stopped counting as free,
refused runs cleaned up after themselves and every server string was redacted.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from otio_heygen.cli.main import main
from tests.e2e.test_failures_and_interrupts import heygen_env, write_timeline
from tests.support.heygen_fake import FAKE_API_KEY, FakeHeyGen


def render_args(timeline: Path, out: Path, *extra: str) -> list[str]:
    return ["render", str(timeline), "-o", str(out), "--image", str(timeline.parent / "artist.png"), *extra]


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_a_budget_equal_to_the_estimate_plan_prints_is_accepted(
    httpserver: HTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FakeHeyGen(httpserver)
    heygen_env(monkeypatch, fake, tmp_path)
    timeline = write_timeline(tmp_path / "cut", 1, section_frames=31)  # 1.24 s at $0.10/s: $0.124
    assert main(["plan", str(timeline), "--image", str(timeline.parent / "artist.png"), "--json"]) == 0
    estimate = json.loads(capsys.readouterr().out)["estimated_cost_usd"]
    assert estimate == 0.13  # rounded up to the cent, never understated
    assert main(["plan", str(timeline), "--image", str(timeline.parent / "artist.png")]) == 0
    assert "estimated cost $0.13" in capsys.readouterr().out

    out = tmp_path / "out" / "cut_avatar.otio"
    assert main(render_args(timeline, out, "--budget", "0.12")) == 2  # a cent less: refused, nothing spent
    assert "about $0.13, above the budget of $0.12" in capsys.readouterr().err
    assert fake.creates == 0 and fake.uploads == 0
    assert main(render_args(timeline, out, "--budget", str(estimate))) == 0
    assert fake.creates == 1


def test_a_price_of_0_does_not_bypass_the_budget_and_leaves_nothing_behind(
    httpserver: HTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FakeHeyGen(httpserver)
    heygen_env(monkeypatch, fake, tmp_path)
    monkeypatch.setenv("OTIO_HEYGEN_PRICE_PER_SECOND", "0")
    timeline = write_timeline(tmp_path / "cut", 2)
    out = tmp_path / "new" / "out" / "cut_avatar.otio"
    assert main(render_args(timeline, out, "--budget", "1")) == 2
    err = capsys.readouterr().err
    assert "--budget $1.00 cannot be kept" in err and len(err.strip().splitlines()) == 1
    assert fake.creates == 0 and fake.uploads == 0
    assert not (tmp_path / "new").exists()


def test_a_refused_run_leaves_no_files_behind(
    httpserver: HTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FakeHeyGen(httpserver)
    heygen_env(monkeypatch, fake, tmp_path)
    timeline = write_timeline(tmp_path / "cut", 2)
    fresh = tmp_path / "fresh" / "deeper" / "cut_avatar.otio"
    assert main(render_args(timeline, fresh, "--budget", "0.01")) == 2  # over budget
    assert main(render_args(timeline, fresh, "--regenerate", "Nope")) == 2  # bad input
    assert not (tmp_path / "fresh").exists()

    # into a folder that already holds another output: that output's files stay, nothing is added
    out = tmp_path / "out" / "first.otio"
    assert main(render_args(timeline, out)) == 0
    before = files_under(tmp_path / "out")
    assert main(render_args(timeline, out.with_name("second.otio"), "--takes", "2", "--budget", "0.01")) == 2
    assert files_under(tmp_path / "out") == before
    capsys.readouterr()
    assert main(["status", str(out.with_name("second.otio"))]) == 2  # never rendered
    assert fake.creates == 2


def test_a_key_echoed_by_the_server_in_any_field_is_never_shown_or_stored(
    httpserver: HTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FakeHeyGen(httpserver)
    heygen_env(monkeypatch, fake, tmp_path)
    timeline = write_timeline(tmp_path / "cut", 2)
    out = tmp_path / "out" / "cut_avatar.otio"
    # one create refused with the key in error.param (and code), one render failing with it in its message
    fake.inject("create", 400, code=f"bad_{FAKE_API_KEY}", message="invalid parameter", param=f"key={FAKE_API_KEY}")
    fake.fail_render(code="face_not_detected", message=f"no face (request by {FAKE_API_KEY})")
    assert main(render_args(timeline, out, "--json")) == 1
    assert main(["status", str(out)]) == 0
    assert main(["status", str(out), "--json"]) == 0
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert "(field: key=***)" in text and "no face (request by ***)" in text  # the rest of what HeyGen said
    assert FAKE_API_KEY not in text
    written = files_under(tmp_path)
    assert any(p.suffix == ".sqlite" for p in written)
    for path in written:
        assert FAKE_API_KEY.encode() not in path.read_bytes(), path
