"""HeyGen-specific errors: one class per meaningful HTTP status, and the one mapping function.

Every class here is an ``otio_heygen.errors.ApiError`` (exit code 1) and, where the run layer
must react to it, also one of the neutral errors of ``otio_heygen.run.contract`` (in brackets):
that is how this backend speaks the run layer's vocabulary. None of them keeps a response or
request object (those carry the ``X-Api-Key`` header): only status, code, message, param and
retry hints, so ``repr``/``str`` can never leak the key.

Tree::

    ApiError
    ├── APIConnectionError          network failure / timeout, no HTTP status  [TransportError]
    │   └── UnreachableError        the first call could not connect           [Unreachable]
    ├── APIStatusError              any non-2xx answer
    │   ├── BadRequestError         400 (shows ``message`` and ``param``)      [Refused]
    │   ├── AuthenticationError     401 (stop everything)                      [Unauthorized]
    │   ├── InsufficientCreditError 402 (stop creating, keep finished clips)   [OutOfCredit]
    │   ├── PermissionDeniedError   403                                        [Refused]
    │   ├── NotFoundError           404                                        [NotFound]
    │   ├── ConflictError           409 (``RequestInProgressError``)           [TransportError]
    │   ├── PayloadTooLargeError    413                                        [Refused]
    │   ├── ClientStatusError       any other 4xx                              [Refused]
    │   ├── RateLimitError          429 (``retry_after`` when the server said) [RateLimited]
    │   └── InternalServerError     5xx, 408                                   [TransportError]
    └── InvalidVideoError           the downloaded file is not a playable video
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from otio_heygen.errors import ApiError
from otio_heygen.run.contract import (
    NotFound,
    OutOfCredit,
    RateLimited,
    Refused,
    TransportError,
    Unauthorized,
    Unreachable,
)

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "AuthenticationError",
    "BadRequestError",
    "ClientStatusError",
    "ConflictError",
    "InsufficientCreditError",
    "InternalServerError",
    "InvalidVideoError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "RateLimitError",
    "RequestInProgressError",
    "UnreachableError",
    "error_from_response",
    "redact",
]


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replace every secret (non-empty) in ``text`` with ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


class APIConnectionError(TransportError):
    """HeyGen could not be reached (connection refused, dropped, timed out)."""


class UnreachableError(APIConnectionError, Unreachable):
    """HeyGen was never reached in this process: the first call could not connect.

    Nothing can work (every upload would fail the same way), so this is not retried: the run
    stops at once with one line instead of retrying every request.
    """

    def __init__(self, base_url: str) -> None:
        super().__init__(f"cannot reach HeyGen at {base_url}: check the network or HEYGEN_API_URL")
        self.base_url = base_url


class APIStatusError(ApiError):
    """HeyGen answered with an error status."""

    status_code: int = 0

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        code: str | None = None,
        server_message: str | None = None,
        param: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        if status_code is not None:
            self.status_code = status_code
        self.code = code
        self.server_message = server_message
        self.param = param

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status_code}, code={self.code!r}, message={self.message!r})"


class BadRequestError(APIStatusError, Refused):
    status_code = 400


class AuthenticationError(APIStatusError, Unauthorized):
    status_code = 401


class InsufficientCreditError(APIStatusError, OutOfCredit):
    status_code = 402


class PermissionDeniedError(APIStatusError, Refused):
    status_code = 403


class NotFoundError(APIStatusError, NotFound):
    status_code = 404


class ConflictError(APIStatusError, TransportError):
    status_code = 409


class RequestInProgressError(ConflictError):
    """409 ``request_in_progress``: the first request with this Idempotency-Key is still running."""



class PayloadTooLargeError(APIStatusError, Refused):
    status_code = 413


class RateLimitError(APIStatusError, RateLimited):
    status_code = 429

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        APIStatusError.__init__(self, message, **kwargs)
        self.retry_after = retry_after


class InternalServerError(APIStatusError, TransportError):
    status_code = 500


class ClientStatusError(APIStatusError, Refused):
    """Any other 4xx: the request was refused as sent."""


class InvalidVideoError(ApiError):
    """The downloaded file is not a video PyAV can read."""


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    402: InsufficientCreditError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
    429: RateLimitError,
}


def _error_body(body: bytes) -> Mapping[str, Any]:
    try:
        parsed = json.loads(body.decode("utf-8", errors="replace"))
    except ValueError:
        return {}
    if isinstance(parsed, dict):
        err = parsed.get("error")
        if isinstance(err, dict):
            return err
    return {}


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def error_from_response(
    status: int,
    body: bytes,
    *,
    what: str,
    retry_after: float | None = None,
    secrets: Iterable[str] = (),
) -> APIStatusError:
    """The exception for one error answer. ``what`` names the request ("creating 'Chorus 1'")."""
    secrets = tuple(secrets)
    err = _error_body(body)
    code = _text(err.get("code"))
    param = _text(err.get("param"))
    server_message = _text(err.get("message"))
    if server_message is not None:
        server_message = " ".join(redact(server_message, secrets).split())[:300]
    said = f": {server_message}" if server_message else ""
    kwargs: dict[str, Any] = {"status_code": status, "code": code, "server_message": server_message, "param": param}
    if status == 400:
        field = f" (field: {param})" if param else ""
        return BadRequestError(f"HeyGen rejected the request while {what}{said}{field}", **kwargs)
    if status == 401:
        return AuthenticationError("HeyGen rejected the API key - check HEYGEN_API_KEY", **kwargs)
    if status == 402:
        return InsufficientCreditError("Out of HeyGen credit - top up; finished clips are kept", **kwargs)
    if status == 409 and code == "request_in_progress":
        return RequestInProgressError(f"HeyGen is still processing an identical request while {what}", **kwargs)
    if status == 413:
        return PayloadTooLargeError(
            f"HeyGen refused the file as too large while {what}{said}",
            hint="keep photos and audio under 32 MB",
            **kwargs,
        )
    if status == 429:
        return RateLimitError(
            f"HeyGen rate limit while {what}{said}",
            hint="lower --concurrency or try again in a few minutes",
            retry_after=retry_after,
            **kwargs,
        )
    if status >= 500:
        return InternalServerError(
            f"HeyGen had a server error ({status}) while {what}{said}", hint="try again later", **kwargs
        )
    if status == 408:
        return InternalServerError(f"HeyGen timed out ({status}) while {what}{said}", hint="try again later", **kwargs)
    cls = _BY_STATUS.get(status, ClientStatusError if 400 <= status < 500 else APIStatusError)
    return cls(f"HeyGen answered {status} while {what}{said}", **kwargs)
