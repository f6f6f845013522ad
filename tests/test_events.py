"""Typed progress events convert to exactly the dicts the ``--json`` contract prints, for every event a run emits."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

import otio_heygen
from otio_heygen import api
from otio_heygen.backends.heygen.retry import RETRY_BUDGET_S
from otio_heygen.events import (
    ConcurrencyChanged,
    CreatingStopped,
    Interrupted,
    JobState,
    Notice,
    OtherEvent,
    PlanWarning,
    RunFinished,
    RunStarted,
    Throttled,
    TimelineWritten,
    event_from_dict,
)
from tests.conftest import SAMPLES
from tests.support.clock import FakeTime
from tests.support.heygen_fake import FAKE_API_KEY, FakeHeyGen


def _line(event: dict[str, Any]) -> str:
    return json.dumps(event, sort_keys=True, default=str)  # what the CLI's JSON-lines sink prints


SYNTHETIC: list[tuple[dict[str, Any], type]] = [
    ({"event": "notice", "message": "m"}, Notice),
    ({"event": "warning", "message": "w"}, PlanWarning),
    ({"event": "plan", "jobs": 6, "reused": 1, "to_render": 5, "estimated_cost_usd": 1.5, "concurrency": 10,
      "run_id": 3, "elapsed": 0.0}, RunStarted),
    ({"event": "state", "key": "k", "section": "Intro", "index": 1, "take": 1, "state": "done", "reused": True,
      "elapsed": 0.25}, JobState),
    ({"event": "state", "key": "k", "section": "Intro", "index": 1, "take": 2, "state": "rendering",
      "video_id": "v1", "cost_usd": 0.0, "elapsed": 1}, JobState),
    ({"event": "state", "key": "k", "section": "S", "index": 2, "take": 1, "state": "failed", "error": "x",
      "video_id": None, "elapsed": 2.5}, JobState),  # an explicit None survives the round trip
    ({"event": "state", "key": "k", "section": "S", "index": 2, "take": 1, "state": "waiting",
      "waiting_for": "suite-2's render (video v_1)", "workstation": "suite-2", "video_id": "v_1", "elapsed": 2.0},
     JobState),  # a team ledger's wait: what for (typed), whose (extra)
    ({"event": "rate_limited", "retry_after": 7.0, "allowed": 4, "elapsed": 3.0}, Throttled),
    ({"event": "rate_limited", "retry_after": None, "allowed": 4, "elapsed": 3.0}, Throttled),
    ({"event": "concurrency", "allowed": 5, "elapsed": 9.0}, ConcurrencyChanged),
    ({"event": "stop_creating", "reason": "no credit", "elapsed": 4.0}, CreatingStopped),
    ({"event": "interrupted", "elapsed": 4.5}, Interrupted),
    ({"event": "finished", "done": 5, "failed": 1, "created": 4, "reused": 1, "spent_usd": 0.4, "elapsed": 9},
     RunFinished),
    ({"event": "written", "output": "o.otio", "media_dir": "o_media"}, TimelineWritten),
    ({"event": "state", "key": "k", "section": "S", "index": 2, "take": 1, "state": "done", "bought_by": "ana",
      "elapsed": 1.0}, JobState),  # a key a newer run layer adds is kept
    ({"event": "poll", "video_id": "v", "elapsed": 1.0}, OtherEvent),  # a kind this version does not know
    ({"event": "plan", "jobs": 1}, OtherEvent),  # required fields missing: kept whole, not guessed
]


@pytest.mark.parametrize(("raw", "kind"), SYNTHETIC)
def test_every_kind_round_trips_to_the_same_json_line(raw: dict[str, Any], kind: type) -> None:
    typed = event_from_dict(raw)
    assert type(typed) is kind
    assert typed.to_dict() == raw
    assert _line(typed.to_dict()) == _line(raw)


def test_typed_fields_read_as_documented() -> None:
    typed = event_from_dict(SYNTHETIC[4][0])
    assert isinstance(typed, JobState)
    assert (typed.section, typed.take, typed.state, typed.video_id, typed.cost_usd, typed.elapsed) == (
        "Intro", 2, "rendering", "v1", 0.0, 1)
    assert typed.error is None and typed.reused is None


def _recording(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Record every dict the run layer emits, as it reaches the typed-event conversion."""
    raws: list[dict[str, Any]] = []
    real = api.event_from_dict

    def spy(raw: dict[str, Any]) -> Any:
        raws.append(dict(raw))
        return real(raw)

    monkeypatch.setattr(api, "event_from_dict", spy)
    return raws


def _sample(tmp_path: Path) -> Path:
    dest = tmp_path / "sample"
    shutil.copytree(SAMPLES, dest, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return dest / "demo_resolve.otio"


def _assert_lossless(raws: list[dict[str, Any]]) -> None:
    assert raws
    for raw in raws:
        typed = event_from_dict(raw)
        assert not isinstance(typed, OtherEvent), raw
        assert _line(typed.to_dict()) == _line(raw)


def test_a_preview_run_emits_only_known_events_that_convert_losslessly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raws = _recording(monkeypatch)
    otio_heygen.render_file(_sample(tmp_path), tmp_path / "o.otio", backend="preview", on_event=lambda e: None)
    _assert_lossless(raws)
    assert {"plan", "state", "finished"} <= {r["event"] for r in raws}


def test_a_heygen_run_with_429_and_402_converts_losslessly(
    httpserver: HTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    time = FakeTime(min_step=0.001)
    fake = FakeHeyGen(httpserver, render_seconds=30.0, clock=time.clock)
    fake.inject("create", 429, retry_after=str(RETRY_BUDGET_S + 1))  # longer than the client's own retries
    fake.inject("create", 402, times=1)
    raws = _recording(monkeypatch)
    env = {"HEYGEN_API_KEY": FAKE_API_KEY, "HEYGEN_API_URL": fake.base_url, "OTIO_HEYGEN_POLL_INTERVAL": "5",
           "OTIO_HEYGEN_ASSET_CACHE": str(tmp_path / "a.sqlite")}
    result = otio_heygen.render_file(_sample(tmp_path), tmp_path / "o.otio", backend="heygen", env=env,
                                     on_event=lambda e: None, concurrency=1, sleep=time.sleep, clock=time.clock)
    _assert_lossless(raws)
    kinds = {r["event"] for r in raws}
    assert {"rate_limited", "stop_creating", "finished"} <= kinds
    assert result.failures and FAKE_API_KEY not in repr(raws)
