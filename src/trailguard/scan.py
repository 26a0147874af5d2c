"""One pass over sources: read each object, run the detections, commit per object.

Data flows one way: sources -> formats -> detect -> findings store.  Objects
already committed with the same version are skipped, so scanning twice (or
resuming after a crash) neither loses nor double-counts anything.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from trailguard.detect.detection import Detection, WindowDetection
from trailguard.detect.engine import Engine
from trailguard.detect.hit import Hit
from trailguard.errors import SourceError
from trailguard.findings.model import finding_id, severity_label
from trailguard.findings.store import Store
from trailguard.formats import ReadOptions, Reject, read_object
from trailguard.sources.base import Source, SourceObject


@dataclass(slots=True)
class ScanSummary:
    """What a scan did, for the summary table, ``--format json`` and exit codes."""

    objects: int = 0
    skipped: int = 0
    bytes: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    events: Counter[str] = field(default_factory=Counter)
    rejected: int = 0
    #: records rejected in objects skipped as already scanned (their quarantine still holds them)
    previously_rejected: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    failed_objects: list[Reject] = field(default_factory=list)
    source_errors: list[str] = field(default_factory=list)
    new: dict[str, float] = field(default_factory=dict)
    updated: dict[str, float] = field(default_factory=dict)
    detection_errors: dict[str, list[str]] = field(default_factory=dict)
    seen_objects: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def unreadable(self) -> bool:
        return bool(
            self.failed_objects or self.source_errors or self.rejected or self.previously_rejected
        )

    def by_severity(self, which: dict[str, float]) -> Counter[str]:
        return Counter(severity_label(s) for s in which.values())

    def as_dict(self) -> dict[str, object]:
        return {
            "objects": self.objects,
            "skipped": self.skipped,
            "bytes": self.bytes,
            "kinds": dict(self.kinds),
            "events": dict(self.events),
            "rejected": self.rejected,
            "previouslyRejected": self.previously_rejected,
            "rejectReasons": dict(self.reasons),
            "failedObjects": [
                {"object": r.object, "position": r.position, "reason": r.reason}
                for r in self.failed_objects
            ],
            "sourceErrors": self.source_errors,
            "findingsNew": dict(self.by_severity(self.new)),
            "findingsUpdated": dict(self.by_severity(self.updated)),
            "detectionErrors": self.detection_errors,
            "seconds": round(self.seconds, 3),
        }


Progress = Callable[[ScanSummary], None]


def _reason_class(reason: str) -> str:
    """Group reject reasons for the summary (the text before the first colon)."""
    head = reason.split(":", 1)[0]
    return head[:80]


class Scanner:
    """Runs detections over sources into a store; one instance per scan."""

    def __init__(
        self,
        store: Store,
        detections: Sequence[Detection],
        options: ReadOptions | None = None,
        *,
        clock: Callable[[], float] = time.time,
        retention_ms: int = 48 * 3600 * 1000,
        on_progress: Progress | None = None,
    ) -> None:
        self.store = store
        self.options = options or ReadOptions()
        self.clock = clock
        self.retention_ms = retention_ms
        self.on_progress = on_progress
        self.window_ids = [d.meta.id for d in detections if isinstance(d, WindowDetection)]
        saved, self.delta_ids = store.load_windows(self.window_ids)
        self.engine = Engine(detections, saved)
        self.committed = store.checkpoint_versions()

    def scan(self, sources: Iterable[Source]) -> ScanSummary:
        summary = ScanSummary()
        started = time.perf_counter()
        try:
            for source in sources:
                try:
                    for obj in source.objects():
                        self._object(obj, summary)
                except SourceError as exc:
                    summary.source_errors.append(str(exc))
            self._prune()
        finally:
            self.engine.close()
        summary.detection_errors = {k: v[:20] for k, v in self.engine.errors.items()}
        summary.seconds = time.perf_counter() - started
        if self.on_progress:
            self.on_progress(summary)
        return summary

    def _object(self, obj: SourceObject, summary: ScanSummary) -> None:
        summary.seen_objects.append(obj.name)
        done = self.committed.get(obj.name)
        if done is not None and done[0] == obj.version:
            summary.skipped += 1
            summary.previously_rejected += done[1]
            return
        reading = read_object(obj, self.options)
        hits: list[Hit] = []
        for batch in reading.batches():
            log_type = reading.log_type
            assert log_type is not None
            summary.events[log_type] += batch.num_rows
            hits.extend(self.engine.run(log_type, batch, obj.name))
            if self.on_progress:
                self.on_progress(summary)
        deltas, window_hits = self.engine.take_window_changes()
        hits.extend(window_hits)
        ctx = reading.ctx
        result = self.store.commit_object(
            name=obj.name,
            version=obj.version,
            kind=reading.kind,
            rows=reading.rows,
            failed=reading.failed,
            rejected=ctx.rejected_count,
            rejects=ctx.rejects,
            hits=hits,
            deltas=deltas,
            now_ms=int(self.clock() * 1000),
        )
        self.committed[obj.name] = (obj.version, ctx.rejected_count)
        self.delta_ids.extend(result.delta_ids)
        summary.objects += 1
        summary.bytes += obj.size
        summary.kinds[reading.kind] += 1
        summary.rejected += ctx.rejected_count
        for r in ctx.rejects:
            summary.reasons[_reason_class(r.reason)] += 1
        if reading.failed and ctx.rejects:
            summary.failed_objects.append(ctx.rejects[-1])
        severity = {
            finding_id(h.finding_type, h.account_id, h.region, h.resource_key, h.actor_key): (
                h.severity
            )
            for h in hits
        }
        for fid in result.new:
            summary.new[fid] = severity[fid]
        for fid in result.updated:
            if fid not in summary.new:
                summary.updated[fid] = severity[fid]
        if self.on_progress:
            self.on_progress(summary)

    def _prune(self) -> None:
        """Drop windows older than the retention (in event time) and compact the state."""
        if not self.window_ids:
            return
        watermark = self.engine.watermark()
        if watermark is not None:
            self.engine.prune(watermark - self.retention_ms)
        self.store.compact_windows(self.engine.snapshots(), self.delta_ids)
