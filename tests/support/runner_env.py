"""A runner test bench: ``DiskBackend`` (a real backend on disk), job builders and ``Env``.

``DiskBackend`` implements the ``Backend`` contract for real: uploads copy files into a folder,
creates are idempotent per key, renders finish after a number of polls, downloads write files
atomically; it enforces an optional concurrency cap with 429 answers and counts everything.
``Env`` runs ``run_jobs`` over it with a fake clock and a real journal; ``heygen_env`` does the
same through the real HeyGen backend against the fake v3 server.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from otio_heygen.backends.heygen.backend import HeyGenBackend, make_heygen_backend
from otio_heygen.planning.types import ClipResult, Job, RemoteStatus, RenderRequest
from otio_heygen.run.contract import AssetKind, Backend, OutOfCredit, RateLimited, TransportError, Unauthorized
from otio_heygen.run.journal import Journal
from otio_heygen.run.journal_records import JobRecord
from otio_heygen.run.report import RunReport
from otio_heygen.run.runner import Event, RunOptions, run_jobs
from tests.support.builders import make_job, make_section
from tests.support.clock import FakeTime
from tests.support.heygen_fake import FAKE_API_KEY, FakeHeyGen, write_test_png, write_test_wav


@dataclasses.dataclass
class DiskVideo:
    video_id: str
    title: str
    key: str
    polls: int = 0


class DiskBackend:
    """A render service on disk (see the module docstring)."""

    name = "disk"

    def __init__(
        self,
        root: Path,
        *,
        price_per_second: float = 0.1,
        polls_to_finish: int = 2,
        cap: int | None = None,
        retry_after: float | None = 3.0,
        hold_until_create_calls: int = 0,
    ) -> None:
        self.root = root
        self.price_per_second = price_per_second
        self.polls_to_finish = polls_to_finish
        self.cap = cap
        self.retry_after = retry_after
        self.hold_until_create_calls = hold_until_create_calls
        self.lock = threading.Lock()
        self.uploads = 0
        self.create_calls = 0
        self.creates = 0
        self.create_calls_by_key: Counter[str] = Counter()
        self.creates_by_title: Counter[str] = Counter()
        self.rate_limited = 0
        self.status_calls = 0
        self.downloads = 0
        self.videos: dict[str, DiskVideo] = {}
        self.by_key: dict[str, str] = {}
        self.active: set[str] = set()
        self.max_active = 0
        self.fail_titles: set[str] = set()
        self.stuck_titles: set[str] = set()
        self.credit_creates: int | None = None
        """After this many creates: 402."""
        self.bad_key = False
        self.status_errors = 0
        """The next status checks fail with a connection error."""
        self.on_create: list[Callable[[int], None]] = []
        """Called after each new render with its number (1, 2, ...)."""
        (root / "assets").mkdir(parents=True, exist_ok=True)

    @property
    def calls(self) -> int:
        return self.uploads + self.create_calls + self.status_calls + self.downloads

    def upload(self, path: Path, kind: AssetKind) -> str:
        data = path.read_bytes()
        asset = f"{kind}_{hashlib.sha256(data).hexdigest()[:12]}"
        with self.lock:
            self.uploads += 1
        shutil.copyfile(path, self.root / "assets" / asset)
        return asset

    def create(self, request: RenderRequest, image_asset: str, audio_asset: str, idempotency_key: str) -> str:
        assert (self.root / "assets" / image_asset).is_file() and (self.root / "assets" / audio_asset).is_file()
        with self.lock:
            self.create_calls += 1
            self.create_calls_by_key[idempotency_key] += 1
            if idempotency_key in self.by_key:
                return self.by_key[idempotency_key]
            if self.bad_key:
                raise Unauthorized("HeyGen rejected the API key - check HEYGEN_API_KEY")
            if self.credit_creates is not None and self.creates >= self.credit_creates:
                raise OutOfCredit("Out of HeyGen credit - top up; finished clips are kept")
            if self.cap is not None and len(self.active) >= self.cap:
                self.rate_limited += 1
                raise RateLimited("HeyGen rate limit", retry_after=self.retry_after)
            self.creates += 1
            number = self.creates
            video_id = f"v{number:03d}"
            self.videos[video_id] = DiskVideo(video_id, request.title, idempotency_key)
            self.by_key[idempotency_key] = video_id
            self.creates_by_title[request.title] += 1
            self.active.add(video_id)
            self.max_active = max(self.max_active, len(self.active))
        for hook in self.on_create:
            hook(number)
        return video_id

    def status(self, video_id: str) -> RemoteStatus:
        with self.lock:
            self.status_calls += 1
            if self.status_errors > 0:
                self.status_errors -= 1
                raise TransportError("HeyGen could not be reached (connection refused)")
            video = self.videos[video_id]
            if video.title in self.stuck_titles:
                return RemoteStatus(state="rendering", raw_status="pending")
            video.polls += 1
            if video.polls < self.polls_to_finish or self.create_calls < self.hold_until_create_calls:
                return RemoteStatus(state="rendering", raw_status="processing")
            self.active.discard(video_id)
            if video.title in self.fail_titles:
                return RemoteStatus(
                    state="failed",
                    raw_status="failed",
                    failure_code="face_not_detected",
                    failure_message="No face was detected in the image.",
                )
            return RemoteStatus(state="completed", raw_status="completed", duration=1.0)

    def download(self, video_id: str, request: RenderRequest, dest: Path) -> None:
        with self.lock:
            self.downloads += 1
            assert video_id in self.videos
        tmp = dest.with_name(dest.name + ".part")
        tmp.write_bytes(f"{video_id}:{request.title}:".encode() + request.audio_path.read_bytes()[:64])
        os.replace(tmp, dest)


def make_jobs(root: Path, n: int, *, seconds: int = 2, names: list[str] | None = None) -> list[Job]:
    photo = write_test_png(root / "face.png")
    jobs = []
    for i in range(1, n + 1):
        name = names[i - 1] if names else f"Section {i}"
        section = make_section(i, name, (i - 1) * 25 * seconds, i * 25 * seconds)
        jobs.append(make_job(section, image=photo))
    return jobs


class Pipeline:
    """The lead's callbacks, for real: cut audio to a file, check the clip, record provenance."""

    def __init__(self, root: Path) -> None:
        self.audio_dir = root / "audio"
        self.audio_dir.mkdir(parents=True, exist_ok=True)
        self.prepared: Counter[str] = Counter()
        self.finished: Counter[str] = Counter()
        self.media_dir = root / "out_media"

    def prepare_audio(self, job: Job) -> Path:
        self.prepared[job.key] += 1
        path = self.audio_dir / f"{job.key[:16]}.wav"
        if not path.exists():
            write_test_wav(path, seconds=0.05, rate=8000, freq=200.0 + 10 * job.section.index)
        return path

    def finish_clip(self, job: Job, media: Path, info: dict[str, object]) -> ClipResult:
        assert media.is_file() and media.stat().st_size > 0
        self.finished[job.key] += 1
        provenance = {k: info[k] for k in ("video_id", "cost_usd", "backend")}
        return ClipResult(
            job=job,
            media_path=media,
            media_duration_frames=job.section.duration_frames,
            provenance=provenance,
            sync_offset_ms=0.0,
        )


FAST = RunOptions(concurrency=4, poll_interval_s=1.0)


class Env:
    def __init__(self, root: Path, **backend_options: object) -> None:
        self.root = root
        self.out = root / "out"
        self.out.mkdir(parents=True, exist_ok=True)
        self.backend = DiskBackend(root / "server", **backend_options)  # type: ignore[arg-type]
        self.pipeline = Pipeline(root)
        self.time = FakeTime(0.0)
        self.events: list[Event] = []
        self.listeners: list[Callable[[Event], None]] = []

    def on_event(self, event: Event) -> None:
        self.events.append(event)
        for listener in self.listeners:
            listener(event)

    def new_backend(self, **backend_options: object) -> DiskBackend:
        self.backend = DiskBackend(self.root / "server", **backend_options)  # type: ignore[arg-type]
        return self.backend

    def run(self, jobs: list[Job], options: RunOptions = FAST, backend: Backend | None = None) -> RunReport:
        with Journal.open(self.out, now=lambda: 1_700_000_000.0 + self.time.now) as journal:
            return run_jobs(
                jobs,
                backend=backend or self.backend,
                journal=journal,
                prepare_audio=self.pipeline.prepare_audio,
                finish_clip=self.pipeline.finish_clip,
                media_dir=self.pipeline.media_dir,
                options=options,
                on_event=self.on_event,
                sleep=self.time.sleep,
                clock=self.time.clock,
            )

    def records(self) -> dict[str, JobRecord]:
        with Journal.open(self.out) as journal:
            return {r.key: r for r in journal.records()}


def heygen_env(tmp_path: Path, httpserver: object, *, concurrency: int = 4) -> tuple[Env, FakeHeyGen, HeyGenBackend]:
    env = Env(tmp_path)
    fake = FakeHeyGen(httpserver, render_seconds=10.0, clock=env.time.clock)
    backend = make_heygen_backend(
        FAKE_API_KEY,
        fake.base_url,
        concurrency=concurrency,
        asset_cache_path=tmp_path / "assets.sqlite3",
        sleep=env.time.sleep,
        clock=env.time.clock,
    )
    return env, fake, backend


HEYGEN_FAST = RunOptions(concurrency=4, poll_interval_s=5.0)
