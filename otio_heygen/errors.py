"""Every user-facing failure of otio-heygen, as one exception tree.

``OtioHeygenError`` is the root. Each subclass carries an ``exit_code`` that the CLI
(``otio_heygen.cli.main``, the only place that maps errors to exit codes) uses:

- 2: bad input or usage; nothing was spent (``InputError`` and its children,
  ``BudgetExceededError``, ``ConfigError``).
- 1: the run happened but something failed (``RenderFailedError``, ``ApiError`` and
  the HeyGen-specific errors in ``otio_heygen.backends.heygen.errors``).

Messages are one line a video editor understands: what happened, which file or
section, and what to do. They never contain the API key.

Tree::

    OtioHeygenError
    ├── InputError                    exit 2
    │   ├── TimelineNotFoundError
    │   ├── TimelineFormatError
    │   ├── AdapterMissingError
    │   ├── NoSectionsError
    │   ├── SectionError
    │   ├── PhotoError
    │   ├── MediaError
    │   ├── OutputPathError
    │   │   └── OutputBusyError       (another live process renders that output)
    │   ├── ConfigError
    │   └── BudgetExceededError
    ├── RenderFailedError             exit 1
    ├── InterruptedRunError           exit 130
    └── ApiError                      exit 1 (subclasses in otio_heygen.backends.heygen.errors)
"""

from __future__ import annotations

__all__ = [
    "AdapterMissingError",
    "ApiError",
    "BudgetExceededError",
    "ConfigError",
    "InputError",
    "InterruptedRunError",
    "MediaError",
    "NoSectionsError",
    "OtioHeygenError",
    "OutputBusyError",
    "OutputPathError",
    "PhotoError",
    "RenderFailedError",
    "SectionError",
    "TimelineFormatError",
    "TimelineNotFoundError",
]


class OtioHeygenError(Exception):
    """Root of every error otio-heygen reports to a user."""

    exit_code: int = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        """The message as the CLI prints it: one line, hint appended."""
        text = self.message if not self.hint else f"{self.message} - {self.hint}"
        return " ".join(text.split())

    def __str__(self) -> str:
        return self.one_line()


class InputError(OtioHeygenError):
    """Bad input or usage: nothing was uploaded or spent."""

    exit_code = 2


class TimelineNotFoundError(InputError):
    """The timeline file does not exist or cannot be opened."""


class TimelineFormatError(InputError):
    """The file is not a timeline OTIO can read."""


class AdapterMissingError(InputError):
    """The format needs an OTIO adapter plugin that is not installed."""


class NoSectionsError(InputError):
    """The timeline has no markers that can become sections."""


class SectionError(InputError):
    """A section is invalid (overlap, zero length, too long, outside the song)."""


class PhotoError(InputError):
    """The photo is missing, unreadable or not a PNG/JPEG image."""


class MediaError(InputError):
    """Song audio is missing, unreadable or not where the timeline says."""


class OutputPathError(InputError):
    """The output path is unusable (equal to the input, not writable...)."""


class OutputBusyError(OutputPathError):
    """Another live otio-heygen process is rendering the same output: nothing was started."""


class ConfigError(InputError):
    """A config file or environment variable is invalid."""


class BudgetExceededError(InputError):
    """The plan's estimated cost is above ``--budget``: nothing was spent."""


class RenderFailedError(OtioHeygenError):
    """One or more sections failed to render; the rest were kept."""

    exit_code = 1


class InterruptedRunError(OtioHeygenError):
    """The user pressed Ctrl-C; the journal is consistent and the run can resume."""

    exit_code = 130


class ApiError(OtioHeygenError):
    """The HeyGen service refused or failed a request."""

    exit_code = 1
