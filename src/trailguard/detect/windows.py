"""State of windowed detections: one cell per (detection, key, window).

A cell keeps the distinct values seen (capped), the earliest and latest event
time, and the columns of the earliest row (ties broken by value) so that the
hit it raises does not depend on the order in which rows arrived.  Cells are
loaded from the store when a scan starts and written back, when changed, in
the transaction of the object that changed them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class WindowCell:
    detection_id: str
    key: str
    window_start: int
    values: set[Any] = field(default_factory=set)
    first_ms: int = 0
    last_ms: int = 0
    carry: dict[str, Any] = field(default_factory=dict)
    carry_rank: tuple[int, str] = (0, "")
    object: str = ""
    fired: bool = False

    def merge(
        self,
        values: list[Any],
        first_ms: int,
        last_ms: int,
        carry: dict[str, Any],
        carry_rank: tuple[int, str],
        obj: str,
        keep: int,
    ) -> bool:
        """Fold a batch's group into the cell; True if anything changed."""
        changed = False
        if len(self.values) < keep:
            for v in sorted(values, key=repr):
                if v not in self.values:
                    self.values.add(v)
                    changed = True
                    if len(self.values) >= keep:
                        break
        if not self.carry or carry_rank < self.carry_rank:
            self.carry, self.carry_rank, self.object = carry, carry_rank, obj
            changed = True
        if not self.first_ms or first_ms < self.first_ms:
            self.first_ms = first_ms
            changed = True
        if last_ms > self.last_ms:
            self.last_ms = last_ms
            changed = True
        return changed

    def dump(self) -> str:
        return json.dumps(
            {
                "values": sorted(self.values, key=repr),
                "first_ms": self.first_ms,
                "last_ms": self.last_ms,
                "carry": self.carry,
                "carry_rank": list(self.carry_rank),
                "object": self.object,
                "fired": self.fired,
            },
            default=str,
            sort_keys=True,
        )

    @classmethod
    def load(cls, detection_id: str, key: str, window_start: int, text: str) -> WindowCell:
        d = json.loads(text)
        rank = d.get("carry_rank") or [0, ""]
        return cls(
            detection_id=detection_id,
            key=key,
            window_start=window_start,
            values=set(d["values"]),
            first_ms=d["first_ms"],
            last_ms=d["last_ms"],
            carry=d["carry"],
            carry_rank=(int(rank[0]), str(rank[1])),
            object=d.get("object", ""),
            fired=d["fired"],
        )
