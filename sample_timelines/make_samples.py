#!/usr/bin/env python3
"""Generate the bundled demo: a 60 s synthesized song, a portrait, and one marked-up edit in
three dialects (Resolve OTIO, Premiere/FCP7 XML, CMX3600 EDL).

Run from anywhere: ``python sample_timelines/make_samples.py``. Deterministic: the same
files every time. Media references are relative, so they resolve wherever the repo is cloned.

Files written beside this script:
    song.wav                 60 s, 24 kHz mono 16-bit: kick + bass backing and a "vocal" lead
                             that sings (syllables with vibrato) only inside the sections
    artist.png               1024x1024 synthesized portrait
    demo_resolve.otio        DaVinci Resolve dialect: 23.976 fps, starts 01:00:00:00, timeline
                             markers with durations, colors and notes in metadata["Resolve_OTIO"]
    demo_premiere.xml        Premiere-style FCP7 XML with sequence markers (comments = notes)
    demo.edl                 CMX3600 EDL with LOC markers at record timecode
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import opentimelineio as otio

HERE = Path(__file__).resolve().parent
RATE = 24000 / 1001  # 23.976 as OTIO and Resolve mean it
SAMPLE_RATE = 24000
SONG_FRAMES = 1440  # 60.06 s at 23.976
START_TC = "01:00:00:00"

# name, start frame, end frame (timeline frames from the first frame), color, note
SECTIONS: list[tuple[str, int, int, str, str]] = [
    ("Intro", 0, 192, "BLUE", "motion: looks up slowly, gentle smile\nexpressiveness: low"),
    ("Verse 1", 192, 528, "GREEN", "motion: nods to the beat, holds the microphone"),
    ("Chorus 1", 528, 768, "PINK", "motion: sings with arms wide, eyes closed on long notes\nexpressiveness: high"),
    ("Verse 2", 768, 1056, "GREEN", "motion: leans towards the camera, small hand gestures"),
    ("Chorus 2", 1056, 1296, "PINK", "motion: sings with arms wide, jumps on the downbeat\nexpressiveness: high"),
    ("Outro", 1296, 1440, "BLUE", "motion: closes eyes, sways slowly\nexpressiveness: medium"),
]


def synth_song() -> np.ndarray:
    """Mono float32 song: backing everywhere, vocal melody inside the sung sections."""
    n = round(SONG_FRAMES / RATE * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    bpm = 120.0
    beat = 60.0 / bpm
    phase = (t % beat) / beat
    kick = np.sin(2 * np.pi * (50 + 80 * np.exp(-phase * 30)) * t) * np.exp(-phase * 12) * 0.5
    roots = np.array([55.0, 43.65, 49.0, 41.2])  # A1 F1 G1 E1, one bar each
    bar = (t // (4 * beat)).astype(int) % 4
    bass = 0.18 * np.sign(np.sin(2 * np.pi * roots[bar] * t)) * (0.6 + 0.4 * np.cos(np.pi * phase))
    melody = np.array([440.0, 493.88, 523.25, 587.33, 523.25, 493.88, 440.0, 392.0])
    syllable = (t // (beat / 2)).astype(int)
    freq = melody[syllable % len(melody)] * (1 + 0.01 * np.sin(2 * np.pi * 5.5 * t))
    env = np.clip(np.sin(np.pi * ((t % (beat / 2)) / (beat / 2))) * 1.4, 0, 1) ** 0.7
    vocal_phase = 2 * np.pi * np.cumsum(freq) / SAMPLE_RATE
    vocal = 0.32 * env * (np.sin(vocal_phase) + 0.35 * np.sin(2 * vocal_phase) + 0.15 * np.sin(3 * vocal_phase))
    sung = np.zeros(n, dtype=bool)
    for _, start, end, _, _ in SECTIONS:
        a, b = round(start / RATE * SAMPLE_RATE), round(end / RATE * SAMPLE_RATE)
        sung[a + SAMPLE_RATE // 4 : b - SAMPLE_RATE // 4] = True  # breathe between sections
    song = kick + bass + np.where(sung, vocal, 0.0)
    fade = np.minimum(1.0, np.minimum(t / 0.05, (t[-1] - t) / 0.5))
    return (song * fade * 0.8).astype(np.float32)


def write_wav(path: Path, mono: np.ndarray) -> None:
    with av.open(str(path), mode="w", format="wav") as out:
        stream = out.add_stream("pcm_s16le", rate=SAMPLE_RATE, layout="mono")
        pcm = (np.clip(mono, -1, 1) * 32767).astype(np.int16).reshape(1, -1)
        for start in range(0, pcm.shape[1], 4096):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(pcm[:, start : start + 4096]), format="s16",
                                               layout="mono")
            frame.sample_rate = SAMPLE_RATE
            frame.pts = start
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def synth_portrait(size: int = 1024) -> np.ndarray:
    """A front-facing cartoon portrait: face, eyes, mouth, hair, shoulders on a gradient."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    img = np.zeros((size, size, 3), dtype=np.float32)
    img[..., 0], img[..., 1], img[..., 2] = 40 + 60 * y, 30 + 20 * x, 90 + 90 * (1 - y)

    def ellipse(cx: float, cy: float, rx: float, ry: float) -> np.ndarray:
        return ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1.0

    img[ellipse(0.5, 1.05, 0.42, 0.3)] = (150, 30, 60)  # shoulders / jacket
    img[(abs(x - 0.5) < 0.07) & (y > 0.62) & (y < 0.8)] = (224, 172, 140)  # neck
    img[ellipse(0.5, 0.36, 0.25, 0.27)] = (60, 35, 25)  # hair
    img[ellipse(0.5, 0.45, 0.2, 0.25)] = (232, 182, 150)  # face
    for ex in (0.42, 0.58):
        img[ellipse(ex, 0.42, 0.04, 0.025)] = (250, 250, 250)
        img[ellipse(ex, 0.42, 0.018, 0.018)] = (40, 70, 110)
        img[ellipse(ex, 0.365, 0.05, 0.01)] = (60, 35, 25)  # brows
    img[ellipse(0.5, 0.5, 0.015, 0.04)] = (214, 160, 130)  # nose
    img[ellipse(0.5, 0.58, 0.07, 0.03)] = (170, 50, 60)  # mouth
    return np.clip(img, 0, 255).astype(np.uint8)


def write_png(path: Path, rgb: np.ndarray) -> None:
    with av.open(str(path), mode="w", format="image2") as out:
        stream = out.add_stream("png", rate=1)
        stream.width, stream.height, stream.pix_fmt = rgb.shape[1], rgb.shape[0], "rgb24"
        for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def frames(n: int) -> otio.opentime.RationalTime:
    return otio.opentime.RationalTime(n, RATE)


def span(start: int, end: int) -> otio.opentime.TimeRange:
    return otio.opentime.TimeRange(frames(start), frames(end - start))


def build_timeline(dialect: str) -> otio.schema.Timeline:
    """The demo edit: a background clip on V1, the song on A1, one marker per section."""
    tl = otio.schema.Timeline(name="" if dialect == "resolve" else "Demo Song")
    if dialect == "resolve":
        tl.global_start_time = otio.opentime.from_timecode(START_TC, RATE)
    background = otio.schema.Clip(
        name="Background",
        media_reference=otio.schema.GeneratorReference(
            name="Solid Color", generator_kind="SolidColor", parameters={"color": "#202030"},
            available_range=span(0, SONG_FRAMES),
        ),
        source_range=span(0, SONG_FRAMES),
    )
    song = otio.schema.Clip(
        name="song.wav",
        media_reference=otio.schema.ExternalReference(
            target_url="song.wav", available_range=span(0, SONG_FRAMES)
        ),
        source_range=span(0, SONG_FRAMES),
    )
    if dialect == "resolve":
        for item in (background, song):
            item.metadata["Resolve_OTIO"] = {"Link Group ID": 1} if item is song else {}
    # otio-fcp-adapter 1.0 cannot write generator clips: Premiere's V1 holds a gap instead.
    first_video = background if dialect == "resolve" else otio.schema.Gap(source_range=span(0, SONG_FRAMES))
    tl.tracks.append(otio.schema.Track(name="Video 1", kind=otio.schema.TrackKind.Video, children=[first_video]))
    tl.tracks.append(otio.schema.Track(name="Audio 1", kind=otio.schema.TrackKind.Audio, children=[song]))
    for name, start, end, color, note in SECTIONS:
        marker = otio.schema.Marker(name=name, marked_range=span(start, end), color=color)
        if dialect == "resolve":
            marker.metadata["Resolve_OTIO"] = {"Keywords": [], "Note": note}
        else:
            marker.metadata["fcp_xml"] = {"comment": note}
        tl.tracks.markers.append(marker)
    return tl


def edl_text() -> str:
    """CMX3600 with the song as one audio event and a LOC per section start (record timecode)."""

    def tc(frame: int, hours: int = 0) -> str:
        total = frame + hours * 3600 * 24
        return f"{total // 86400:02d}:{total // 1440 % 60:02d}:{total // 24 % 60:02d}:{total % 24:02d}"

    lines = [
        "TITLE: Demo Song",
        "FCM: NON-DROP FRAME",
        "",
        f"001  AX       A     C        {tc(0)} {tc(SONG_FRAMES)} {tc(0, 1)} {tc(SONG_FRAMES, 1)}",
        "* FROM CLIP NAME: song.wav",
        "* SOURCE FILE: song.wav",
    ]
    lines += [f"* LOC: {tc(start, 1)} {color:<7} {name}" for name, start, _, color, _ in SECTIONS]
    return "\r\n".join(lines) + "\r\n"


def main() -> None:
    write_wav(HERE / "song.wav", synth_song())
    write_png(HERE / "artist.png", synth_portrait())
    otio.adapters.write_to_file(build_timeline("resolve"), str(HERE / "demo_resolve.otio"))
    otio.adapters.write_to_file(build_timeline("premiere"), str(HERE / "demo_premiere.xml"), adapter_name="fcp_xml")
    (HERE / "demo.edl").write_bytes(edl_text().encode("ascii"))
    for path in sorted(HERE.iterdir()):
        if path.suffix != ".py":
            print(f"{path.name:24} {path.stat().st_size:>10,} bytes")


if __name__ == "__main__":
    main()
