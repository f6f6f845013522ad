"""Benchmark: ``--media-format prores|dnxhr`` encode speed and memory on this machine.

Run on demand: ``python tests/bench/bench_transcode.py [--seconds 10] [--size 1920x1080]``. Generates a
HeyGen-like master (H.264 + AAC, 25 fps, moving picture) in a temp dir, then, each in its own process:

- baseline: decoding the master only (what any conversion must do at least);
- prores / dnxhr: ``transcode`` to the timeline's 24000/1001 at the same size (the product's path);
- with ``--compare-ks``: the same ProRes 422 HQ encode with FFmpeg's other encoder, ``prores_ks``
  (why the product uses ``prores_aw``).

Prints seconds of media encoded per wall second, the ratio to the decode baseline of the same run, and
peak memory: the process's max RSS and the tracemalloc peak of Python/numpy allocations, next to what a
decode-everything-first design would hold (all frames of the clip as 10-bit 4:2:2).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import sys
import tempfile
import time
import tracemalloc
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from otio_heygen.media import transcode as transcode_module
from otio_heygen.media.transcode import EncodeFormat, TranscodeSpec, record_timecode, transcode

NTSC = 24000 / 1001


def make_master(path: Path, seconds: float, size: tuple[int, int]) -> Path:
    """A 25 fps H.264 + AAC file like HeyGen's, with a moving gradient (so the encoders do real work)."""
    width, height = size
    sample_rate = 48000
    with av.open(str(path), "w", format="mp4") as out:
        video = out.add_stream("libx264", rate=25, options={"preset": "ultrafast"})
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        audio = out.add_stream("aac", rate=sample_rate, layout="mono")
        x = np.linspace(0, 255, width, dtype=np.float32)[None, :]
        y = np.linspace(0, 255, height, dtype=np.float32)[:, None]
        for i in range(round(seconds * 25)):
            plane = ((x + y + i * 9) % 256).astype(np.uint8)
            image = np.stack([plane, np.roll(plane, i, axis=1), 255 - plane], axis=-1)
            for packet in video.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                out.mux(packet)
        for packet in video.encode(None):
            out.mux(packet)
        t = np.arange(round(seconds * sample_rate)) / sample_rate
        tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        for start in range(0, tone.size, 1024):
            frame = av.AudioFrame.from_ndarray(tone[start : start + 1024].reshape(1, -1), format="flt", layout="mono")
            frame.sample_rate, frame.pts = sample_rate, start
            for packet in audio.encode(frame):
                out.mux(packet)
        for packet in audio.encode(None):
            out.mux(packet)
    return path


def _decode_only(master: Path) -> int:
    with av.open(str(master)) as src:
        src.streams.video[0].thread_type = "AUTO"
        return sum(1 for _ in src.decode(video=0))


def _child(kind: str, master: Path, out_dir: Path, seconds: float, size: tuple[int, int], queue: mp.Queue) -> None:
    tracemalloc.start()
    t0 = time.perf_counter()
    if kind == "decode":
        _decode_only(master)
    elif kind == "prores_ks":
        transcode_module.FORMATS["prores"] = EncodeFormat("prores_ks", "hq", "yuv422p10le", ".mov", "ProRes 422 HQ")
        frames = round(seconds * NTSC)
        spec = TranscodeSpec("prores", NTSC, frames, size, record_timecode(86400, NTSC), "Bench")
        transcode(master, out_dir / f"bench_{kind}.mov", spec)
    else:
        frames = round(seconds * NTSC)
        spec = TranscodeSpec(kind, NTSC, frames, size, record_timecode(86400, NTSC), "Bench")  # type: ignore[arg-type]
        transcode(master, out_dir / f"bench_{kind}.mov", spec)
    elapsed = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    queue.put((elapsed, peak, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024))


def measure(kind: str, master: Path, out_dir: Path, seconds: float, size: tuple[int, int]) -> tuple[float, int, int]:
    ctx = mp.get_context("spawn")
    queue: mp.Queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(kind, master, out_dir, seconds, size, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result  # type: ignore[no-any-return]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the master (default 10 s)")
    parser.add_argument("--size", default="1920x1080", help="frame size (HeyGen 1080p by default)")
    parser.add_argument("--compare-ks", action="store_true", help="also time FFmpeg's prores_ks encoder")
    args = parser.parse_args(argv)
    size = tuple(int(v) for v in args.size.lower().split("x"))
    assert len(size) == 2
    with tempfile.TemporaryDirectory(prefix="bench-transcode-") as tmp:
        folder = Path(tmp)
        master = make_master(folder / "master.mp4", args.seconds, (size[0], size[1]))
        print(f"master: {args.seconds:g} s of {size[0]}x{size[1]} H.264 25 fps + AAC; target 24000/1001, same size")
        print(f"PyAV {av.__version__}, {mp.cpu_count()} CPUs (shared)")
        all_frames = round(args.seconds * NTSC) * size[0] * size[1] * 2 * 2  # 10-bit 4:2:2: 4 bytes per 2 px
        print(f"a decode-everything-first design would hold {all_frames / 2**20:.0f} MB of frames")
        base = None
        for kind in ("decode", "prores", "dnxhr", *(("prores_ks",) if args.compare_ks else ())):
            elapsed, peak, rss = measure(kind, master, folder, args.seconds, (size[0], size[1]))
            speed = args.seconds / elapsed
            base = base or speed
            size_note = ""
            if kind != "decode":
                out = folder / f"bench_{kind}.mov"
                with av.open(str(out)) as check:
                    stream = check.streams.video[0]
                    assert Fraction(stream.average_rate) == Fraction(24000, 1001)
                    assert stream.frames == round(args.seconds * NTSC)
                    size_note = f", {stream.codec_context.name} {stream.codec_context.profile}"
                size_note += f", file {out.stat().st_size / 2**20:.0f} MB"
            print(f"{kind:>7}: {elapsed:6.2f} s wall, {speed:5.2f} s of media per wall second "
                  f"({speed / base:4.2f}x the decode baseline), peak RSS {rss / 2**20:.0f} MB, "
                  f"tracemalloc peak {peak / 2**20:.1f} MB{size_note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
