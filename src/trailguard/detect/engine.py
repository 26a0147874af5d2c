"""The engine: runs every detection of a log type over each batch, in DuckDB.

Per-event detections are one ``SELECT * FROM events WHERE <condition>`` each;
only the rows that match ever become Python objects.  Windowed detections are
one ``GROUP BY key, window`` each, folded into :class:`WindowCell` state.  A
detection that fails is recorded against its id and the others go on.
"""

from __future__ import annotations

import bisect
import contextlib
import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
import weakref
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from trailguard.detect.detection import Detection, EventDetection, WindowDetection
from trailguard.detect.hit import Hit, make_hit
from trailguard.detect.windows import KEY_SEP, WindowDelta, WindowTables, literal, quote
from trailguard.formats.schema import POS, TIME_COLUMN, LogType
from trailguard.settings import size_bytes

VIEW = "events"
_FLAG = "__trailguard_match_"
#: the row number across the parts of a combined per-event query
_ROW = "__trailguard_row"
_ROW_FIELD = pa.field(_ROW, pa.int64())
#: DuckDB's memory for windowed detections: their state may fill STATE_SHARE of it
ENGINE_MEMORY = "512MB"
#: rows per saved slice of a snapshot of window state
SNAPSHOT_ROWS = 262_144
#: staged rows of a windowed detection folded into its state at once (at the latest)
FOLD_ROWS = 262_144
#: a partition of window state is compacted once its rows exceed twice its compacted
#: rows plus this many
COMPACT_ROWS = 65_536
#: the share of the engine's memory that window state may hold in its tables; beyond
#: it, the partitions used least recently are sealed (written to files) until it holds
#: three quarters of that
STATE_SHARE = 0.5


@dataclasses.dataclass(slots=True)
class _Partition:
    """Where one partition of a windowed detection's state is, and its size."""

    rows: int = 0  # values rows, duplicates included
    compacted: int = 0  # values rows after its last compaction
    used: int = -1  # the sequence number of the last object whose rows it took
    sealed: bool = False  # in Parquet files (see Engine._seal), not in tables
    #: merged runs of rows in its tables (a fold, a load, a compaction: one each); with
    #: at most one, they hold no duplicate values and one cell per window already
    runs: int = 0

    def grew(self, rows: int) -> None:
        """A run of ``rows`` values rows was added (a first run is as compact as can be)."""
        self.rows += rows
        self.runs += 1
        if self.runs == 1:
            self.compacted = self.rows


def _only(batch: pa.RecordBatch, named: dict[str, set[tuple[str, ...]]] | None) -> pa.RecordBatch:
    """``batch`` with only the columns, and struct fields, in ``named`` (all of it when
    ``named`` is ``None`` or names something the batch does not have: the query then
    reports it)."""
    if named is None or any(name not in batch.schema.names for name in named):
        return batch
    columns = [_fields(batch.column(name), paths) for name, paths in named.items()]
    return pa.RecordBatch.from_arrays(columns, names=list(named))


def _fields(array: pa.Array, paths: set[tuple[str, ...]]) -> pa.Array:
    """A struct ``array`` with only the fields ``paths`` lead to (all of it for ``()``)."""
    if () in paths or not pa.types.is_struct(array.type):
        return array
    children: list[pa.Array] = []
    fields: list[pa.Field] = []
    for i, field in enumerate(array.type):
        below = {p[1:] for p in paths if p[0] == field.name}
        if below:
            children.append(_fields(pc.struct_field(array, [i]), below))
            fields.append(pa.field(field.name, children[-1].type))
    if len(fields) != len({p[0] for p in paths}):
        return array  # a field it does not have: the query reports it
    mask = array.is_null() if array.null_count else None
    return pa.StructArray.from_arrays(children, fields=fields, mask=mask)


class Engine:
    """Holds the detections, a DuckDB connection and the window state of one scan."""

    def __init__(
        self,
        detections: Sequence[Detection],
        deltas: Iterable[WindowDelta] = (),
        *,
        memory: str = ENGINE_MEMORY,
    ) -> None:
        # a bad size is the setting's error, not DuckDB's
        self.state_budget = int(size_bytes("engine_memory", memory) * STATE_SHARE)
        self.spill = spill = tempfile.mkdtemp(prefix="trailguard-state-")
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
        #: per windowed detection, its partitions of state (see WindowTables)
        self.parts: dict[str, dict[int, _Partition]] = defaultdict(dict)
        self.touched: set[str] = set()
        #: per windowed detection, the partitions its rows went to since the last delta
        #: (and how many folds each took)
        self.touched_parts: dict[str, Counter[int]] = defaultdict(Counter)
        #: per windowed detection, the rows staged since its last fold
        self.staged: dict[str, list[pa.Table]] = defaultdict(list)
        self.staged_rows: dict[str, int] = defaultdict(int)
        self.current_object = 0
        self.seq = 0
        #: objects by number (see _object_id), and numbers by name
        self.object_names: dict[int, str] = {}
        self.object_ids: dict[str, int] = {}
        self.errors: dict[str, list[str]] = defaultdict(list)
        #: per combined per-event query, the columns its conditions name
        self._named: dict[str, dict[str, set[tuple[str, ...]]] | None] = {}
        #: the latest event time the windows have seen (epoch ms)
        self.latest: int | None = None
        for delta in deltas:
            self.apply(delta)
            self._seal_over_budget()  # loading a long retention stays within the budget

    def apply(self, delta: WindowDelta) -> None:
        """Merge saved state (a delta or a snapshot) into the tables."""
        t = self.tables.get(delta.detection_id)
        if t is None:
            return  # the detection is not loaded in this run; its state stays in the store
        try:
            names = pc.unique(delta.cells.column("obj")).to_pylist() if delta.cells.num_rows else []
            numbered = pa.table(
                {
                    "id": pa.array([self._object_id(n) for n in names], pa.int64()),
                    "name": pa.array(names, pa.string()),
                }
            )
            windows = {
                w
                for table in (delta.values, delta.cells)
                if table.num_rows
                for w in pc.unique(table.column("w")).to_pylist()
            }
            if delta.cells.num_rows:
                self._saw(pc.max(delta.cells.column("last_ms")).as_py())
            self.con.register("tg_load_values", delta.values)
            self.con.register("tg_load_cells", delta.cells)
            self.con.register("tg_load_names", numbered)
            for p in sorted({t.partition(w) for w in windows}):
                part = self._partition(t, p)
                values, _ = (
                    self._count(sql)
                    for sql in t.insert_loaded(
                        p, "tg_load_values", "tg_load_cells", "tg_load_names"
                    )
                )
                part.grew(values)
        except duckdb.Error as exc:  # e.g. saved by a version whose columns differ
            self.errors[delta.detection_id].append(f"saved window state not loaded: {exc}")
        finally:
            self.con.unregister("tg_load_values")
            self.con.unregister("tg_load_cells")
            self.con.unregister("tg_load_names")

    def _count(self, sql: str) -> int:
        """Run an INSERT (or a CREATE TABLE ... AS); the rows it wrote."""
        row = self.con.execute(sql).fetchone()
        return int(row[0]) if row else 0

    def _saw(self, last_ms: int | None) -> None:
        if last_ms is not None:
            self.latest = max(self.latest if self.latest is not None else last_ms, last_ms)

    def _partition(self, t: WindowTables, p: int) -> _Partition:
        """Partition ``p`` of ``t``'s state in its tables: created on first use, read back
        from its files if it was sealed."""
        parts = self.parts[t.detection.meta.id]
        part = parts.get(p)
        if part is None:
            for ddl in t.create(p):
                self.con.execute(ddl)
            part = parts[p] = _Partition()
        elif part.sealed:
            files = self._files(t, p)
            self._atomically(t.unseal(p, *files))
            self._remove_files(t, p)
            part.sealed = False
            part.runs = 1
        return part

    def _remove_files(self, t: WindowTables, p: int) -> None:
        """Remove partition ``p``'s sealed files (once read back, or pruned)."""
        for f in self._files(t, p):
            with contextlib.suppress(OSError):
                os.remove(f)

    def _atomically(self, statements: Sequence[str]) -> list[int]:
        """Run ``statements`` in one transaction (all or none); the count each returned."""
        self.con.execute("BEGIN TRANSACTION")
        try:
            counts = [self._count(sql) for sql in statements]
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        self.con.execute("COMMIT")
        return counts

    def _files(self, t: WindowTables, p: int) -> tuple[str, str]:
        """Where sealed partition ``p`` of ``t``'s state is kept: values, cells."""
        return (
            os.path.join(self.spill, t.values(p) + ".parquet"),
            os.path.join(self.spill, t.cells(p) + ".parquet"),
        )

    def _seal(self, t: WindowTables, p: int) -> None:
        """Write partition ``p`` of ``t``'s state, compacted, to Parquet files and drop its
        tables: its windows cost no memory until an object's rows reach them again (then
        :meth:`_partition` reads it back).  Objects arrive roughly in event time, so the
        partitions an object touches are mostly the ones the last objects touched."""
        part = self.parts[t.detection.meta.id][p]
        counts = self._atomically(t.seal(p, *self._files(t, p), merge=part.runs > 1))
        part.rows = part.compacted = counts[0]
        part.sealed = True

    def _seal_over_budget(self) -> None:
        """When the state's tables hold more than :attr:`state_budget`, seal the partitions
        used least recently (but not by the last object) until they hold three quarters
        of it.  Sizes are DuckDB's own count of its tables' memory."""
        sql = "SELECT sum(memory_usage_bytes) FROM duckdb_memory() WHERE tag = 'IN_MEMORY_TABLE'"
        used = int(self.con.execute(sql).fetchall()[0][0] or 0)
        if used <= self.state_budget:
            return
        hot = [
            (part.used, p, det_id)
            for det_id, parts in self.parts.items()
            for p, part in parts.items()
            if not part.sealed
        ]
        rows = sum(self.parts[d][p].rows for _, p, d in hot) or 1
        excess = used - self.state_budget * 3 // 4
        for last, p, det_id in sorted(hot):
            if excess <= 0 or last >= self.seq:
                break
            t = self.tables[det_id]
            excess -= used * self.parts[det_id][p].rows // rows
            try:
                self._seal(t, p)
            except Exception as exc:  # it stays in memory
                self._error(t.detection, "window state", exc)

    def _object_id(self, name: str) -> int:
        """An object's number: 63 bits of its name's BLAKE2b digest, so that it is the same
        whatever order objects come in (the earliest row of a window is chosen by event
        time, then this number, then position: an exact tie between objects must not
        be settled by arrival order)."""
        number = self.object_ids.get(name)
        if number is None:
            digest = hashlib.blake2b(name.encode("utf-8", "surrogatepass"), digest_size=8)
            number = int.from_bytes(digest.digest(), "big") >> 1
            self.object_ids[name] = number
            self.object_names[number] = name
        return number

    def _names_table(self) -> pa.Table:
        return pa.table(
            {
                "id": pa.array(list(self.object_names), pa.int64()),
                "name": pa.array(list(self.object_names.values()), pa.string()),
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
        flags = ", ".join(
            f"coalesce(({d.where}), false) AS {quote(f'{_FLAG}{i}')}"
            for i, d in enumerate(detections)
        )
        any_flag = " OR ".join(f"coalesce(({d.where}), false)" for d in detections)
        sql = f"SELECT {quote(_ROW)}, {flags} FROM {VIEW} WHERE {any_flag}"
        if sql not in self._named:
            self._named[sql] = self._columns_named(any_flag)
        needed = self._named[sql]
        starts: list[int] = []
        numbered: list[pa.RecordBatch] = []
        total = 0
        for i in run:
            batch = parts[i][0]
            starts.append(total)
            # a row number across the parts: positions repeat from one object to the next
            numbers = pa.array(np.arange(total, total + batch.num_rows, dtype=np.int64))
            numbered.append(_only(batch, needed).append_column(_ROW_FIELD, numbers))
            total += batch.num_rows
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

    def _columns_named(self, condition: str) -> dict[str, set[tuple[str, ...]]] | None:
        """The columns ``condition`` names, each with the paths of the struct fields it
        names under it (``()``: the whole column); ``None`` if that cannot be told.

        DuckDB turns an Arrow struct column into its own vectors whole, nested structs
        and all, even for one field: CloudTrail's ``userIdentity`` made up a third of
        the per-event query's time.  Only the fields named are handed to it."""
        try:
            rows = self.con.execute(
                "SELECT json_serialize_sql($1)", [f"SELECT 1 FROM {VIEW} WHERE {condition}"]
            ).fetchall()
            tree = json.loads(rows[0][0]) if rows else None
        except (duckdb.Error, ValueError):
            return None
        if not isinstance(tree, dict) or tree.get("error"):
            return None
        named: dict[str, set[tuple[str, ...]]] = defaultdict(set)
        stack: list[Any] = [tree]
        while stack:
            node = stack.pop()
            if isinstance(node, dict):
                names = node.get("column_names") if node.get("class") == "COLUMN_REF" else None
                if names:
                    named[str(names[0])].add(tuple(str(n) for n in names[1:]))
                stack.extend(node.values())
            elif isinstance(node, list):
                stack.extend(node)
        return dict(named)

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
        rows = pa.concat_tables(staged)
        windows = pc.unique(rows.column("w")).to_pylist()
        self._saw(pc.max(rows.column("rank")).as_py() >> 20)
        self.con.register(t.staged, rows)
        try:
            for p in sorted({t.partition(w) for w in windows}):
                part = self._partition(t, p)
                values, _ = (self._count(sql) for sql in t.fold(p, self.current_object, self.seq))
                part.grew(values)
                part.used = self.seq
                self.touched_parts[det_id][p] += 1
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
                folds = self.touched_parts[det_id]
                parts = sorted(folds)
                if not parts:
                    continue
                carry = "".join(", " + quote("c_" + c) for c in t.carry_columns)
                name = self.object_names[self.current_object]
                values, cells = [], []
                for p in parts:
                    # rows of one fold are merged already; of several, merged here, so
                    # that every saved delta is compact
                    new_values = f"{t.values(p)} WHERE seq = {int(self.seq)}"
                    new_cells = f"(SELECT * FROM {t.cells(p)} WHERE seq = {int(self.seq)})"
                    if folds[p] > 1:
                        new_values = f"({t.distinct_values(new_values)})"
                        new_cells = f"({t.merged_cells(new_cells)})"
                    values.append(
                        self.con.sql(f"SELECT key, w, v FROM {new_values}").to_arrow_table()
                    )
                    cells.append(
                        self.con.sql(
                            f"SELECT key, w, first_ms, last_ms, rank, $1 AS obj, pos{carry} "
                            f"FROM {new_cells}",
                            params=[name],
                        ).to_arrow_table()
                    )
                deltas.append(
                    WindowDelta(det_id, pa.concat_tables(values), pa.concat_tables(cells))
                )
                fired = [row for p in parts for row in self._fired(t, p)]
                fired.sort(key=lambda row: (row["key"], row["w"]))
                hits.extend(self._window_hit(t.detection, row) for row in fired)
                for p in parts:
                    self._maybe_compact(t, p)
            except Exception as exc:  # a failing detection never stops the run
                self._error(t.detection, "window state", exc)
            finally:
                self.staged.pop(det_id, None)
                self.staged_rows[det_id] = 0
                self.touched_parts.pop(det_id, None)
        if self.touched:  # (an object without windowed rows adds no state)
            self.touched.clear()
            self._seal_over_budget()
        self.seq += 1
        return deltas, hits

    def _fired(self, t: WindowTables, p: int) -> list[dict[str, Any]]:
        """The cells of partition ``p``'s windows this object touched whose distinct
        values reach the threshold, with their count and a sample of values.

        Most touched windows hold a value or two: rows are counted first (a window with
        fewer rows than the threshold cannot have as many distinct values), so the
        distinct count and the sample are computed for the few that can fire."""
        threshold = int(t.detection.threshold)
        seq = int(self.seq)
        values, cells = t.values(p), t.cells(p)
        fired_cells = f"{cells} SEMI JOIN n USING (key, w)"
        rows: list[dict[str, Any]] = (
            self.con.sql(
                f"WITH f AS (SELECT key, w FROM {values} "
                f"SEMI JOIN (SELECT DISTINCT key, w FROM {cells} WHERE seq = {seq}) o "
                f"USING (key, w) GROUP BY key, w HAVING count(*) >= {threshold}), "
                f"n AS (SELECT key, w, count(DISTINCT v) AS n, "
                f"list(DISTINCT v ORDER BY v)[1:100] AS sample FROM {values} "
                f"SEMI JOIN f USING (key, w) "
                f"GROUP BY key, w HAVING count(DISTINCT v) >= {threshold}) "
                f"SELECT c.*, n.n, n.sample FROM "
                f"({t.merged_cells(fired_cells)}) c "
                f"JOIN n USING (key, w)"
            )
            .to_arrow_table()
            .to_pylist()
        )
        return rows

    def _maybe_compact(self, t: WindowTables, p: int) -> None:
        part = self.parts[t.detection.meta.id][p]
        # one run of rows holds nothing to merge, however large
        if not part.sealed and part.runs > 1 and part.rows > 2 * part.compacted + COMPACT_ROWS:
            self._compact(t, p)

    def _compact(self, t: WindowTables, p: int, since: int | None = None) -> None:
        rows, _ = (self._count(sql) for sql in t.compact(p, since))
        part = self.parts[t.detection.meta.id][p]
        part.rows = part.compacted = rows
        part.runs = 1

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
        return self.latest

    def prune(self, before_ms: int) -> None:
        """Forget windows that started before ``before_ms``: partitions whose windows all
        started before it are dropped, one that straddles it is rewritten without them."""
        for det_id, parts in self.parts.items():
            t = self.tables[det_id]
            for p in sorted(parts):
                if (p + 1) * t.span - t.width < before_ms:
                    if parts[p].sealed:
                        self._remove_files(t, p)
                    else:
                        for sql in t.drop(p):
                            self.con.execute(sql)
                    del parts[p]
                elif p * t.span < before_ms:
                    self._partition(t, p)
                    self._compact(t, p, since=before_ms)

    def snapshots(self) -> Iterator[WindowDelta]:
        """The whole (compacted) state of every windowed detection, in slices of at most
        :data:`SNAPSHOT_ROWS` rows, so that saving it needs no more memory than that."""
        for det_id, t in self.tables.items():
            parts = self.parts.get(det_id, {})
            if not parts:
                continue
            sources: list[tuple[str, str]] = []
            for p in sorted(parts):
                if parts[p].sealed:
                    values, cells = (f"read_parquet({literal(f)})" for f in self._files(t, p))
                else:
                    if parts[p].runs > 1:
                        self._compact(t, p)
                    values, cells = t.values(p), t.cells(p)
                sources.append((values, cells))
            self.con.register("tg_names", self._names_table())
            try:
                first_values, first_cells = sources[0]
                no_values = self.con.sql(f"{t.loaded(first_values)} LIMIT 0").to_arrow_table()
                no_cells = self.con.sql(
                    f"{t.cells_named(first_cells, 'tg_names')} LIMIT 0"
                ).to_arrow_table()
                # partition by partition, so that loading them back stays within the budget
                for values, cells in sources:
                    rows = self.con.sql(f"{t.loaded(values)} ORDER BY ALL")
                    for batch in rows.to_arrow_reader(SNAPSHOT_ROWS):
                        yield WindowDelta(det_id, pa.Table.from_batches([batch]), no_cells, True)
                    rows = self.con.sql(f"{t.cells_named(cells, 'tg_names')} ORDER BY key, w")
                    for batch in rows.to_arrow_reader(SNAPSHOT_ROWS):
                        yield WindowDelta(det_id, no_values, pa.Table.from_batches([batch]), True)
            finally:
                self.con.unregister("tg_names")

    def close(self) -> None:
        self.con.close()
        self._cleanup()
