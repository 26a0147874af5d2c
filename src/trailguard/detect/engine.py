"""The engine: runs every detection of a log type over each batch, in DuckDB.

Per-event detections are one ``SELECT * FROM events WHERE <condition>`` each;
only the rows that match ever become Python objects.  Windowed detections are
one ``GROUP BY key, window`` each, folded into :class:`WindowCell` state.  A
detection that fails is recorded against its id and the others go on.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import duckdb
import pyarrow as pa

from trailguard.detect.detection import Detection, EventDetection, WindowDetection
from trailguard.detect.hit import Hit, make_hit
from trailguard.detect.windows import WindowDelta, WindowTables
from trailguard.formats.schema import TIME_COLUMN, LogType

VIEW = "events"
_FLAG = "__trailguard_match_"


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class Engine:
    """Holds the detections, a DuckDB connection and the window state of one scan."""

    def __init__(self, detections: Sequence[Detection], deltas: Iterable[WindowDelta] = ()) -> None:
        self.con = duckdb.connect(config={"threads": 2})
        self.by_type: dict[LogType, list[Detection]] = defaultdict(list)
        for d in detections:
            self.by_type[d.meta.log_type].append(d)
        windows = [d for d in detections if isinstance(d, WindowDetection)]
        self.tables = {d.meta.id: WindowTables(d, i) for i, d in enumerate(windows)}
        for t in self.tables.values():
            for ddl in t.create():
                self.con.execute(ddl)
        self.new_values: dict[str, list[pa.Table]] = defaultdict(list)
        self.dirty: dict[str, list[pa.Table]] = defaultdict(list)
        self.errors: dict[str, list[str]] = defaultdict(list)
        for delta in deltas:
            self.apply(delta)

    def apply(self, delta: WindowDelta) -> None:
        """Merge saved state (a delta or a snapshot) into the tables."""
        t = self.tables.get(delta.detection_id)
        if t is None:
            return  # the detection is not loaded in this run; its state stays in the store
        try:
            self.con.register("tg_load_values", delta.values)
            self.con.register("tg_load_cells", delta.cells)
            self.con.execute(
                f"INSERT OR IGNORE INTO {t.values} SELECT key, w, v FROM tg_load_values"
            )
            self.con.execute(t.merge_cells("tg_load_cells"))
        except duckdb.Error as exc:  # e.g. saved by a version whose columns differ
            self.errors[delta.detection_id].append(f"saved window state not loaded: {exc}")
        finally:
            self.con.unregister("tg_load_values")
            self.con.unregister("tg_load_cells")

    def run(self, log_type: LogType, batch: pa.RecordBatch, obj: str) -> list[Hit]:
        """Hits of the per-event detections over ``batch``; window state is updated."""
        detections = self.by_type.get(log_type)
        if not detections or batch.num_rows == 0:
            return []
        hits: list[Hit] = []
        self.con.register(VIEW, batch)
        try:
            events = [d for d in detections if isinstance(d, EventDetection)]
            if events:
                hits.extend(self._events(events, obj))
            for d in detections:
                if isinstance(d, WindowDetection):
                    try:
                        self._window(d, obj)
                    except Exception as exc:  # a failing detection never stops the run
                        self._error(d, obj, exc)
        finally:
            self.con.unregister(VIEW)
        return hits

    def _error(self, d: Detection, obj: str, exc: Exception) -> None:
        self.errors[d.meta.id].append(f"{obj}: {type(exc).__name__}: {exc}")

    def _events(self, detections: list[EventDetection], obj: str) -> list[Hit]:
        """All per-event conditions in one scan of the batch; one flag column each.

        If the combined query fails, each detection runs alone so that only the
        broken one is recorded as failing.
        """
        flags = ", ".join(
            f"coalesce(({d.where}), false) AS {_q(f'{_FLAG}{i}')}" for i, d in enumerate(detections)
        )
        any_flag = " OR ".join(f"coalesce(({d.where}), false)" for d in detections)
        sql = f"SELECT *, {flags} FROM {VIEW} WHERE {any_flag}"
        try:
            matched = self.con.sql(sql).to_arrow_table()
        except Exception:
            hits: list[Hit] = []
            for d in detections:
                try:
                    hits.extend(self._event(d, obj))
                except Exception as exc:  # a failing detection never stops the run
                    self._error(d, obj, exc)
            return hits
        if matched.num_rows == 0:
            return []
        hits = []
        for row in matched.to_pylist():
            which = [i for i in range(len(detections)) if row.pop(f"{_FLAG}{i}")]
            for i in which:
                d = detections[i]
                try:
                    if d.refine(row):
                        hits.append(make_hit(d.meta, row, obj, d.values(row)))
                except Exception as exc:  # a failing refinement is the detection's failure
                    self._error(d, obj, exc)
        return hits

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
        self.con.execute(t.stage(VIEW), [obj])
        added = self.con.sql(
            f"INSERT OR IGNORE INTO {t.values} SELECT DISTINCT key, w, v FROM {t.staged} "
            "RETURNING key, w, v"
        ).to_arrow_table()
        if added.num_rows:
            self.new_values[d.meta.id].append(added)
        self.con.execute(t.merge_cells(f"({t.staged_cells()})"))
        touched = self.con.sql(f"SELECT DISTINCT key, w FROM {t.staged}").to_arrow_table()
        if touched.num_rows:
            self.dirty[d.meta.id].append(touched)

    def take_window_changes(self) -> tuple[list[WindowDelta], list[Hit]]:
        """What the windows changed since the last call, and the hits of changed windows
        at or over their threshold.  Called once per object, so that the object's
        transaction holds both."""
        deltas: list[WindowDelta] = []
        hits: list[Hit] = []
        for det_id, t in self.tables.items():
            parts = self.dirty.pop(det_id, [])
            new = self.new_values.pop(det_id, [])
            if not parts:
                continue
            try:
                deltas.append(self._delta(t, parts, new))
                hits.extend(self._fired(t))
            except Exception as exc:  # a failing detection never stops the run
                self._error(t.detection, "window state", exc)
            finally:
                self.con.unregister("tg_dirty")
        return deltas, hits

    def _delta(self, t: WindowTables, parts: list[pa.Table], new: list[pa.Table]) -> WindowDelta:
        dirty = pa.concat_tables(parts)
        self.con.register("tg_dirty", dirty)
        cells = self.con.sql(
            f"SELECT c.* FROM {t.cells} c SEMI JOIN (SELECT DISTINCT key, w FROM tg_dirty) d "
            "USING (key, w) ORDER BY key, w"
        ).to_arrow_table()
        values = (
            pa.concat_tables(new)
            if new
            else self.con.sql(f"SELECT key, w, v FROM {t.values} LIMIT 0").to_arrow_table()
        )
        return WindowDelta(t.detection.meta.id, values, cells)

    def _fired(self, t: WindowTables) -> list[Hit]:
        d = t.detection
        rows = self.con.sql(
            f"SELECT c.key, c.w, c.first_ms, c.last_ms, c.obj, c.carry, n.n, n.sample "
            f"FROM (SELECT key, w, count(*) AS n, list(v ORDER BY v)[1:100] AS sample "
            f"FROM {t.values} SEMI JOIN (SELECT DISTINCT key, w FROM tg_dirty) d USING (key, w) "
            f"GROUP BY key, w HAVING count(*) >= {int(d.threshold)}) n "
            f"JOIN {t.cells} c USING (key, w) ORDER BY c.key, c.w"
        ).to_arrow_table()
        return [self._window_hit(d, r) for r in rows.to_pylist()]

    def _window_hit(self, d: WindowDetection, cell: dict[str, Any]) -> Hit:
        row: dict[str, Any] = dict(cell["carry"])
        first = datetime.fromtimestamp(cell["first_ms"] / 1000, tz=UTC)
        last = datetime.fromtimestamp(cell["last_ms"] / 1000, tz=UTC)
        row[TIME_COLUMN[d.meta.log_type]] = first
        hit = make_hit(d.meta, row, cell["obj"], {**d.extra, "distinct_count": cell["n"]})
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

    def snapshots(self) -> list[WindowDelta]:
        """The whole state of every windowed detection, for compaction."""
        out = []
        for det_id, t in self.tables.items():
            values = self.con.sql(f"SELECT key, w, v FROM {t.values} ORDER BY ALL").to_arrow_table()
            cells = self.con.sql(f"SELECT * FROM {t.cells} ORDER BY key, w").to_arrow_table()
            out.append(WindowDelta(det_id, values, cells, snapshot=True))
        return out

    def close(self) -> None:
        self.con.close()
