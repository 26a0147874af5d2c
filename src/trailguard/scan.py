"""One pass over sources: read each object, run the detections, commit per object.

Data flows one way: sources -> formats -> detect -> findings store.  Objects
already committed with the same version are skipped, so scanning twice (or
resuming after a crash) neither loses nor double-counts anything.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Final

import pyarrow as pa

from trailguard.detect.detection import Detection, WindowDetection
from trailguard.detect.engine import ENGINE_MEMORY, Engine
from trailguard.detect.hit import Hit
from trailguard.enrich.enricher import Enricher, EnrichResult
from trailguard.findings.model import finding_id, severity_label
from trailguard.findings.store import ObjectCommit, Store
from trailguard.formats import ObjectReading, ReadOptions, Reject
from trailguard.reading import END, PREFETCH_BATCHES, START, Item, Prefetch, Reading
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
    #: records whose remote address or domain is on a trusted list: no detection sees them
    trusted: int = 0
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
            "trustedRecords": self.trusted,
            "seconds": round(self.seconds, 3),
        }


Progress = Callable[[ScanSummary], None]
#: how long a thread holding the GIL runs before it yields to one waiting, during a scan
GIL_SWITCH_SECONDS: Final = 0.001


#: saved window deltas beyond which a scan compacts them into one snapshot at its end
COMPACT_AFTER_DELTAS: Final = 64
#: rows (and batches) of an object enriched at once: more share more addresses, fewer
#: keep less in flight
ENRICH_ROWS: Final = 262_144
ENRICH_BATCHES: Final = 16


def _reason_class(reason: str) -> str:
    """Group reject reasons for the summary (the text before the first colon)."""
    head = reason.split(":", 1)[0]
    return head[:80]


#: rows of consecutive objects' batches run through the per-event detections at once
DETECT_ROWS: Final = 32_768
#: rows of one object's consecutive batches run at once
OBJECT_DETECT_ROWS: Final = 131_072


class _Detect:
    """Runs the detections over the batches of consecutive objects, and commits each
    object once it has been run.

    Batches are held until :data:`DETECT_ROWS` rows have come (or
    :data:`OBJECT_DETECT_ROWS`, when they are all one object's), so that the per-event
    detections, whose fixed cost per query outweighs a small object, run over several
    objects (or batches) in one query.  The windowed detections then run over each
    object's consecutive batches, in order, and the objects finished are committed in
    one transaction (each object's findings, window changes and checkpoint all or
    nothing).
    """

    def __init__(self, scanner: Scanner) -> None:
        self.scanner = scanner
        #: in arrival order: ``(obj, reading, batch)``, or ``(obj, reading, None)`` at an end
        self.pending: list[tuple[SourceObject, ObjectReading, pa.RecordBatch | None]] = []
        self.rows = 0
        #: hits so far of each object begun and not committed (by the id of its reading,
        #: which is held here so that the id stays its own)
        self.hits: dict[int, tuple[ObjectReading, list[Hit]]] = {}

    def add(
        self, obj: SourceObject, reading: ObjectReading, batch: pa.RecordBatch, summary: ScanSummary
    ) -> None:
        if self.pending and self.pending[-1][1].log_type != reading.log_type:
            self.flush(summary)
        self.pending.append((obj, reading, batch))
        self.rows += batch.num_rows
        # a large object's batches (flow logs') are run two at a time: each query's fixed
        # cost is then paid half as often (measured: the port-scan staging query over
        # 65k-row batches costs a third more than over 131k-row ones)
        one_object = all(r is reading for _, r, _ in self.pending)
        if self.rows >= (OBJECT_DETECT_ROWS if one_object else DETECT_ROWS):
            self.flush(summary)

    def end(self, obj: SourceObject, reading: ObjectReading, summary: ScanSummary) -> None:
        self.pending.append((obj, reading, None))
        if len(self.pending) == 1:  # nothing held back: commit now
            self.flush(summary)

    def flush(self, summary: ScanSummary) -> None:
        pending, self.pending, self.rows = self.pending, [], 0
        engine = self.scanner.engine
        batches = [(b, o.name) for o, _, b in pending if b is not None]
        log_type = next((r.log_type for _, r, b in pending if b is not None), None)
        found = iter(engine.run_events(log_type, batches) if log_type is not None else [])
        done: list[tuple[SourceObject, ObjectReading, ObjectCommit]] = []
        # the windows run over each object's consecutive batches at once
        run: list[pa.RecordBatch] = []
        for k, (obj, reading, batch) in enumerate(pending):
            hits = self.hits.setdefault(id(reading), (reading, []))[1]
            if batch is None:
                del self.hits[id(reading)]
                done.append((obj, reading, self.scanner._finish(obj, reading, hits)))
                continue
            assert reading.log_type is not None
            hits.extend(next(found))
            run.append(batch)
            following = pending[k + 1] if k + 1 < len(pending) else None
            if following is None or following[1] is not reading or following[2] is None:
                view = run[0] if len(run) == 1 else pa.Table.from_batches(run)
                engine.run_windows(reading.log_type, view, obj.name)
                run = []
        # the objects run together are committed together (each still all or nothing)
        self.scanner._commit(done, summary)


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
        workers: int = 0,
        engine_memory: str = ENGINE_MEMORY,
        enricher: Enricher | None = None,
        committed: dict[str, tuple[str, int]] | None = None,
    ) -> None:
        self.store = store
        self.enricher = enricher or Enricher()
        self.workers = workers
        self.options = options or ReadOptions()
        self.clock = clock
        self.retention_ms = retention_ms
        self.on_progress = on_progress
        self.window_ids = [d.meta.id for d in detections if isinstance(d, WindowDetection)]
        self.delta_ids, saved = store.iter_windows(self.window_ids)
        self.engine = Engine(detections, saved, memory=engine_memory)
        #: objects committed (name -> version, rejected records): ``committed`` if given
        #: (the same the reading was told), else the store's
        self.committed = store.checkpoint_versions() if committed is None else committed
        self.pruned_at = 0
        # saved deltas outlive the windows the last scan pruned at its end (until the
        # store compacts them): forget those again, as an uninterrupted scan would have
        watermark = self.engine.watermark()
        if watermark is not None:
            self.engine.prune(watermark - retention_ms)
            self.pruned_at = watermark

    def scan(self, sources: Iterable[Source] | Reading) -> ScanSummary:
        """Read every object of ``sources``; commit each with its findings.

        ``sources`` may be a :class:`Reading` begun earlier (``trailguard scan``
        begins it before this scanner is built); the scan closes it.
        """
        summary = ScanSummary()
        started = time.perf_counter()
        # reading and enriching on threads of their own: three stages that release the GIL
        # for most of their work, which the OS spreads over the cores as their costs vary
        if isinstance(sources, Reading):
            read = sources
            read.skip(self.committed)
        else:
            read = Reading(sources, self.options, workers=self.workers, committed=self.committed)
        reader = Prefetch(self._enrich(iter(read)), PREFETCH_BATCHES, "trailguard-enrich")
        # Each stage hands the GIL back and forth around its Arrow, numpy and DuckDB calls;
        # with Python's default 5 ms switch interval, a stage whose call has returned waits
        # up to that long for a busy one to yield (measured: ~7% of a flow-log scan)
        switch = sys.getswitchinterval()
        sys.setswitchinterval(min(switch, GIL_SWITCH_SECONDS))
        try:
            detect = _Detect(self)
            for item in reader:
                if isinstance(item, str):
                    summary.source_errors.append(item)
                    continue
                obj, reading, batch = item
                if batch is START:
                    summary.seen_objects.append(obj.name)
                if reading is None:  # already committed with this version
                    done = self.committed[obj.name]
                    summary.skipped += 1
                    summary.previously_rejected += done[1]
                elif batch is END:
                    detect.end(obj, reading, summary)
                elif isinstance(batch, EnrichResult):
                    assert reading.log_type is not None
                    summary.events[reading.log_type] += batch.rows
                    summary.trusted += batch.trusted_rows
                    detect.add(obj, reading, batch.batch, summary)
                    if self.on_progress:
                        self.on_progress(summary)
            detect.flush(summary)
            self._prune()
        finally:
            read.close()  # (first: the enrich thread may be waiting on it)
            reader.close()
            sys.setswitchinterval(switch)
            self.engine.close()
        summary.detection_errors = {k: v[:20] for k, v in self.engine.errors.items()}
        summary.seconds = time.perf_counter() - started
        if self.on_progress:
            self.on_progress(summary)
        return summary

    def _enrich(self, items: Iterator[Item]) -> Iterator[Item]:
        """Batches with their enrichment columns (on a thread of its own: Arrow and numpy
        release the GIL, so this overlaps with reading and the detections).

        Consecutive batches of one log type - of one object, or of several small ones -
        are enriched together, up to :data:`ENRICH_ROWS` rows or :data:`ENRICH_BATCHES`
        batches: their addresses are looked up once, and the fixed cost of each lookup
        is paid once (CloudTrail objects of ~2,000 records: 0.36 s per scan of 410k
        records one object at a time, 0.06 s sixteen at a time).  The markers and
        errors between held batches wait with them, so the order never changes."""
        held: list[Item] = []
        batches: list[pa.RecordBatch] = []
        log_type: str | None = None
        rows = 0
        for item in items:
            if not isinstance(item, str):
                _, reading, batch = item
                if reading is not None and isinstance(batch, pa.RecordBatch):
                    if batches and reading.log_type != log_type:
                        yield from self._enriched(held, batches, log_type)
                        held, batches, rows = [], [], 0
                    log_type = reading.log_type
                    held.append(item)
                    batches.append(batch)
                    rows += batch.num_rows
                    if rows >= ENRICH_ROWS or len(batches) >= ENRICH_BATCHES:
                        yield from self._enriched(held, batches, log_type)
                        held, batches, rows = [], [], 0
                    continue
            if batches:
                held.append(item)
            else:
                yield item
        if held:
            yield from self._enriched(held, batches, log_type)

    def _enriched(
        self, held: list[Item], batches: list[pa.RecordBatch], log_type: str | None
    ) -> Iterator[Item]:
        """``held`` in order, its batches replaced by their enriched results."""
        assert log_type is not None
        results = iter(self.enricher.enrich_batches(log_type, batches))
        for item in held:
            if not isinstance(item, str) and isinstance(item[2], pa.RecordBatch):
                yield item[0], item[1], next(results)
            else:
                yield item

    def _finish(self, obj: SourceObject, reading: ObjectReading, hits: list[Hit]) -> ObjectCommit:
        """An object's results, with its window changes (taken now, before the next
        object's rows reach the windows)."""
        deltas, window_hits = self.engine.take_window_changes()
        if deltas:
            self._prune_as_time_moves()
        ctx = reading.ctx
        return ObjectCommit(
            name=obj.name,
            version=obj.version,
            kind=reading.kind,
            rows=reading.rows,
            failed=reading.failed,
            rejected=ctx.rejected_count,
            rejects=list(ctx.rejects),
            hits=[*hits, *window_hits],
            deltas=deltas,
        )

    def _commit(
        self,
        done: list[tuple[SourceObject, ObjectReading, ObjectCommit]],
        summary: ScanSummary,
    ) -> None:
        """Write finished objects in one transaction, then count them in the summary."""
        if not done:
            return
        # an object whose reader process died is reported, not checkpointed: the next scan
        # reads it again (its window changes and hits, if any, wait for that too)
        result = self.store.commit_objects(
            [c for _, r, c in done if not r.retry], now_ms=int(self.clock() * 1000)
        )
        self.delta_ids.extend(result.delta_ids)
        severity = {
            finding_id(h.finding_type, h.account_id, h.region, h.resource_key, h.actor_key): (
                h.severity
            )
            for _, _, c in done
            for h in c.hits
        }
        for fid in result.new:
            summary.new[fid] = severity[fid]
        for fid in result.updated:
            if fid not in summary.new:
                summary.updated[fid] = severity[fid]
        for obj, reading, _ in done:
            ctx = reading.ctx
            if not reading.retry:
                self.committed[obj.name] = (obj.version, ctx.rejected_count)
            summary.objects += 1
            summary.bytes += obj.size
            summary.kinds[reading.kind] += 1
            summary.rejected += ctx.rejected_count
            for r in ctx.rejects:
                summary.reasons[_reason_class(r.reason)] += 1
            if reading.failed and ctx.rejects:
                summary.failed_objects.append(ctx.rejects[-1])
        if self.on_progress:
            self.on_progress(summary)

    def _prune_as_time_moves(self) -> None:
        """Keep window state bounded during a long scan: each time event time has moved
        a quarter of the retention past the last pruning, drop windows older than the
        retention."""
        latest = self.engine.watermark()
        if latest is not None and latest - self.pruned_at > self.retention_ms // 4:
            self.engine.prune(latest - self.retention_ms)
            self.pruned_at = latest

    def _prune(self) -> None:
        """Drop windows older than the retention (in event time) and compact the state."""
        if not self.window_ids:
            return
        watermark = self.engine.watermark()
        if watermark is not None:
            self.engine.prune(watermark - self.retention_ms)
        # rewriting the whole state costs as much as the deltas it replaces: only when
        # there are enough of them to slow the next load down
        if len(self.delta_ids) > COMPACT_AFTER_DELTAS:
            self.store.compact_windows(self.engine.snapshots(), self.delta_ids)
