"""What every reader shares: options, the reading context, and rejected records."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

DEFAULT_BATCH_ROWS: Final = 65_536
DEFAULT_MAX_DECOMPRESSED: Final = 4 * 1024**3


@dataclass(frozen=True, slots=True)
class ReadOptions:
    """How objects are read.

    ``max_decompressed_bytes`` caps what one object may inflate to (decompression
    bombs); ``flow_format`` is the field list (AWS names, in order) for flow logs
    that carry no header line and are not in the default format.
    """

    batch_rows: int = DEFAULT_BATCH_ROWS
    max_decompressed_bytes: int = DEFAULT_MAX_DECOMPRESSED
    flow_format: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class Reject:
    """A record or object that could not be read: where, and why."""

    object: str
    position: str
    reason: str


MAX_REASON: Final = 300


@dataclass(slots=True)
class ReadContext:
    """Passed to a reader for one object; collects what it rejects."""

    object: str
    options: ReadOptions
    rejects: list[Reject] = field(default_factory=list)
    rejected_count: int = 0
    #: rejects beyond this many per object are counted but not kept one by one
    keep_limit: int = 1000

    def reject(self, position: str, reason: str) -> None:
        self.rejected_count += 1
        if len(self.rejects) < self.keep_limit:
            # hostile log fields can be huge or contain control characters
            clean = reason.replace("\n", " ").replace("\r", " ")
            if len(clean) > MAX_REASON:
                clean = clean[:MAX_REASON] + "…"
            self.rejects.append(Reject(self.object, position, clean))
