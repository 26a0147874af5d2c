"""What a detection is: metadata as data, logic as a vectorised condition.

Three kinds share :class:`DetectionMeta`:

* :class:`EventDetection` - a SQL condition over the batch (DuckDB, view
  ``events``), plus an optional per-row :meth:`~EventDetection.refine` that runs
  only on rows the condition already matched;
* :class:`WindowDetection` - "at least N distinct values of one column per key
  in a tumbling window of event time"; its state lives in the store and
  survives across batches and runs;
* baselines (a later issue) will be a third.

A match becomes a :class:`~trailguard.detect.hit.Hit`; the findings stage turns
hits into aggregated findings.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Final, Literal

from trailguard.errors import RuleError
from trailguard.formats.schema import LogType

FINDING_TYPE_RE: Final = re.compile(r"^[A-Za-z]+:[A-Za-z0-9]+/[A-Za-z0-9&.\-]+(![A-Za-z0-9]+)?$")
ID_RE: Final = re.compile(r"^[a-z0-9][a-z0-9_.\-]*$")
ResourceType = Literal["AccessKey", "Instance", "Account"]


@dataclass(frozen=True, slots=True)
class DetectionMeta:
    """Everything about a detection but its logic.

    ``title`` and ``description`` are :meth:`str.format` templates over the
    matched row's fields plus ``principal``, ``ip`` and ``count``-like extras
    the shape helpers add.  ``actor_field`` names the column whose value joins
    the aggregation key (type + account + region + resource + actor); ``None``
    aggregates all actors against one resource into one finding.
    """

    id: str
    finding_type: str
    severity: float
    title: str
    description: str
    log_type: LogType
    resource_type: ResourceType
    mitre: tuple[str, ...] = ()
    actor_field: str | None = None
    false_positives: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    source: str = "builtin"

    def validate(self, where: str) -> None:
        """Raise :class:`RuleError` (naming ``where``) if the metadata is invalid."""
        problems = []
        if not ID_RE.match(self.id):
            problems.append(f"id {self.id!r} must be lower-case letters, digits, '_', '-', '.'")
        if not FINDING_TYPE_RE.match(self.finding_type):
            problems.append(
                f"finding type {self.finding_type!r} is not "
                "ThreatPurpose:ResourceType/ThreatFamily.Mechanism[!Artifact]"
            )
        if not 1.0 <= self.severity <= 10.0:
            problems.append(f"severity {self.severity} is outside 1.0-10.0")
        if not self.title:
            problems.append("title is empty")
        if problems:
            raise RuleError(where, "; ".join(problems))


@dataclass(frozen=True, slots=True)
class EventDetection:
    """A per-event detection: ``where`` is a DuckDB boolean expression over ``events``."""

    meta: DetectionMeta
    where: str

    def refine(self, row: Mapping[str, Any]) -> bool:
        """Per-row check on rows ``where`` matched; override when Python is clearer."""
        return True

    def values(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """Extra values for the title and description templates of a matched row."""
        return {}


@dataclass(frozen=True, slots=True)
class WindowDetection:
    """At least ``threshold`` distinct ``distinct`` values per ``key`` in a tumbling window.

    ``where`` pre-filters the batch (vectorised).  Windows are aligned to the
    epoch, so the same events always fall in the same windows whatever the batch
    size or file order.  One hit per (key, window) that reaches the threshold.
    """

    meta: DetectionMeta
    where: str
    key: tuple[str, ...]
    distinct: str
    threshold: int
    window: timedelta
    #: extra columns carried from one row of the window into the hit (any_value)
    carry: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)


Detection = EventDetection | WindowDetection
