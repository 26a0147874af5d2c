"""The engine: runs every detection of a log type over each batch, in DuckDB.

Per-event detections are one ``SELECT * FROM events WHERE <condition>`` each;
only the rows that match ever become Python objects.  Windowed detections are
one ``GROUP BY key, window`` each, folded into :class:`WindowCell` state.  A
detection that fails is recorded against its id and the others go on.
"""

from __future__ import annotations

import bisect
import dataclasses
import shutil
import tempfile
import weakref
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from trailguard.detect.detection import Detection, EventDetection, WindowDetection
from trailguard.detect.hit import Hit, make_hit
from trailguard.detect.windows import KEY_SEP, WindowDelta, WindowTables, quote
from trailguard.formats.schema import POS, TIME_COLUMN, LogType

VIEW = "events"
_FLAG = "__trailguard_match_"
#: the row number across the parts of a combined per-event query
_ROW = "__trailguard_row"
_ROW_FIELD = pa.field(_ROW, pa.int64())
#: DuckDB's memory for window state; beyond it, state spills to a temporary folder
ENGINE_MEMORY = "512MB"
#: rows per saved slice of a snapshot of window state
SNAPSHOT_ROWS = 262_144
#: staged rows of a windowed detection folded into its state at once (at the latest)
FOLD_ROWS = 262_144


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class Engine:
    """Holds the detections, a DuckDB connection and the window state of one scan."""

    def __init__(
        self,
        detections: Sequence[Detection],
        deltas: Iterable[WindowDelta] = (),
        *,
        memory: str = ENGINE_MEMORY,
    ) -> None:
        spill = tempfile.mkdtemp(prefix="trailguard-state-")
        self._cleanup = weakref.finalize(self, shutil.rmtree, spill, True)
        self.con = duckdb.connect(
            config={
                "threads": 1,
                "memory_limit": memory,
                "temp_directory": spill,
                # an in-memory database has nothing to make durable, yet DuckDB checkpoints
                # it (recompressing every table) each time 16 MB of changes pile up: on a
                # large scan, half a second of window state rewritten every few objects
                "checkpoint_threshold": "1TB",
            }
        )
        self.by_type: dict[LogType, list[Detection]] = defaultdict(list)
        for d in detections:
            self.by_type[d.meta.log_type].append(d)
        windows = [d for d in detections if isinstance(d, WindowDetection)]
        self.tables = {d.meta.id: WindowTables(d, i) for i, d in enumerate(windows)}
        for t in self.tables.values():
            for ddl in t.create():
                self.con.execute(ddl)
        self.touched: set[str] = set()
        #: per windowed detection, the rows staged since its last fold
        self.staged: dict[str, list[pa.Table]] = defaultdict(list)
        self.staged_rows: dict[str, int] = defaultdict(int)
        self.current_object = 0
        self.seq = 0
        self.object_names: list[str] = []
        self.object_ids: dict[str, int] = {}
        self.compacted: dict[str, int] = {}
        self.errors: dict[str, list[str]] = defaultdict(list)
        for delta in deltas:
            self.apply(delta)

    def apply(self, delta: WindowDelta) -> None:
        """Merge saved state (a delta or a snapshot) into the tables."""
        t = self.tables.get(delta.detection_id)
        if t is None:
            return  # the detection is not loaded in this run; its state stays in the store
        try:
            names = pc.unique(delta.cells.column("obj")).to_pylist() if delta.cells.num_rows else []
            for name in names:
                self._object_id(name)
            self.con.register("tg_load_values", delta.values)
            self.con.register("tg_load_cells", delta.cells)
            self.con.register("tg_load_names", self._names_table())
            self.con.execute(f"INSERT INTO {t.values} SELECT key, w, v, -1 FROM tg_load_values")
            self.con.execute(t.insert_numbered("tg_load_cells", "tg_load_names"))
        except duckdb.Error as exc:  # e.g. saved by a version whose columns differ
            self.errors[delta.detection_id].append(f"saved window state not loaded: {exc}")
        finally:
            self.con.unregister("tg_load_values")
            self.con.unregister("tg_load_cells")
            self.con.unregister("tg_load_names")

    def _object_id(self, name: str) -> int:
        number = self.object_ids.get(name)
        if number is None:
            number = self.object_ids[name] = len(self.object_names)
            self.object_names.append(name)
        return number

    def _names_table(self) -> pa.Table:
        return pa.table(
            {
                "id": pa.array(range(len(self.object_names)), pa.int64()),
                "name": pa.array(self.object_names, pa.string()),
            }
        )

    def run(self, log_type: LogType, batch: pa.RecordBatch, obj: str) -> list[Hit]:
        """Hits of the per-event detections over ``batch``; window state is updated."""
        hits = self.run_events(log_type, [(batch, obj)])[0]
        self.run_windows(log_type, batch, obj)
        return hits

    def run_events(
        self, log_type: LogType, parts: Sequence[tuple[pa.RecordBatch, str]]
    ) -> list[list[Hit]]:
        """Hits of the per-event detections over each ``(batch, object name)`` part, in
        the parts' order.

        Each query has a fixed cost (registering the Arrow data, planning: ~6 ms) that
        dwarfs scanning the ~2k rows of a small CloudTrail object, so consecutive parts
        with one schema are queried together; the hits are the same as one query each.
        """
        out: list[list[Hit]] = [[] for _ in parts]
        events = [d for d in self.by_type.get(log_type, ()) if isinstance(d, EventDetection)]
        if not events:
            return out
        run: list[int] = []  # indexes of non-empty parts sharing one schema
        for i, (batch, _) in enumerate(parts):
            if batch.num_rows == 0:
                continue
            if run and not batch.schema.equals(parts[run[0]][0].schema):
                self._events_of(events, parts, run, out)
                run = []
            run.append(i)
        if run:
            self._events_of(events, parts, run, out)
        return out

    def run_windows(self, log_type: LogType, batch: pa.RecordBatch | pa.Table, obj: str) -> None:
        """Update the state of the windowed detections with ``batch`` (of object ``obj``)."""
        if batch.num_rows == 0 or not any(
            isinstance(d, WindowDetection) for d in self.by_type.get(log_type, ())
        ):
            return
        self.con.register(VIEW, batch)
        try:
            self._windows(log_type, obj)
        finally:
            self.con.unregister(VIEW)

    def _windows(self, log_type: LogType, obj: str) -> None:
        """The windowed detections over the rows registered as the view."""
        for d in self.by_type.get(log_type, ()):
            if isinstance(d, WindowDetection):
                try:
                    self._window(d, obj)
                except Exception as exc:  # a failing detection never stops the run
                    self._error(d, obj, exc)

    def _error(self, d: Detection, obj: str, exc: Exception) -> None:
        self.errors[d.meta.id].append(f"{obj}: {type(exc).__name__}: {exc}")

    def _events_of(
        self,
        detections: list[EventDetection],
        parts: Sequence[tuple[pa.RecordBatch, str]],
        run: list[int],
        out: list[list[Hit]],
    ) -> None:
        """All per-event conditions in one scan of the parts ``run``; one flag column each.

        DuckDB returns only the matching rows' numbers and flags (so it reads just the
        columns the conditions name); the rows themselves are taken from the batches.
        If the combined query fails, each part is queried alone, each detection on its
        own, so that only the broken one is recorded as failing (against its object).
        """
        starts: list[int] = []
        numbered: list[pa.RecordBatch] = []
        total = 0
        for i in run:
            batch = parts[i][0]
            starts.append(total)
            # a row number across the parts: positions repeat from one object to the next
            numbers = pa.array(np.arange(total, total + batch.num_rows, dtype=np.int64))
            numbered.append(
                pa.RecordBatch.from_arrays(
                    [*batch.columns, numbers], schema=batch.schema.append(_ROW_FIELD)
                )
            )
            total += batch.num_rows
        flags = ", ".join(
            f"coalesce(({d.where}), false) AS {_q(f'{_FLAG}{i}')}" for i, d in enumerate(detections)
        )
        any_flag = " OR ".join(f"coalesce(({d.where}), false)" for d in detections)
        sql = f"SELECT {_q(_ROW)}, {flags} FROM {VIEW} WHERE {any_flag}"
        self.con.register(VIEW, pa.Table.from_batches(numbered))
        try:
            try:
                # few rows come back: plain tuples are cheaper than an Arrow result
                matched = self.con.execute(sql).fetchall()
            except Exception:
                matched = None
                for i in run:
                    batch, obj = parts[i]
                    self.con.register(VIEW, batch)
                    for d in detections:
                        try:
                            out[i].extend(self._event(d, obj))
                        except Exception as exc:  # a failing detection never stops the run
                            self._error(d, obj, exc)
        finally:
            self.con.unregister(VIEW)
        if matched is None:
            return
        matched.sort()  # in row order, as the rows are in their batches
        k = 0
        while k < len(matched):
            j = bisect.bisect_right(starts, matched[k][0]) - 1
            end = starts[j + 1] if j + 1 < len(starts) else total
            first = k
            while k < len(matched) and matched[k][0] < end:
                k += 1
            batch, obj = parts[run[j]]
            local = pa.array([m[0] - starts[j] for m in matched[first:k]], type=pa.int64())
            hits = out[run[j]]
            for row, m in zip(batch.take(local).to_pylist(), matched[first:k], strict=True):
                flag = m[1:]
                for n, d in enumerate(detections):
                    if not flag[n]:
                        continue
                    try:
                        if d.refine(row):
                            hits.append(make_hit(d.meta, row, obj, d.values(row)))
                    except Exception as exc:  # a failing refinement is the detection's failure
                        self._error(d, obj, exc)

    def _event(self, d: EventDetection, obj: str) -> list[Hit]:
        sql = f"SELECT * FROM {VIEW} WHERE {d.where}"
        matched = self.con.sql(sql).to_arrow_table()
        if matched.num_rows == 0:
            return []
        return [
            make_hit(d.meta, row, obj, d.values(row))
            for row in matched.to_pylist()
            if d.refine(row)
        ]

    def _window(self, d: WindowDetection, obj: str) -> None:
        t = self.tables[d.meta.id]
        rows = self.con.sql(t.stage(VIEW)).to_arrow_table()
        self.current_object = self._object_id(obj)
        self.touched.add(d.meta.id)
        if rows.num_rows:
            self.staged[d.meta.id].append(rows)
            self.staged_rows[d.meta.id] += rows.num_rows
        # fold in large steps (each statement has a fixed cost), but bounded in memory
        if self.staged_rows[d.meta.id] >= FOLD_ROWS:
            self._fold(t)

    def _fold(self, t: WindowTables) -> None:
        det_id = t.detection.meta.id
        staged = self.staged.pop(det_id, [])
        self.staged_rows[det_id] = 0
        if not staged:
            return
        self.con.register(t.staged, pa.concat_tables(staged))
        try:
            for sql in t.fold(self.current_object, self.seq):
                self.con.execute(sql)
        finally:
            self.con.unregister(t.staged)

    def take_window_changes(self) -> tuple[list[WindowDelta], list[Hit]]:
        """What the windows changed since the last call, and the hits of changed windows
        at or over their threshold.  Called once per object, so that the object's
        transaction holds both."""
        deltas: list[WindowDelta] = []
        hits: list[Hit] = []
        for det_id in sorted(self.touched):
            t = self.tables[det_id]
            try:
                self._fold(t)
                carry = "".join(", " + quote("c_" + c) for c in t.carry_columns)
                delta = WindowDelta(
                    det_id,
                    self.con.sql(
                        f"SELECT key, w, v FROM {t.values} WHERE seq = $1", params=[self.seq]
                    ).to_arrow_table(),
                    self.con.sql(
                        f"SELECT key, w, first_ms, last_ms, rank, $2 AS obj, pos{carry} "
                        f"FROM {t.cells} WHERE seq = $1",
                        params=[self.seq, self.object_names[self.current_object]],
                    ).to_arrow_table(),
                )
                deltas.append(delta)
                hits.extend(self._fired(t))
                self._maybe_compact(t)
            except Exception as exc:  # a failing detection never stops the run
                self._error(t.detection, "window state", exc)
            finally:
                self.staged.pop(det_id, None)
                self.staged_rows[det_id] = 0
        self.touched.clear()
        self.seq += 1
        return deltas, hits

    def _fired(self, t: WindowTables) -> list[Hit]:
        """Hits of the windows this object touched whose distinct values reach the threshold.

        Most touched windows hold a value or two: rows are counted first (a window with
        fewer rows than the threshold cannot have as many distinct values), so the
        distinct count and the sample are computed for the few that can fire."""
        d = t.detection
        threshold = int(d.threshold)
        seq = int(self.seq)
        span = self.con.execute(
            f"SELECT min(w), max(w) FROM {t.cells} WHERE seq = {seq}"
        ).fetchall()[0]
        if span[0] is None:
            return []
        # the windows this object touched lie in [lo, hi]: with that range spelled out, the
        # scans skip (by zone map) the row groups of older windows, which may have been
        # spilled to disk, instead of reading the whole state for every object
        near = f"w BETWEEN {int(span[0])} AND {int(span[1])}"
        fired_cells = f"(SELECT * FROM {t.cells} WHERE {near}) SEMI JOIN n USING (key, w)"
        rows = self.con.sql(
            f"WITH f AS (SELECT key, w FROM {t.values} "
            f"SEMI JOIN (SELECT DISTINCT key, w FROM {t.cells} WHERE seq = {seq}) o "
            f"USING (key, w) WHERE {near} GROUP BY key, w HAVING count(*) >= {threshold}), "
            f"n AS (SELECT key, w, count(DISTINCT v) AS n, "
            f"list(DISTINCT v ORDER BY v)[1:100] AS sample FROM {t.values} "
            f"SEMI JOIN f USING (key, w) WHERE {near} "
            f"GROUP BY key, w HAVING count(DISTINCT v) >= {threshold}) "
            f"SELECT c.*, n.n, n.sample FROM "
            f"({t.merged_cells(fired_cells)}) c "
            f"JOIN n USING (key, w) ORDER BY c.key, c.w"
        ).to_arrow_table()
        return [self._window_hit(d, r) for r in rows.to_pylist()]

    def _maybe_compact(self, t: WindowTables) -> None:
        rows = self.con.execute(f"SELECT count(*) FROM {t.values}").fetchall()[0][0]
        if rows > 2 * self.compacted.get(t.detection.meta.id, 0) + 100_000:
            self._compact(t)

    def _compact(self, t: WindowTables) -> None:
        for sql in t.compact():
            self.con.execute(sql)
        rows = self.con.execute(f"SELECT count(*) FROM {t.values}").fetchall()[0][0]
        self.compacted[t.detection.meta.id] = int(rows)

    def _window_hit(self, d: WindowDetection, cell: dict[str, Any]) -> Hit:
        row: dict[str, Any] = {k[2:]: v for k, v in cell.items() if k.startswith("c_")}
        row[POS] = cell["pos"]
        row.update(zip(d.key, str(cell["key"]).split(KEY_SEP), strict=True))
        first = datetime.fromtimestamp(cell["first_ms"] / 1000, tz=UTC)
        last = datetime.fromtimestamp(cell["last_ms"] / 1000, tz=UTC)
        row[TIME_COLUMN[d.meta.log_type]] = first
        obj = self.object_names[cell["obj"]]
        hit = make_hit(d.meta, row, obj, {**d.extra, "distinct_count": cell["n"]})
        return dataclasses.replace(
            hit,
            first_seen=first,
            last_seen=last,
            event_key=f"{d.meta.id}|{cell['key']}|{cell['w']}",
            additional_info={
                **hit.additional_info,
                **d.extra,
                "windowStart": datetime.fromtimestamp(cell["w"] / 1000, tz=UTC).isoformat(),
                "windowSeconds": int(d.window.total_seconds()),
                "threshold": d.threshold,
                "distinctCount": cell["n"],
                "distinctValues": cell["sample"],
            },
        )

    def watermark(self) -> int | None:
        """The latest event time any window has seen (epoch ms)."""
        latest: int | None = None
        for t in self.tables.values():
            m = self.con.execute(f"SELECT max(last_ms) FROM {t.cells}").fetchall()
            if m and m[0][0] is not None:
                latest = max(latest or int(m[0][0]), int(m[0][0]))
        return latest

    def prune(self, before_ms: int) -> None:
        """Forget windows that started before ``before_ms``."""
        for t in self.tables.values():
            self.con.execute(f"DELETE FROM {t.values} WHERE w < ?", [before_ms])
            self.con.execute(f"DELETE FROM {t.cells} WHERE w < ?", [before_ms])

    def snapshots(self) -> Iterator[WindowDelta]:
        """The whole (compacted) state of every windowed detection, in slices of at most
        :data:`SNAPSHOT_ROWS` rows, so that saving it needs no more memory than that."""
        for det_id, t in self.tables.items():
            self._compact(t)
            no_values = self.con.sql(f"SELECT * FROM {t.values} LIMIT 0").to_arrow_table()
            self.con.register("tg_names", self._names_table())
            try:
                no_cells = self.con.sql(
                    f"{t.cells_named(t.cells, 'tg_names')} LIMIT 0"
                ).to_arrow_table()
                values = self.con.sql(f"SELECT * FROM {t.values} ORDER BY ALL")
                for batch in values.to_arrow_reader(SNAPSHOT_ROWS):
                    yield WindowDelta(det_id, pa.Table.from_batches([batch]), no_cells, True)
                cells = self.con.sql(f"{t.cells_named(t.cells, 'tg_names')} ORDER BY key, w")
                for batch in cells.to_arrow_reader(SNAPSHOT_ROWS):
                    yield WindowDelta(det_id, no_values, pa.Table.from_batches([batch]), True)
            finally:
                self.con.unregister("tg_names")

    def close(self) -> None:
        self.con.close()
        self._cleanup()
