"""Errors raised by trailguard.

Hierarchy::

    TrailguardError
    ├── ConfigError          bad settings or config file (names the file and key)
    ├── SourceError          an object or location could not be listed or opened
    ├── FormatError          an object's bytes could not be read as any log type
    │   ├── DecompressError  truncated/corrupt gzip, or a decompression bomb
    │   └── UnknownFormatError
    ├── RuleError            a detection or Sigma rule is invalid (names the file)
    ├── StoreError           the findings store failed
    ├── IntelError           a threat/trusted list or feed is unusable as a whole (names it)
    └── AwsApiError          an AWS API call gave no answer (denied, throttled, not
                             implemented, unreachable): posture reports it as a skipped check

Bad *records* are not exceptions: readers count them and set them aside as
:class:`trailguard.formats.base.Reject` values.  Exceptions are for whole objects
or for the run itself.
"""

from __future__ import annotations

from typing import Literal

#: why an AWS call gave no answer
AwsErrorKind = Literal["denied", "throttled", "not-implemented", "unreachable", "error"]


class TrailguardError(Exception):
    """Root of every error trailguard raises on purpose."""


class ConfigError(TrailguardError):
    """Invalid configuration."""


class SourceError(TrailguardError):
    """A source location or object could not be listed or opened."""


class FormatError(TrailguardError):
    """An object could not be read.  ``position`` is a byte offset or line number."""

    def __init__(self, reason: str, position: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.position = position


class DecompressError(FormatError):
    """Truncated or corrupt gzip data, or output past the decompression limit."""


class UnknownFormatError(FormatError):
    """The content matches no supported log type."""


class RuleError(TrailguardError):
    """An invalid detection or Sigma rule."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class StoreError(TrailguardError):
    """The findings store failed."""


class IntelError(TrailguardError):
    """A threat or trusted list (or feed) cannot be used at all: wrong format, not UTF-8, not
    STIX, an XML bomb.  The message names the list's source.  Bad *lines* are not errors."""


class AwsApiError(TrailguardError):
    """An AWS API call gave no answer: ``api`` (``service:Operation``), ``kind`` and why."""

    def __init__(self, api: str, kind: AwsErrorKind, reason: str) -> None:
        super().__init__(f"{api}: {kind}: {reason}")
        self.api = api
        self.kind: AwsErrorKind = kind
        self.reason = reason
