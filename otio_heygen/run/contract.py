"""The backend contract: what the run layer drives, and the errors a backend may raise.

A backend renders in four steps so the runner can journal between them:
``upload`` (returns an asset id), ``create`` (returns a video id; given an
Idempotency-Key that the run layer makes and owns), ``status`` (poll) and ``download``
(to a destination path). ``heygen`` talks to HeyGen v3 (``otio_heygen.backends.heygen``);
``preview`` draws the photo and the section name into a real H.264+AAC MP4 carrying the
section audio, with no key and no network, so the whole round trip can be tried before
spending money.

The run layer speaks its own small error vocabulary, and every backend maps its service's
errors onto it (by raising these classes or subclasses of them), so the runner never needs
to know which service it drives::

    BackendError                 root (an ``ApiError``: exit code 1)
    ├── RateLimited              too many requests or renders: wait ``retry_after`` s, try again
    ├── Refused                  the request was refused outright: nothing was created
    │   ├── Unauthorized         the key is wrong: stop everything
    │   ├── OutOfCredit          no money left: stop creating, finish what is paid for
    │   └── NotFound             the service does not know that id (any more)
    ├── RemoteFailed             the render finished as failed (not billed)
    ├── RenderTimeout            the render passed its deadline or stayed pending too long
    └── TransportError           network or server trouble: the request may or may not have
        │                        arrived (a create is only ever resent with its key)
        └── Unreachable          the service was never reached (refused, DNS, TLS on the first
                                 call): nothing can work, so the whole run stops at once

Optional capabilities: :class:`BulkStatus` (the state of many renders in one request), used by
the run layer's poller (``otio_heygen.run.poll``) when a backend has it; ``instant_renders = True``
on a backend whose renders are finished when ``create`` returns (``preview``): its status is asked
once right away instead of at the poller's first due time.

Every ``BackendError`` carries ``reached_before``: True when the call retried and an earlier
attempt of it may have reached the service (a lost answer, a server error). A refusal with
``reached_before`` does not prove that nothing was created, so its Idempotency-Key is kept.

More optional capabilities: :class:`FindsByTag`: ``find_by_tag(tag)`` lists the account's videos
whose title carries ``tag`` (:func:`render_tag` of the job key; backends put ``RenderRequest.tag``
in the title), so a create whose answer was lost is found again instead of being bought twice;
``ledger_account`` (attribute): the account ledger namespace (``run.ledger``), see
:func:`ledger_account_of`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

from otio_heygen.errors import ApiError
from otio_heygen.planning.types import RemoteStatus, RenderRequest

__all__ = [
    "AssetKind",
    "Backend",
    "BackendError",
    "BulkStatus",
    "BulkStatusRefused",
    "FindsByTag",
    "FoundVideo",
    "NotFound",
    "OutOfCredit",
    "RateLimited",
    "Refused",
    "RemoteFailed",
    "RenderTimeout",
    "TransportError",
    "Unauthorized",
    "Unreachable",
    "idempotency_key_for",
    "ledger_account_of",
    "render_tag",
]

AssetKind = Literal["image", "audio"]


class BackendError(ApiError):
    """A render service's failure, in the run layer's words."""

    reached_before: bool = False
    """An earlier attempt of the same call may have reached the service (its answer was lost)."""


class RateLimited(BackendError):
    """Too many requests or renders at once; ``retry_after`` seconds when the service said."""

    retry_after: float | None = None

    def __init__(self, message: str, *, retry_after: float | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.retry_after = retry_after


class Refused(BackendError):
    """The service refused the request outright: nothing was created or billed by it."""


class Unauthorized(Refused):
    """The key is wrong or missing: every later request would fail too."""


class OutOfCredit(Refused):
    """The account has no money left: no new render can start."""


class NotFound(Refused):
    """The service does not know that id (any more)."""


class TransportError(BackendError):
    """Network or server trouble: the request may or may not have reached the service."""


class Unreachable(TransportError):
    """The service was never reached in this process (connection refused, DNS, TLS): every
    request would fail the same way, so the run stops at once instead of retrying each one."""


class RemoteFailed(BackendError):
    """The service finished the render as ``failed`` (failed renders are not billed)."""

    def __init__(
        self,
        section: str,
        video_id: str,
        failure_code: str | None,
        failure_message: str | None,
        *,
        service: str = "HeyGen",
    ) -> None:
        what = failure_message or "no reason given"
        code = f" ({failure_code})" if failure_code else ""
        super().__init__(
            f"{service} could not render section '{section}' (video {video_id}): {what}{code}",
            hint="check the photo shows one clear front-facing face, then run again",
        )
        self.section = section
        self.video_id = video_id
        self.failure_code = failure_code
        self.failure_message = failure_message


class RenderTimeout(BackendError):
    """A render passed its deadline, or stayed ``pending`` too long."""

    def __init__(self, section: str, video_id: str, *, waited_s: float, last_status: str, stuck: bool) -> None:
        waited = f"{waited_s / 60.0:.0f} min" if waited_s >= 120 else f"{waited_s:.0f} s"
        if stuck:
            text = f"Section '{section}' (video {video_id}) is still pending after {waited}"
        else:
            text = f"Section '{section}' (video {video_id}) did not finish within {waited} (last status: {last_status})"
        super().__init__(text, hint="run the same command again later to pick it up; nothing is billed twice")
        self.section = section
        self.video_id = video_id
        self.waited_s = waited_s
        self.last_status = last_status
        self.stuck = stuck


def idempotency_key_for(job_key: str, attempt: int = 1) -> str:
    """The Idempotency-Key for a job's ``attempt``-th create (stable across runs and retries).

    The run layer owns these keys (it journals them before a create is sent); backends only
    pass them on. The whole job key is kept (up to 200 characters of ``[A-Za-z0-9_:.-]``): two
    jobs must never share a key, or the service would replay one job's video for the other.
    Changing this format would make every rerun pay again: the tests pin it.
    """
    safe = "".join(ch for ch in job_key if (ch.isascii() and ch.isalnum()) or ch in "_:.-")[:200] or "job"
    return f"otioheygen:{safe}" if attempt <= 1 else f"otioheygen:{safe}:a{attempt}"


class Backend(Protocol):
    """What the runner needs from a render service."""

    name: str
    price_per_second: float
    """Price of a second of output (0 for preview)."""

    def upload(self, path: Path, kind: AssetKind) -> str:
        """Upload a file, return its asset id."""
        ...

    def create(self, request: RenderRequest, image_asset: str, audio_asset: str, idempotency_key: str) -> str:
        """Start a render, return its video id. Retries must reuse ``idempotency_key``."""
        ...

    def status(self, video_id: str) -> RemoteStatus:
        """Where the render is now."""
        ...

    def download(self, video_id: str, request: RenderRequest, dest: Path) -> None:
        """Write the finished video to ``dest`` (atomically: temp file then rename)."""
        ...


def render_tag(job_key: str) -> str:
    """The tag a render's title carries (``Chorus 1 [oh-3f9c2a1b7d4e]``) so it can be found again."""
    safe = "".join(ch for ch in job_key if ch.isascii() and ch.isalnum())[:12] or "job"
    return f"oh-{safe}"


@dataclass(frozen=True)
class FoundVideo:
    """A video found by its title tag."""

    video_id: str
    title: str
    status: RemoteStatus


@runtime_checkable
class FindsByTag(Protocol):
    """Optional: the backend can list the account's videos whose title carries a tag."""

    def find_by_tag(self, tag: str) -> list[FoundVideo]:
        """Newest first; only videos whose title carries ``[tag]``."""
        ...


def ledger_account_of(backend: Backend) -> str:
    """The account ledger namespace of ``backend`` (its ``ledger_account``, else ``<name>:default``)."""
    account = getattr(backend, "ledger_account", None)
    return str(account) if account else f"{backend.name}:default"


class BulkStatusRefused(Exception):
    """The service has no bulk status endpoint (or refused it): poll renders one by one."""


@runtime_checkable
class BulkStatus(Protocol):
    """Optional capability of a backend: the state of many renders in one request.

    The run layer's poller uses it when a backend has it (``isinstance(backend, BulkStatus)``)
    and falls back to ``Backend.status`` per render, for the rest of the run, when it raises
    ``BulkStatusRefused``.
    """

    def statuses(self, video_ids: Sequence[str]) -> Mapping[str, RemoteStatus]:
        """States by video id. Ids missing from the answer are checked with ``status`` one by one."""
        ...
