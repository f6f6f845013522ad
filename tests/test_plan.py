"""Tests for otio_heygen.planning.plan: settings precedence, value normalisation, job keys, the plan and its JSON.

Pure functions on values: sections, a parsed config file and digests are built in the test.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from otio_heygen.config import FileConfig
from otio_heygen.errors import InputError, SectionError
from otio_heygen.planning.plan import (
    KEY_VERSION,
    build_plan,
    canonical_json,
    content_hash,
    job_key,
    normalise_setting,
    rekey,
    resolve_section_settings,
)
from otio_heygen.planning.types import SectionSettings
from otio_heygen.run.contract import idempotency_key_for
from otio_heygen.sections.model import Section
from tests.support.builders import make_section

NTSC = 24000 / 1001
PHOTO = "a" * 64
AUDIO = "b" * 64


def section(
    name: str = "Chorus 1",
    start: int = 100,
    end: int = 340,
    *,
    index: int = 1,
    rate: float = NTSC,
    directives: dict[str, str] | None = None,
) -> Section:
    return make_section(index, name, start, end, rate, directives=directives)


def config(data: dict[str, Any] | None = None) -> FileConfig:
    return FileConfig.model_validate(data or {})


def resolve(
    sec: Section,
    *,
    cli: dict[str, Any] | None = None,
    file: FileConfig | None = None,
    timeline_dir: Path = Path("/edit/timeline"),
    config_dir: Path | None = Path("/edit/config"),
    guessed: Mapping[str, str | None] | None = None,
) -> SectionSettings:
    return resolve_section_settings(
        sec, cli=cli or {}, file=file or config(), timeline_dir=timeline_dir, config_dir=config_dir,
        guessed=guessed,
    )


# ------------------------------------------------------------------------------------ precedence


def layered(drop: set[str]) -> SectionSettings:
    """Every layer sets expressiveness (and motion) to a different value, minus the dropped layers."""
    directives = {} if "note" in drop else {"expressiveness": "high", "motion": "from note"}
    file_data: dict[str, Any] = {}
    if "look" not in drop:
        file_data["looks"] = [{"match": "chorus*", "expressiveness": "low", "motion": "from look"}]
    if "defaults" not in drop:
        file_data["defaults"] = {"expressiveness": "medium", "motion": "from defaults", "resolution": "720p"}
    cli = {} if "cli" in drop else {"expressiveness": "LOW", "motion": "from cli", "resolution": "4K"}
    guessed = {} if "guess" in drop else {"resolution": "1080p", "aspect": "9:16"}
    return resolve(section(directives=directives), cli=cli, file=config(file_data), guessed=guessed)


@pytest.mark.parametrize(
    ("drop", "motion"),
    [
        (set(), "from note"),
        ({"note"}, "from look"),
        ({"note", "look"}, "from cli"),
        ({"note", "look", "cli"}, "from defaults"),
        ({"note", "look", "cli", "defaults"}, None),
    ],
)
def test_each_layer_overrides_the_ones_below(drop: set[str], motion: str | None) -> None:
    assert layered(drop).motion_prompt == motion


def test_precedence_per_key_mixes_layers() -> None:
    full = layered(set())
    assert full.expressiveness == "high"  # note
    assert full.resolution == "4k"  # cli (note and look do not set it), beats defaults and guess
    assert full.aspect_ratio == "9:16"  # only the timeline-format guess sets it
    no_cli = layered({"cli"})
    assert no_cli.resolution == "720p"  # config defaults beat the guess
    only_guess = layered({"note", "look", "cli", "defaults"})
    assert only_guess.resolution == "1080p" and only_guess.aspect_ratio == "9:16"
    assert only_guess.expressiveness == "medium"  # built-in default


def test_built_in_defaults() -> None:
    s = resolve(section())
    assert s == SectionSettings(image=None, motion_prompt=None, expressiveness="medium", resolution="1080p",
                                aspect_ratio="16:9", fit="cover", takes=1, skip=False)


def test_guess_of_none_falls_back_to_built_in() -> None:
    s = resolve(section(), guessed={"resolution": None, "aspect": None})
    assert (s.resolution, s.aspect_ratio) == ("1080p", "16:9")
    s = resolve(section(), guessed={"resolution": "720p", "aspect": "1:1"})
    assert (s.resolution, s.aspect_ratio) == ("720p", "1:1")


def test_look_matching_is_a_case_insensitive_glob_and_first_match_wins() -> None:
    file = config({"looks": [
        {"match": "VERSE*", "motion": "verse look"},
        {"match": "*chorus ?", "motion": "first chorus look"},
        {"match": "Chorus*", "motion": "second chorus look", "expressiveness": "high"},
    ]})
    assert resolve(section("Chorus 2"), file=file).motion_prompt == "first chorus look"
    # the first match is the only look used: the second's expressiveness does not leak in
    assert resolve(section("Chorus 2"), file=file).expressiveness == "medium"
    assert resolve(section("verse 1"), file=file).motion_prompt == "verse look"
    assert resolve(section("Chorus 12"), file=file).motion_prompt == "second chorus look"
    assert resolve(section("Bridge"), file=file).motion_prompt is None


def test_fields_a_look_does_not_set_fall_through_to_cli() -> None:
    file = config({"looks": [{"match": "*", "motion": "look"}], "defaults": {"expressiveness": "low"}})
    s = resolve(section(), cli={"expressiveness": "high", "motion": None}, file=file)
    assert s.motion_prompt == "look"
    assert s.expressiveness == "high"


def test_cli_none_values_are_not_given() -> None:
    file = config({"defaults": {"motion": "defaults"}})
    assert resolve(section(), cli={"motion": None, "image": None}, file=file).motion_prompt == "defaults"


def test_empty_note_value_falls_through() -> None:
    file = config({"defaults": {"image": "artist.png", "motion": "sways"}})
    s = resolve(section(directives={"image": "", "motion": "  ", "expressiveness": ""}), file=file)
    assert s.image == Path("/edit/config/artist.png")
    assert s.motion_prompt == "sways"
    assert s.expressiveness == "medium"


def test_takes_and_skip_from_each_source() -> None:
    assert resolve(section(directives={"takes": "3"})).takes == 3
    assert resolve(section(), cli={"takes": "2"}).takes == 2
    assert resolve(section(), cli={"takes": 4}).takes == 4
    assert resolve(section(), file=config({"looks": [{"match": "*", "takes": 5}]})).takes == 5
    assert resolve(section(directives={"skip": "Yes"})).skip is True
    assert resolve(section(directives={"skip": "no"})).skip is False


def test_cli_takes_out_of_range_is_a_section_error() -> None:
    with pytest.raises(SectionError, match="takes"):
        resolve(section(), cli={"takes": 11})


# ------------------------------------------------------------------------------------ image paths


def test_image_from_note_resolves_against_the_timeline_folder(tmp_path: Path) -> None:
    s = resolve(section(directives={"image": "looks/red.png"}), timeline_dir=tmp_path / "tl",
                config_dir=tmp_path / "cfg")
    assert s.image == tmp_path / "tl" / "looks" / "red.png"


def test_image_from_config_resolves_against_the_config_folder(tmp_path: Path) -> None:
    look = config({"looks": [{"match": "chorus*", "image": "looks/red.png"}]})
    defaults = config({"defaults": {"image": "artist.png"}})
    assert resolve(section(), file=look, timeline_dir=tmp_path / "tl",
                   config_dir=tmp_path / "cfg").image == tmp_path / "cfg" / "looks" / "red.png"
    assert resolve(section(), file=defaults, timeline_dir=tmp_path / "tl",
                   config_dir=tmp_path / "cfg").image == tmp_path / "cfg" / "artist.png"
    # no config file path known: the timeline's folder
    assert resolve(section(), file=defaults, timeline_dir=tmp_path / "tl",
                   config_dir=None).image == tmp_path / "tl" / "artist.png"


def test_image_from_cli_resolves_against_the_current_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    s = resolve(section(), cli={"image": "photos/me.jpg"}, timeline_dir=tmp_path / "tl",
                config_dir=tmp_path / "cfg")
    assert s.image == tmp_path / "photos" / "me.jpg"


def test_absolute_and_home_image_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    absolute = tmp_path / "abs.png"
    assert resolve(section(directives={"image": str(absolute)})).image == absolute
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert resolve(section(directives={"image": "~/me.png"})).image == tmp_path / "home" / "me.png"


# ------------------------------------------------------------------------------------ normalisation


@pytest.mark.parametrize(
    ("key", "raw", "expected"),
    [
        ("resolution", "4K", "4k"), ("resolution", "2160p", "4k"), ("resolution", "UHD", "4k"),
        ("resolution", "1080", "1080p"), ("resolution", " 1080P ", "1080p"), ("resolution", "HD", "1080p"),
        ("resolution", "720", "720p"), ("resolution", "720p", "720p"),
        ("aspect", "16x9", "16:9"), ("aspect", "16/9", "16:9"), ("aspect", "9X16", "9:16"),
        ("aspect", "4:5", "4:5"), ("aspect", "5x4", "5:4"), ("aspect", "1:1", "1:1"), ("aspect", "Auto", "auto"),
        ("expressiveness", "HIGH", "high"), ("expressiveness", "Medium", "medium"), ("expressiveness", "low", "low"),
        ("fit", "Contain", "contain"), ("fit", "cover", "cover"),
        ("takes", "1", 1), ("takes", " 10 ", 10), ("takes", "3", 3),
        ("skip", "yes", True), ("skip", "TRUE", True), ("skip", "on", True), ("skip", "y", True),
        ("skip", "No", False), ("skip", "false", False), ("skip", "0", False), ("skip", "off", False),
        ("motion", "  nods to the beat ", "nods to the beat"), ("motion", "", None),
    ],
)
def test_normalise_setting_accepts(key: str, raw: str, expected: object) -> None:
    assert normalise_setting(key, raw, "section 'X' note") == expected


@pytest.mark.parametrize(
    ("key", "raw"),
    [
        ("resolution", "8k"), ("resolution", "1440p"), ("resolution", ""),
        ("aspect", "4:3"), ("aspect", "wide"), ("expressiveness", "wild"), ("fit", "stretch"),
        ("takes", "0"), ("takes", "11"), ("takes", "two"), ("takes", "2.5"), ("takes", "-1"), ("takes", ""),
        ("skip", "maybe"), ("skip", "2"),
    ],
)
def test_normalise_setting_rejects(key: str, raw: str) -> None:
    with pytest.raises(SectionError) as info:
        normalise_setting(key, raw, "section 'Bridge' note")
    assert info.value.exit_code == 2
    message = info.value.one_line()
    assert message.startswith("section 'Bridge' note:")
    assert key in message
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("directives", "word"),
    [
        ({"resolution": "8K"}, "resolution"), ({"aspect": "3:2"}, "aspect"),
        ({"expressiveness": "extreme"}, "expressiveness"), ({"takes": "12"}, "takes"),
        ({"takes": "0"}, "takes"), ({"skip": "perhaps"}, "skip"),
    ],
)
def test_bad_note_value_names_the_section(directives: dict[str, str], word: str) -> None:
    with pytest.raises(SectionError) as info:
        resolve(section("Verse 2", directives=directives))
    assert isinstance(info.value, InputError)
    assert "'Verse 2'" in str(info.value) and word in str(info.value)


def test_bad_look_value_names_the_section_and_the_look() -> None:
    file = config({"looks": [{"match": "Verse*", "resolution": "8k"}]})
    with pytest.raises(SectionError, match=r"section 'Verse 2' look 'Verse\*'.*resolution"):
        resolve(section("Verse 2"), file=file)


def test_bad_cli_value_names_the_command_line() -> None:
    with pytest.raises(SectionError, match="command line: aspect"):
        resolve(section(), cli={"aspect": "2.39:1"})


def test_a_bad_value_in_a_lower_layer_is_not_read_when_shadowed() -> None:
    file = config({"defaults": {"expressiveness": "bogus"}})
    assert resolve(section(directives={"expressiveness": "high"}), file=file).expressiveness == "high"


# ------------------------------------------------------------------------------------ job keys


def settings(**changes: Any) -> SectionSettings:
    base = SectionSettings(image=Path("/p/artist.png"), motion_prompt="nods", expressiveness="medium",
                           resolution="1080p", aspect_ratio="16:9", fit="cover", takes=1)
    return replace(base, **changes)


def key_of(sec: Section | None = None, conf: SectionSettings | None = None, take: int = 1, handles: int = 0,
           photo: str | None = PHOTO, audio: str | None = AUDIO) -> str:
    return job_key(sec or section(), conf or settings(), take, handles, photo_digest=photo, audio_digest=audio)


def test_canonical_json_and_content_hash_are_order_independent() -> None:
    assert canonical_json({"b": 1, "a": [1, "é"]}) == '{"a":[1,"\\u00e9"],"b":1}'
    assert content_hash({"a": 1, "b": 2}) == content_hash({"b": 2, "a": 1})
    assert content_hash({"a": 1}) != content_hash({"a": 2})


GOLDEN_KEY = "6d5640a350672b81bd20384e8c87a56398b75aee37430878e3ab549b5ab61338"
"""The key of ``key_of()``'s fixed section, settings and digests. The job key decides whether a
rerun pays: if this changes, every section every user already bought is bought again. Change it
only with a KEY_VERSION bump and a migration that maps old keys, never to make a test pass."""


def test_job_key_is_pinned() -> None:
    assert key_of() == GOLDEN_KEY
    assert KEY_VERSION == 1


def test_idempotency_keys_derive_from_the_job_key_unchanged() -> None:
    assert idempotency_key_for(GOLDEN_KEY) == f"otioheygen:{GOLDEN_KEY}"
    assert idempotency_key_for(GOLDEN_KEY, attempt=2) == f"otioheygen:{GOLDEN_KEY}:a2"


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda: key_of(photo="c" * 64), id="photo digest"),
        pytest.param(lambda: key_of(audio="d" * 64), id="audio digest"),
        pytest.param(lambda: key_of(conf=settings(motion_prompt="jumps")), id="motion"),
        pytest.param(lambda: key_of(conf=settings(motion_prompt=None)), id="no motion"),
        pytest.param(lambda: key_of(conf=settings(expressiveness="high")), id="expressiveness"),
        pytest.param(lambda: key_of(conf=settings(resolution="4k")), id="resolution"),
        pytest.param(lambda: key_of(conf=settings(aspect_ratio="9:16")), id="aspect"),
        pytest.param(lambda: key_of(conf=settings(fit="contain")), id="fit"),
        pytest.param(lambda: key_of(take=2), id="take"),
        pytest.param(lambda: key_of(handles=12), id="handles"),
        pytest.param(lambda: key_of(photo=None), id="photo unknown"),
    ],
)
def test_job_key_changes_with_what_changes_the_render(change: Callable[[], str]) -> None:
    assert change() != key_of()


@pytest.mark.parametrize(
    "other",
    [
        pytest.param(section("Hook"), id="name"),
        pytest.param(section(index=7), id="index"),
        pytest.param(section(start=1000, end=1240), id="position"),
        pytest.param(replace(section(), color="RED", text="note", origin="track 'V1'"), id="color/text"),
    ],
)
def test_job_key_ignores_name_and_position_when_audio_is_the_same(other: Section) -> None:
    assert key_of(sec=other) == key_of()


def test_job_key_ignores_takes_count_and_skip() -> None:
    assert key_of(conf=settings(takes=3)) == key_of()


def test_job_key_without_audio_digest_falls_back_to_the_frames() -> None:
    a = key_of(audio=None)
    assert a == key_of(sec=section("Other name"), audio=None)
    assert a != key_of(sec=section(start=101, end=341), audio=None)
    assert a != key_of(sec=section(rate=25.0), audio=None)


def test_job_key_without_photo_digest_uses_the_path() -> None:
    assert key_of(photo=None) != key_of(conf=settings(image=Path("/p/other.png")), photo=None)


# ------------------------------------------------------------------------------------ build_plan


def make_plan(
    sections: list[Section],
    confs: list[SectionSettings] | None = None,
    *,
    handles: int = 0,
    price: float = 0.1,
    audio: dict[tuple[int, int], str] | None = None,
    warnings: tuple[str, ...] = (),
) -> Any:
    confs = confs if confs is not None else [settings() for _ in sections]
    if audio is None:
        audio = {(max(0, s.start_frame - handles), s.end_frame + handles): f"{s.start_frame:064d}" for s in sections}
    return build_plan(sections, confs, rate=NTSC, handles=handles, price_per_second=price,
                      photo_digests={Path("/p/artist.png"): PHOTO}, audio_digests=audio, warnings=warnings)


def test_one_job_per_section_in_order_with_digest_keys() -> None:
    secs = [section("Intro", 0, 48, index=1), section("Verse", 48, 120, index=2)]
    plan = make_plan(secs)
    assert [j.section.name for j in plan.jobs] == ["Intro", "Verse"]
    assert [j.take for j in plan.jobs] == [1, 1]
    assert plan.jobs[1].key == job_key(secs[1], settings(), 1, 0, photo_digest=PHOTO, audio_digest=f"{48:064d}")
    assert plan.sections == tuple(secs)
    assert make_plan(secs).jobs == plan.jobs  # stable across runs


def test_plan_keys_survive_renaming_and_moving_a_section() -> None:
    before = make_plan([section("Chorus", 100, 200)], audio={(100, 200): AUDIO})
    after = make_plan([section("Hook", 500, 600, index=3)], audio={(500, 600): AUDIO})
    assert before.jobs[0].key == after.jobs[0].key


def test_identical_sections_get_distinct_stable_keys() -> None:
    secs = [section("Chorus 1", 100, 200, index=1), section("Chorus 2", 300, 400, index=2)]
    audio = {(100, 200): AUDIO, (300, 400): AUDIO}
    plan = make_plan(secs, audio=audio)
    k1, k2 = (j.key for j in plan.jobs)
    assert k1 != k2
    assert k1 == key_of(sec=secs[0])
    assert [j.key for j in make_plan(secs, audio=audio).jobs] == [k1, k2]


def test_takes_produce_one_job_each() -> None:
    plan = make_plan([section()], [settings(takes=3)])
    assert [j.take for j in plan.jobs] == [1, 2, 3]
    assert len({j.key for j in plan.jobs}) == 3
    assert [j.title for j in plan.jobs] == ["Chorus 1", "Chorus 1 (take 2)", "Chorus 1 (take 3)"]
    assert [j.media_basename for j in plan.jobs] == [f"01_Chorus_1_take{n}.mp4" for n in (1, 2, 3)]


def test_skipped_sections_are_listed_not_planned() -> None:
    secs = [section("Intro", 0, 48, index=1), section("Verse", 48, 120, index=2)]
    plan = make_plan(secs, [settings(skip=True), settings()], warnings=("earlier warning",))
    assert [j.section.name for j in plan.jobs] == ["Verse"]
    assert plan.skipped == ("Intro",)
    assert plan.warnings[0] == "earlier warning"
    assert any("Intro" in w and "skip" in w for w in plan.warnings[1:])
    assert plan.to_json()["skipped"] == ["Intro"]


def test_handles_extend_audio_and_clamp_at_zero() -> None:
    secs = [section("Intro", 5, 48, index=1), section("Verse", 48, 120, index=2)]
    plan = make_plan(secs, handles=12)
    intro, verse = plan.jobs
    assert (intro.audio_start_frame, intro.audio_end_frame) == (0, 60)
    assert (verse.audio_start_frame, verse.audio_end_frame) == (36, 132)
    assert intro.handles_frames == 12
    assert verse.key == key_of(sec=secs[1], handles=12, audio=f"{48:064d}")
    assert verse.key != make_plan(secs, handles=0).jobs[1].key


def test_negative_handles_are_refused() -> None:
    with pytest.raises(SectionError, match="handles"):
        make_plan([section()], handles=-1)


def test_settings_must_match_sections() -> None:
    with pytest.raises(ValueError):
        make_plan([section()], [])


def test_total_seconds_and_cost_include_takes_and_handles() -> None:
    secs = [section("A", 0, 240, index=1), section("B", 480, 720, index=2)]
    plan = make_plan(secs, [settings(takes=2), settings()], handles=24, price=0.5)
    frames = (264 - 0) * 2 + (744 - 456)  # A clamps at 0; two takes of A
    assert plan.total_seconds == pytest.approx(frames / NTSC)
    assert plan.estimated_cost_usd == round(frames / NTSC * 0.5, 2)
    assert make_plan(secs, price=0.0).estimated_cost_usd == 0.0


def test_to_json_has_the_cli_contract_fields() -> None:
    secs = [section("Intro", 0, 48, index=1), section("Verse", 48, 120, index=2)]
    plan = make_plan(secs, [settings(image=None, motion_prompt=None), settings(takes=2)], handles=6,
                     warnings=("w1",))
    data = json.loads(json.dumps(plan.to_json()))
    assert set(data) >= {"sections", "total_seconds", "estimated_cost_usd", "warnings"}
    assert data["warnings"] == ["w1"]
    rows = data["sections"]
    assert len(rows) == 3
    for row in rows:
        assert set(row) >= {"name", "start_frame", "end_frame", "rate", "seconds", "image", "motion_prompt",
                            "job_key"}
    assert rows[0]["image"] is None and rows[0]["motion_prompt"] is None
    assert rows[1] == rows[1] | {"name": "Verse", "start_frame": 48, "end_frame": 120, "rate": NTSC,
                                 "image": "/p/artist.png", "motion_prompt": "nods", "take": 1}
    assert rows[1]["seconds"] == pytest.approx(72 / NTSC, abs=1e-6)  # the section, without handles
    assert [r["job_key"] for r in rows] == [j.key for j in plan.jobs]
    assert data["total_seconds"] == pytest.approx(plan.total_seconds, abs=1e-3)
    assert data["estimated_cost_usd"] == plan.estimated_cost_usd


def test_timecode_start_is_display_only() -> None:
    secs = [section("Intro", 0, 48, index=1)]
    confs = [settings()]
    common: dict[str, Any] = {"rate": NTSC, "handles": 0, "price_per_second": 0.1,
                              "photo_digests": {}, "audio_digests": {(0, 48): AUDIO}}
    at_zero = build_plan(secs, confs, **common)
    at_hour = build_plan(secs, confs, timecode_start=86314, **common)
    assert at_hour.timecode_start == 86314
    assert at_hour.to_json()["sections"] == at_zero.to_json()["sections"]
    assert at_hour.to_json()["sections"][0]["start_frame"] == 0


# ------------------------------------------------------------------------------------ rekey


def test_rekey_makes_another_take_of_the_same_job() -> None:
    job = make_plan([section()], audio={(100, 340): AUDIO}).jobs[0]
    again = rekey(job, 4, photo_digest=PHOTO, audio_digest=AUDIO)
    assert again.take == 4 and again.section == job.section and again.settings == job.settings
    assert again.key == key_of(take=4)
    assert rekey(again, 1, photo_digest=PHOTO, audio_digest=AUDIO).key == job.key


def test_rekey_keeps_identical_sections_apart() -> None:
    secs = [section("Chorus 1", 100, 200, index=1), section("Chorus 2", 300, 400, index=2)]
    plan = make_plan(secs, audio={(100, 200): AUDIO, (300, 400): AUDIO})
    first, second = (rekey(j, 2, photo_digest=PHOTO, audio_digest=AUDIO) for j in plan.jobs)
    assert first.key != second.key
    assert rekey(second, 1, photo_digest=PHOTO, audio_digest=AUDIO).key == plan.jobs[1].key


def test_rekey_with_new_digests_follows_the_content() -> None:
    job = make_plan([section()], audio={(100, 340): AUDIO}).jobs[0]
    assert rekey(job, 2, photo_digest=PHOTO, audio_digest="e" * 64).key == key_of(take=2, audio="e" * 64)


def test_handles_stop_at_the_song_end_so_silence_is_never_paid_for() -> None:
    secs = [section("Verse", 0, 240, index=1), section("Outro", 240, 480, index=2)]
    song_end = 490
    digests = {(0, 252): "a" * 64, (228, 490): "b" * 64}
    plan = build_plan(secs, [settings(), settings()], rate=NTSC, handles=12, price_per_second=0.1,
                      photo_digests={Path("/p/artist.png"): PHOTO}, audio_digests=digests,
                      song_end_frame=song_end)
    verse, outro = plan.jobs
    assert (verse.audio_start_frame, verse.audio_end_frame) == (0, 252)  # clamped at the first frame
    assert (outro.audio_start_frame, outro.audio_end_frame) == (228, 490)  # clamped at the song end
    assert plan.total_seconds == pytest.approx((252 + 262) / NTSC)
    unclamped = build_plan(secs, [settings(), settings()], rate=NTSC, handles=12, price_per_second=0.1,
                           photo_digests={Path("/p/artist.png"): PHOTO}, audio_digests=digests)
    assert unclamped.jobs[1].audio_end_frame == 492
    assert outro.key != unclamped.jobs[1].key  # the audio digest of the clamped span was used


def test_audio_span_never_cuts_into_the_section() -> None:
    from otio_heygen.planning.types import audio_span

    sec = section("Late", 400, 500)
    assert audio_span(sec, 24, limit=450) == (376, 500)  # a song ending early never shortens the section
    assert audio_span(sec, 24, limit=510) == (376, 510)
    assert audio_span(sec, 24) == (376, 524)


def test_only_keeps_full_run_keys_even_for_identical_sections() -> None:
    # two choruses with the same audio and settings: the second one's key carries its occurrence
    secs = [section("Chorus 1", 0, 240, index=1), section("Verse", 240, 480, index=2),
            section("Chorus 2", 480, 720, index=3)]
    digests = {(0, 240): "c" * 64, (240, 480): "v" * 64, (480, 720): "c" * 64}
    common: dict[str, Any] = dict(rate=NTSC, handles=0, price_per_second=0.1,
                                  photo_digests={Path("/p/artist.png"): PHOTO}, audio_digests=digests)
    full = build_plan(secs, [settings()] * 3, **common)
    only = build_plan(secs, [settings()] * 3, only={3}, **common)
    assert [j.section.name for j in only.jobs] == ["Chorus 2"]
    assert only.jobs[0].key == full.jobs[2].key != full.jobs[0].key
    assert [j.key for j in only.left_out] == [full.jobs[0].key, full.jobs[1].key]
    assert [s.name for s in only.sections] == ["Chorus 2"]
    assert only.total_seconds == pytest.approx(240 / NTSC)  # left-out sections cost nothing
